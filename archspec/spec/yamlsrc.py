"""YAML reading with source positions.

ruamel.yaml's round-trip loader keeps the line and column of every key and value.  The
document is converted to plain Python data (dict, list, str, int, float, bool, None) and a
:class:`SpanMap` from *paths* (tuples of keys and indices, e.g. ``("stages", "table", 2, 1)``)
to :class:`~archspec.diagnostics.Span`.

Hostile input is refused with a diagnostic, never a traceback: files over
``MAX_FILE_BYTES``, non-UTF-8 bytes, duplicate keys, tags (``!!python/...`` and any other),
alias expansion beyond ``MAX_NODES`` values, nesting deeper than ``MAX_DEPTH``.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archspec.diagnostics import ArchspecError, Diagnostic, Severity, SourceCache, Span

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 200_000
#: characters of text (string values and keys) after alias expansion: a spec file holds at most
#: MAX_FILE_BYTES, so only aliases can go past this; one long string aliased many times must not
#: expand to gigabytes
MAX_EXPANDED_CHARS = 2_000_000
MAX_DEPTH = 64
MAX_INT_DIGITS = 18

PathT = tuple  # tuple[str | int, ...]
_CORE_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("map", "seq", "str", "int", "float", "bool", "null"))


@dataclass
class SpanMap:
    """Spans of every value (and every mapping key) of one or more YAML documents."""

    values: dict[PathT, Span] = field(default_factory=dict)
    keys: dict[PathT, Span] = field(default_factory=dict)

    def value(self, path: PathT) -> Span | None:
        """The span of the value at ``path``, or of its closest ancestor."""
        path = tuple(path)
        while True:
            if path in self.values:
                return self.values[path]
            if not path:
                return None
            path = path[:-1]

    def key(self, path: PathT) -> Span | None:
        """The span of the key that names ``path`` (falls back to the value's span)."""
        path = tuple(path)
        return self.keys.get(path) or self.value(path)

    def rebase(self, old: PathT, new: PathT) -> SpanMap:
        """The spans under ``old`` moved under ``new``."""
        out = SpanMap()
        n = len(old)
        for src, dst in ((self.values, out.values), (self.keys, out.keys)):
            for path, span in src.items():
                if path[:n] == tuple(old):
                    dst[tuple(new) + path[n:]] = span
        return out

    def update(self, other: SpanMap) -> None:
        self.values.update(other.values)
        self.keys.update(other.keys)

    def drop(self, prefix: PathT) -> None:
        n = len(prefix)
        for src in (self.values, self.keys):
            for path in [p for p in src if p[:n] == tuple(prefix)]:
                del src[path]


def _too_big(display: str, size: str, span: Span) -> ArchspecError:
    message = f"{display} is {size} bytes; specs are limited to {MAX_FILE_BYTES:,}"
    return ArchspecError([_diag("AS100", "unreadable-file", message, span)])


def _diag(code: str, name: str, message: str, span: Span | None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, name, Severity.ERROR, message, span, hint)


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, what in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return what
    return "not a regular file"


def _not_regular(display: str, mode: int, span: Span) -> ArchspecError:
    what = _kind(mode)
    hint = (
        "pass a .yaml file, or a shell glob such as specs/*.yaml"
        if stat.S_ISDIR(mode)
        else "specs are read from regular files only; save the spec to a file first"
    )
    return ArchspecError([_diag("AS100", "unreadable-file", f"{display} is {what}, not a spec file", span, hint)])


def read_text(path: Path, display: str) -> str:
    """Read a spec file as UTF-8 text, refusing what is not a regular, sane-sized text file.

    The file is checked with ``os.stat`` before it is opened, so a device (``/dev/zero``), a
    named pipe or a directory is refused without being read (a FIFO is never opened: opening
    one blocks until a writer appears).  The open itself is non-blocking and re-checked with
    ``fstat`` (the path may change in between), and at most ``MAX_FILE_BYTES + 1`` bytes are read.
    """
    span = Span(display, 1, 1)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(display, info.st_mode, span)
        if info.st_size > MAX_FILE_BYTES:
            raise _too_big(display, f"{info.st_size:,}", span)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _not_regular(display, info.st_mode, span)
            chunks = []
            remaining = MAX_FILE_BYTES + 1
            while remaining > 0:
                chunk = os.read(fd, min(remaining, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            data = b"".join(chunks)
        finally:
            os.close(fd)
        if len(data) > MAX_FILE_BYTES:  # it grew after the stat
            raise _too_big(display, f"over {MAX_FILE_BYTES:,}", span)
    except ArchspecError:
        raise
    except FileNotFoundError:
        raise ArchspecError([_diag("AS100", "unreadable-file", f"no such file: {display}", span)]) from None
    except OSError as exc:
        raise ArchspecError(
            [_diag("AS100", "unreadable-file", f"cannot read {display}: {exc.strerror or exc}", span)]
        ) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ArchspecError(
            [
                _diag(
                    "AS100",
                    "unreadable-file",
                    f"{display} is not UTF-8 text (byte 0x{data[exc.start]:02x})",
                    Span(display, line, col),
                    "save the file as UTF-8",
                )
            ]
        ) from None
    if "\x00" in text:
        raise ArchspecError([_diag("AS100", "unreadable-file", f"{display} contains NUL bytes", span)])
    return text


def parse_yaml(text: str, display: str, sources: SourceCache | None = None) -> tuple[Any, SpanMap]:
    """Parse YAML text into plain data and spans.  Raises :class:`ArchspecError`."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    if sources is not None:
        sources.add(display, text)
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    yaml.Composer = _bounded_composer(display)
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = Span(display, mark.line + 1, mark.column + 1) if mark else Span(display, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        hint = None
        if "duplicate key" in str(problem) or "found duplicate key" in str(exc):
            problem = "duplicate key" + (
                f": {str(exc).split('key', 1)[1].split(chr(10))[0].strip()}" if "key" in str(exc) else ""
            )
            hint = "each key may appear once per mapping"
        elif "could not determine a constructor" in str(problem) or "tag" in str(problem):
            hint = "tags such as !!python/object are not allowed: specs are plain data"
        raise ArchspecError([_diag("AS109", "yaml-syntax", f"invalid YAML: {problem}", span, hint)]) from None
    except (YAMLError, RecursionError, ValueError, TypeError) as exc:
        msg = str(exc).split("\n")[0] or type(exc).__name__
        if isinstance(exc, ValueError) and "integer string conversion" in msg:
            import re

            match = re.search(rf"\d{{{MAX_INT_DIGITS + 1},}}", text)
            line = text.count("\n", 0, match.start()) + 1 if match else 1
            col = match.start() - text.rfind("\n", 0, match.start()) if match else 1
            raise ArchspecError(
                [
                    _diag(
                        "AS101",
                        "schema-error",
                        "integer literal with thousands of digits is out of range",
                        Span(display, line, col),
                    )
                ]
            ) from None
        if isinstance(exc, RecursionError):
            msg = "the document is nested too deeply"
        raise ArchspecError([_diag("AS109", "yaml-syntax", f"invalid YAML: {msg}", Span(display, 1, 1))]) from None
    spans = SpanMap()
    counter = [0, 0]  # values, characters of text
    data = _convert(doc, (), spans, display, counter, 0, (0, 0))
    return data, spans


def _span(display: str, pos: tuple[int, int] | None) -> Span:
    line, col = pos if pos else (0, 0)
    return Span(display, line + 1, col + 1)


def _bounded_composer(display: str):
    """ruamel's composer, counting what each alias expands to as it is composed.

    An alias costs nothing to parse, but converting the document copies the anchored value
    once per alias.  Counting here refuses a bomb (one long string aliased 150,000 times, or
    nested aliases) as soon as the total passes the limits, before the rest of the document
    is even parsed: the pure-Python parser takes tens of seconds over a megabyte of aliases.
    """
    from ruamel.yaml.composer import Composer
    from ruamel.yaml.events import AliasEvent
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    class BoundedComposer(Composer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._weights: dict[int, tuple[int, int]] = {}  # id(node) -> (values, characters)
            self._expanded = [0, 0]
            self._mark = None

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.parser.check_event(AliasEvent):
                self._mark = self.parser.peek_event().start_mark
            return super().compose_node(parent, index)

        def _weight(self, node: Any, visiting: set[int]) -> tuple[int, int]:
            key = id(node)
            if key in self._weights:
                return self._weights[key]
            if key in visiting:  # an alias inside its own anchor: expands without end
                return (MAX_NODES + 1, MAX_EXPANDED_CHARS + 1)
            visiting.add(key)
            values, chars = 1, 0
            if isinstance(node, ScalarNode):
                chars = len(node.value) if isinstance(node.value, str) else 0
            elif isinstance(node, SequenceNode):
                for child in node.value:
                    v, c = self._weight(child, visiting)
                    values, chars = values + v, chars + c
            elif isinstance(node, MappingNode):
                for k, child in node.value:
                    for part in (k, child):
                        v, c = self._weight(part, visiting)
                        values, chars = values + v, chars + c
            visiting.discard(key)
            weight = (min(values, MAX_NODES + 1), min(chars, MAX_EXPANDED_CHARS + 1))
            self._weights[key] = weight
            return weight

        def return_alias(self, node: Any) -> Any:
            values, chars = self._weight(node, set())
            self._expanded[0] += values
            self._expanded[1] += chars
            mark = self._mark
            span = Span(display, mark.line + 1, mark.column + 1) if mark is not None else Span(display, 1, 1)
            if self._expanded[0] > MAX_NODES:
                raise _expansion_error(f"more than {MAX_NODES:,} values", span)
            if self._expanded[1] > MAX_EXPANDED_CHARS:
                raise _expansion_error(f"more than {MAX_EXPANDED_CHARS:,} characters of text", span)
            return node

    return BoundedComposer


def _expansion_error(what: str, span: Span) -> ArchspecError:
    return ArchspecError(
        [
            _diag(
                "AS109",
                "yaml-syntax",
                f"the document expands to {what} (anchors and aliases are expanded)",
                span,
                "avoid aliasing long or nested values many times; write the spec out",
            )
        ]
    )


def _convert(
    node: Any, path: PathT, spans: SpanMap, display: str, counter: list[int], depth: int, pos: tuple[int, int]
) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar

    counter[0] += 1
    span = _span(display, pos)
    if isinstance(node, str):
        counter[1] += len(node)
        if counter[1] > MAX_EXPANDED_CHARS:
            raise _expansion_error(f"more than {MAX_EXPANDED_CHARS:,} characters of text", span)
    if counter[0] > MAX_NODES:
        raise _expansion_error(f"more than {MAX_NODES:,} values", span)
    if depth > MAX_DEPTH:
        raise ArchspecError(
            [_diag("AS109", "yaml-syntax", f"the document is nested deeper than {MAX_DEPTH} levels", span)]
        )
    spans.values.setdefault(path, span)
    tag = getattr(node, "tag", None)
    tag_value = getattr(tag, "value", None) if tag is not None else None
    if isinstance(node, TaggedScalar) or (tag_value and tag_value not in _CORE_TAGS):
        raise ArchspecError(
            [
                _diag(
                    "AS109",
                    "yaml-syntax",
                    f"YAML tag {tag_value or ''} is not allowed",
                    span,
                    "specs are plain data: remove the tag",
                )
            ]
        )
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key in node:
            if not isinstance(key, str):
                kpos = node.lc.key(key) if key in node else None
                raise ArchspecError(
                    [_diag("AS101", "schema-error", f"mapping keys must be strings, got {key!r}", _span(display, kpos))]
                )
            kpos = _safe(lambda key=key: node.lc.key(key))
            counter[1] += len(key)
            if counter[1] > MAX_EXPANDED_CHARS:
                raise _expansion_error(f"more than {MAX_EXPANDED_CHARS:,} characters of text", _span(display, kpos))
            vpos = _safe(lambda key=key: node.lc.value(key))
            spans.keys[path + (key,)] = Span(display, kpos[0] + 1, kpos[1] + 1, len(key)) if kpos else span
            out[key] = _convert(node[key], path + (key,), spans, display, counter, depth + 1, vpos or kpos or pos)
        return out
    if isinstance(node, CommentedSeq):
        return [
            _convert(item, path + (i,), spans, display, counter, depth + 1, _safe(lambda i=i: node.lc.item(i)) or pos)
            for i, item in enumerate(node)
        ]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        if len(str(abs(int(node)))) > MAX_INT_DIGITS:
            raise ArchspecError(
                [
                    _diag(
                        "AS101", "schema-error", f"integer with {len(str(abs(int(node))))} digits is out of range", span
                    )
                ]
            )
        spans.values[path] = Span(display, span.line, span.column, len(str(int(node))))
        return int(node)
    if isinstance(node, float):
        value = float(node)
        if math.isnan(value):
            raise ArchspecError([_diag("AS101", "schema-error", "NaN is not a valid value", span)])
        spans.values[path] = Span(display, span.line, span.column, len(str(node)))
        return value
    if isinstance(node, str):
        text = str(node)
        spans.values[path] = Span(display, span.line, span.column, max(1, len(text)))
        return text
    raise ArchspecError([_diag("AS101", "schema-error", f"unsupported YAML value of type {type(node).__name__}", span)])


def _safe(fn):
    try:
        return fn()
    except Exception:  # ruamel has no position for some synthesized nodes
        return None


def load_file(path: Path, display: str, sources: SourceCache | None = None) -> tuple[Any, SpanMap]:
    text = read_text(path, display)
    return parse_yaml(text, display, sources)
