"""``--set KEY=VALUE``: changing a spec without editing it.

An override names a value by its dotted path in the spec (``vars.num_classes``,
``input.size``, ``stages.table``, ``head.1.units``: list items by index) and gives a YAML
value (``10``, ``[160, 160]``, ``"[[2, 64, 1], [2, 128, 2]]"``).  Overrides apply to the
spec as written, after ``extends:`` is resolved, in the order given.  Each override is a small
source of its own (``--set[1]``, ``--set[2]``...), so a value it sets that does not validate is
reported at the override, with the override's text under the caret, like any spec text.

The API takes the same overrides as strings or as a mapping, and keyword arguments of
``archspec.build_model(..., num_classes=10)`` become ``vars.num_classes=10``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from archspec.diagnostics import VIRTUAL_SOURCES, ArchspecError, Diagnostic, Severity, SourceCache, Span
from archspec.spec.yamlsrc import SpanMap, parse_yaml

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$|^[0-9]+$")

#: overrides in force for specs loaded without explicit ones (set by the CLI's ``--set``)
_ACTIVE: ContextVar[tuple[str, ...]] = ContextVar("archspec_overrides", default=())


@dataclass(frozen=True)
class Override:
    """One parsed ``KEY=VALUE``: the path, the value, and where each sits in its own text."""

    display: str
    text: str
    path: tuple[str | int, ...]
    value: Any
    spans: SpanMap  # the value's spans, already under ``path``


def _error(message: str, span: Span, hint: str | None = None) -> ArchspecError:
    return ArchspecError([Diagnostic("AS119", "bad-override", Severity.ERROR, message, span, hint)])


def parse(text: str, index: int, sources: SourceCache) -> Override:
    """Parse the ``index``-th (1-based) override ``text``."""
    display = f"--set[{index}]"
    sources.add(display, text)
    VIRTUAL_SOURCES[display] = [text]
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise _error(
            f"override {text!r} is not KEY=VALUE",
            Span(display, 1, 1, max(1, len(text))),
            "for example: --set vars.num_classes=10",
        )
    parts = key.strip().split(".")
    column = 1
    path: list[str | int] = []
    for part in parts:
        if not _KEY.match(part):
            raise _error(
                f"override key {key.strip()!r}: {part!r} is not a key or a list index",
                Span(display, 1, column, max(1, len(part))),
                "keys are dotted names such as vars.num_classes or head.1.units",
            )
        path.append(int(part) if part.isdigit() else part)
        column += len(part) + 1
    offset = len(key) + 1  # the value's first column is offset + 1
    value_spans = SpanMap()
    if raw.strip():
        scratch = SourceCache()
        data, spans = parse_yaml(raw, display, scratch)
        for table, out in ((spans.values, value_spans.values), (spans.keys, value_spans.keys)):
            for p, s in table.items():
                shift = offset if s.line == 1 else 0
                out[tuple(path) + p] = Span(display, s.line, s.column + shift, s.length)
    else:
        data = None
    value_spans.values[tuple(path)] = Span(display, 1, offset + 1, max(1, len(raw)))
    last = key.strip().rsplit(".", 1)[-1]
    value_spans.keys[tuple(path)] = Span(display, 1, len(key.rstrip()) - len(last) + 1, max(1, len(last)))
    return Override(display, text, tuple(path), data, value_spans)


def apply(data: dict, spans: SpanMap, overrides: Iterable[str], sources: SourceCache) -> list[Override]:
    """Apply ``overrides`` to the merged spec ``data`` in place, moving their spans in."""
    applied = []
    for index, text in enumerate(overrides, 1):
        override = parse(str(text), index, sources)
        node: Any = data
        for depth, part in enumerate(override.path[:-1]):
            here = override.path[: depth + 1]
            if isinstance(node, dict):
                if not isinstance(node.get(part), (dict, list)):
                    if isinstance(part, int):
                        raise _error(
                            f"override {override.text!r}: there is no list to index with {part}",
                            override.spans.keys[override.path],
                        )
                    node[part] = {}
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                raise _error(
                    f"override {override.text!r}: {'.'.join(map(str, here))} is not in the spec",
                    override.spans.keys[override.path],
                    "list items are counted from 0",
                )
        last = override.path[-1]
        if isinstance(node, dict) and not isinstance(last, int):
            node[last] = override.value
        elif isinstance(node, list) and isinstance(last, int) and 0 <= last < len(node):
            node[last] = override.value
        else:
            raise _error(
                f"override {override.text!r}: {'.'.join(map(str, override.path))} is not in the spec",
                override.spans.keys[override.path],
                "list items are counted from 0",
            )
        spans.drop(override.path)
        spans.update(override.spans)
        applied.append(override)
    return applied


def normalise(overrides: Iterable[str] | Mapping[str, Any] | None) -> tuple[str, ...]:
    """Overrides as ``KEY=VALUE`` strings, from strings or a mapping of path -> value."""
    if overrides is None:
        return ()
    if isinstance(overrides, Mapping):
        import json

        return tuple(f"{key}={json.dumps(value)}" for key, value in overrides.items())
    if isinstance(overrides, str):
        return (overrides,)
    return tuple(str(o) for o in overrides)


def active() -> tuple[str, ...]:
    """The overrides in force (``--set`` on the command line, or :func:`using`)."""
    return _ACTIVE.get()


@contextlib.contextmanager
def using(overrides: Iterable[str] | Mapping[str, Any] | None) -> Iterator[None]:
    """Load every spec inside this block with ``overrides`` applied."""
    token = _ACTIVE.set(active() + normalise(overrides))
    try:
        yield
    finally:
        _ACTIVE.reset(token)
