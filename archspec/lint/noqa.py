"""Suppression comments, as ruff reads them.

- ``# noqa: AS204, AS3`` at the end of a line silences those codes (or prefixes) on that line;
- a bare ``# noqa`` silences every warning and info finding on its line;
- ``# archspec: noqa`` on a line of its own silences the whole file, and
  ``# archspec: noqa: AS403`` only those codes in it.

Errors are never silenced.  A suppression comment that silences nothing is itself reported
(AS900 unused-noqa, like ruff's RUF100), with a fix that removes it or its unused codes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from archspec.diagnostics import Diagnostic, Edit, Fix, Severity, SourceCache, Span
from archspec.lint.registry import rule

_CODES = r"AS\d{0,3}(?:\s*,\s*AS\d{0,3})*"
LINE = re.compile(rf"(?:^|(?<=\s))#\s*noqa(?::\s*(?P<codes>{_CODES}))?(?![\w:])", re.IGNORECASE)
FILE = re.compile(rf"^\s*#\s*archspec:\s*noqa(?::\s*(?P<codes>{_CODES}))?\s*$", re.IGNORECASE)


@dataclass
class Directive:
    span: Span  # the comment itself
    codes: tuple[str, ...] | None  # None: every code
    file_level: bool
    used: set[str] = field(default_factory=set)

    def covers(self, code: str) -> str | None:
        """The selector in this comment that matches ``code`` (``"*"`` for a bare noqa)."""
        if self.codes is None:
            return "*"
        return next((c for c in self.codes if code.startswith(c)), None)


def directives(file: str, lines: list[str]) -> list[Directive]:
    out: list[Directive] = []
    for number, text in enumerate(lines, start=1):
        if "noqa" not in text and "NOQA" not in text.upper():
            continue
        match = FILE.match(text)
        if match:
            start = text.index("#")
            out.append(Directive(Span(file, number, start + 1, len(text.rstrip()) - start), _codes(match), True))
            continue
        match = LINE.search(text)
        if match:
            out.append(
                Directive(Span(file, number, match.start() + 1, match.end() - match.start()), _codes(match), False)
            )
    return out


def _codes(match: re.Match) -> tuple[str, ...] | None:
    codes = match.group("codes")
    return None if codes is None else tuple(c.strip().upper() for c in codes.split(","))


class Suppressor:
    """Applies the suppression comments of the files it is asked about (read once each)."""

    def __init__(self, sources: SourceCache) -> None:
        self.sources = sources
        self._by_file: dict[str, list[Directive]] = {}

    def of(self, file: str) -> list[Directive]:
        found = self._by_file.get(file)
        if found is None:
            found = directives(file, self.sources.lines(file))
            self._by_file[file] = found
        return found

    def suppressed(self, diag: Diagnostic) -> bool:
        if diag.span is None or diag.severity is Severity.ERROR:
            return False
        for d in self.of(diag.span.file):
            if d.file_level or d.span.line == diag.span.line:
                selector = d.covers(diag.code)
                if selector is not None:
                    d.used.add(selector)
                    return True
        return False

    def unused(self, file: str, enabled: Callable[[str], bool]) -> Iterable[Diagnostic]:
        """AS900 for each comment in ``file`` (or code in it) that silenced nothing.  Codes of
        rules not enabled here are left alone: the comment may serve another configuration."""
        from archspec.lint.registry import RULES

        rule = RULES["AS900"]
        for d in self.of(file):
            what = "file-level noqa" if d.file_level else "noqa comment"
            if d.codes is None:
                if "*" not in d.used:
                    yield rule.diagnostic(
                        f"unused {what}: it silences nothing", d.span, "remove it", fix=_remove(self, d)
                    )
                continue
            errors = [c for c in d.codes if c in RULES and RULES[c].severity is Severity.ERROR]
            unknown = [c for c in d.codes if not any(r.startswith(c) for r in RULES)]
            idle = [
                c
                for c in d.codes
                if c not in d.used and c not in errors and c not in unknown and any(enabled(r) for r in _matching(c))
            ]
            stale = errors + unknown + idle
            if not stale:
                continue
            keep = [c for c in d.codes if c not in stale]
            notes = []
            if errors:
                notes.append(
                    f"{', '.join(errors)} report{'s' if len(errors) == 1 else ''} errors, which cannot be silenced"
                )
            if unknown:
                notes.append(f"no rule matches {', '.join(unknown)}")
            fix = _remove(self, d) if not keep else _rewrite(d, keep)
            yield rule.diagnostic(
                f"unused {what}: {', '.join(stale)} silence{'s' if len(stale) == 1 else ''} nothing here",
                d.span,
                "remove it" if not keep else f"keep only {', '.join(keep)}",
                notes,
                fix,
            )


def _matching(prefix: str) -> list[str]:
    from archspec.lint.registry import RULES

    return [c for c in RULES if c.startswith(prefix)]


def _remove(sup: Suppressor, d: Directive) -> Fix:
    """Remove the comment and the blanks before it (the whole line for a file-level comment)."""
    line = sup.sources.lines(d.span.file)[d.span.line - 1]
    start = d.span.column - 1
    while start > 0 and line[start - 1] in " \t":
        start -= 1
    end = d.span.column - 1 + d.span.length
    if d.file_level or not line[:start].strip():
        # a line of its own: blank it (the line end stays, so other lines keep their numbers)
        start = 0
    span = Span(d.span.file, d.span.line, start + 1, end - start)
    return Fix.replace(span, "", line[start:end], message="remove the unused noqa comment")


def _rewrite(d: Directive, keep: list[str]) -> Fix:
    prefix = "# archspec: noqa: " if d.file_level else "# noqa: "
    return Fix(
        f"keep only {', '.join(keep)}",
        (_edit(d, prefix + ", ".join(keep)),),
    )


def _edit(d: Directive, replacement: str) -> Edit:
    return Edit(d.span, replacement)


@rule(
    "AS900",
    "unused-noqa",
    Severity.WARNING,
    "a suppression comment that silences nothing",
    reported_by="linter",
    fixable="safe: removes the comment, or the codes in it that silence nothing",
)
def unused_noqa() -> None:
    """
    What it does: reports a `# noqa` comment (bare or with codes) and a file-level
    `# archspec: noqa` that silence no finding, codes in them that silence nothing, codes
    that match no rule, and codes of rules that report errors (errors are never silenced).
    Codes of rules that are not selected are left alone. Like ruff's RUF100.

    Why is this bad: a stale suppression hides the next real finding on its line.

    Example:
        - {op: conv, name: conv1, filters: 64, kernel: 7}   # noqa: AS204

    Use instead:
        - {op: conv, name: conv1, filters: 64, kernel: 7}
    """
