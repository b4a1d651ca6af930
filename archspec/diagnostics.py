"""Source spans, diagnostics and their renderers.

Every finding archspec reports, from a YAML syntax error to a portability warning, is a
:class:`Diagnostic` carrying a :class:`Span` (file, 1-based line and column).  The text
renderer prints it the way rustc does: a header with severity and code, the location, the
source line with a caret under the offending token, and a hint.
"""

from __future__ import annotations

import enum
import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Applicability",
    "ArchspecError",
    "Diagnostic",
    "Edit",
    "Fix",
    "Severity",
    "Span",
    "SourceCache",
    "render_json",
    "render_text",
    "diagnostics_to_dicts",
]


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 2, "warning": 1, "info": 0}[self.value]


@dataclass(frozen=True, order=True)
class Span:
    """A position in a source file; ``line`` and ``column`` are 1-based."""

    file: str
    line: int
    column: int
    length: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Applicability(str, enum.Enum):
    """Whether ``archspec lint --fix`` applies a fix on its own (``safe``) or only with
    ``--unsafe-fixes`` (``unsafe``: it may change what the spec means beyond the evident intent)."""

    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Edit:
    """Replace the source text under ``span`` (``span.length`` characters from ``span.column``
    on ``span.line``) with ``replacement``.  ``original``, when given, is the text the edit
    expects to find there; a fix whose text no longer matches is not applied."""

    span: Span
    replacement: str
    original: str | None = None

    def to_dict(self) -> dict:
        return {
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
            "end_column": self.span.column + self.span.length,
            "original": self.original,
            "replacement": self.replacement,
        }


@dataclass(frozen=True)
class Fix:
    """A machine-applicable repair of one finding: text edits, a message for humans, and
    whether it is safe to apply without asking."""

    message: str
    edits: tuple[Edit, ...]
    applicability: Applicability = Applicability.SAFE

    @classmethod
    def replace(
        cls, span: Span, replacement: str, original: str | None = None, message: str | None = None, safe: bool = True
    ) -> Fix:
        """A fix with one edit: ``original`` (the text under ``span``) becomes ``replacement``."""
        what = f"replace {original!r} with {replacement!r}" if original is not None else f"write {replacement!r}"
        return cls(
            message or what,
            (Edit(span, replacement, original),),
            Applicability.SAFE if safe else Applicability.UNSAFE,
        )

    @property
    def safe(self) -> bool:
        return self.applicability is Applicability.SAFE

    def to_dict(self) -> dict:
        return {
            "message": self.message,
            "applicability": self.applicability.value,
            "edits": [e.to_dict() for e in self.edits],
        }


#: where the rules are documented; ``Diagnostic.url`` adds the anchor of the rule's heading
RULES_URL = "https://github.com/your-org/archspec/blob/main/docs/rules.md"


@dataclass
class Diagnostic:
    code: str
    name: str
    severity: Severity
    message: str
    span: Span | None = None
    hint: str | None = None
    notes: list[str] = field(default_factory=list)
    fix: Fix | None = None

    @property
    def url(self) -> str:
        """The rule's documentation: its section of docs/rules.md."""
        return f"{RULES_URL}#{self.code.lower()}-{self.name}"

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple:
        span = self.span or Span("", 0, 0)
        return (span.file, span.line, span.column, self.code, self.message)

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.span.file if self.span else None,
            "line": self.span.line if self.span else None,
            "column": self.span.column if self.span else None,
            "hint": self.hint,
            "url": self.url,
            "fix": self.fix.to_dict() if self.fix else None,
        }


