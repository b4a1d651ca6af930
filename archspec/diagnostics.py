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
    "ArchspecError",
    "Diagnostic",
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


@dataclass
class Diagnostic:
    code: str
    name: str
    severity: Severity
    message: str
    span: Span | None = None
    hint: str | None = None
    notes: list[str] = field(default_factory=list)

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
        }


class ArchspecError(Exception):
    """Raised when a spec cannot be turned into an IR; carries the diagnostics that say why."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        first = diagnostics[0] if diagnostics else None
        super().__init__(f"{first.span}: {first.code} {first.message}" if first else "spec error")


#: the largest file a diagnostic's source snippet is read from (specs are limited to 1,000,000 bytes)
SNIPPET_MAX_BYTES = 1_000_000


class SourceCache:
    """Source texts by file name, for rendering snippets (filled by the loader)."""

    def __init__(self) -> None:
        self._texts: dict[str, list[str]] = {}

    def add(self, file: str, text: str) -> None:
        self._texts[file] = text.splitlines()

    def merge(self, other: SourceCache) -> None:
        for file, lines in other._texts.items():
            self._texts.setdefault(file, lines)

    def line(self, file: str, line: int) -> str | None:
        lines = self._texts.get(file)
        if lines is None:
            try:
                # only a regular, spec-sized file: never a device, a FIFO (opening one blocks) or a directory
                info = os.stat(file)
                if not stat.S_ISREG(info.st_mode) or info.st_size > SNIPPET_MAX_BYTES:
                    return None
                lines = Path(file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                return None
            self._texts[file] = lines
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