class ArchspecError(Exception):
    """Raised when a spec cannot be turned into an IR; carries the diagnostics that say why."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        first = diagnostics[0] if diagnostics else None
        super().__init__(f"{first.span}: {first.code} {first.message}" if first else "spec error")


#: the largest file a diagnostic's source snippet is read from (specs are limited to 1,000,000 bytes)
SNIPPET_MAX_BYTES = 1_000_000

#: texts that are not files but are quoted in diagnostics like files (``--set[1]``: a command
#: line override), by the name they are reported under
VIRTUAL_SOURCES: dict[str, list[str]] = {}


class SourceCache:
    """Source texts by file name, for rendering snippets (filled by the loader)."""

    def __init__(self) -> None:
        self._texts: dict[str, list[str]] = {}

    def add(self, file: str, text: str) -> None:
        self._texts[file] = text.splitlines()

    def merge(self, other: SourceCache) -> None:
        for file, lines in other._texts.items():
            self._texts.setdefault(file, lines)

    def lines(self, file: str) -> list[str]:
        """Every line of ``file`` (read from disk the first time if not added); [] if unreadable."""
        lines = self._texts.get(file)
        if lines is None and file in VIRTUAL_SOURCES:
            lines = VIRTUAL_SOURCES[file]
        if lines is None:
            try:
                # only a regular, spec-sized file: never a device, a FIFO (opening one blocks) or a directory
                info = os.stat(file)
                if stat.S_ISREG(info.st_mode) and info.st_size <= SNIPPET_MAX_BYTES:
                    lines = Path(file).read_text(encoding="utf-8").splitlines()
                else:
                    lines = []
            except (OSError, UnicodeDecodeError):
                lines = []
            self._texts[file] = lines
        return lines

    def line(self, file: str, line: int) -> str | None:
        lines = self.lines(file)
        if 1 <= line <= len(lines):
            return lines[line - 1]
        return None


def _printable(text: str) -> str:
    """Make a source line safe to echo to a terminal (no control characters)."""
    return "".join(ch if ch.isprintable() or ch == "\t" else "\ufffd" for ch in text)


SNIPPET_WIDTH = 160


def _window(text: str, column: int) -> tuple[str, int]:
    """At most about ``SNIPPET_WIDTH`` characters of a source line around ``column`` (1-based),
    elided with "..." (a minified spec can hold a 400 KB line); the column within the window."""
    if len(text) <= SNIPPET_WIDTH:
        return text, column
    start = max(0, min(column - 1 - SNIPPET_WIDTH // 3, len(text) - SNIPPET_WIDTH))
    window = text[start : start + SNIPPET_WIDTH]
    prefix = "..." if start else ""
    suffix = "..." if start + SNIPPET_WIDTH < len(text) else ""
    return prefix + window + suffix, column - start + len(prefix)


def render_one(diag: Diagnostic, sources: SourceCache | None = None, color: bool = False) -> str:
    sources = sources or SourceCache()
    sev = diag.severity.value
    if color:
        palette = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "info": "\x1b[1;36m"}
        head = f"{palette[sev]}{sev}[{diag.code}]\x1b[0m\x1b[1m: {diag.message}\x1b[0m"
    else:
        head = f"{sev}[{diag.code}]: {diag.message}"
    out = [head]
    if diag.span is not None:
        span = diag.span
        gutter = " " * len(str(span.line))
        out.append(f"{gutter}--> {span.file}:{span.line}:{span.column}")
        text = sources.line(span.file, span.line)
        if text is not None:
            text, column = _window(_printable(text.replace("\t", " ")), span.column)
            out.append(f"{gutter} |")
            out.append(f"{span.line} | {text}")
            caret = " " * (column - 1) + "^" * max(1, min(span.length, len(text) - column + 1))
            out.append(f"{gutter} | {caret} {diag.name}")
        for note in diag.notes:
            out.append(f"{gutter} = note: {note}")
        if diag.hint:
            out.append(f"{gutter} = hint: {diag.hint}")
    else:
        for note in diag.notes:
            out.append(f"  = note: {note}")
        if diag.hint:
            out.append(f"  = hint: {diag.hint}")
    return "\n".join(out)


def render_text(diagnostics: Iterable[Diagnostic], sources: SourceCache | None = None, color: bool = False) -> str:
    blocks = [render_one(d, sources, color) for d in diagnostics]
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def diagnostics_to_dicts(diagnostics: Iterable[Diagnostic]) -> list[dict]:
    return [d.to_dict() for d in diagnostics]


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps(diagnostics_to_dicts(diagnostics), indent=2) + "\n"
