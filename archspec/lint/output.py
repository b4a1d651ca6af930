"""Lint reports: text (rustc-like), JSON, GitHub workflow annotations, SARIF 2.1.0, and the
per-rule statistics.  The command line writes what these return; so can any other tool.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from archspec.diagnostics import Diagnostic, Severity, SourceCache, render_json, render_text

__all__ = ["FORMATS", "render", "render_github", "render_statistics", "sarif_log", "summary_line", "use_color"]

FORMATS = ("text", "json", "github", "sarif")


def use_color(choice: str, stream=None, environ=None) -> bool:
    """``always``/``never``, or for ``auto``: ``FORCE_COLOR`` (non-empty) forces colour,
    ``NO_COLOR`` (non-empty) turns it off, otherwise colour when ``stream`` is a terminal."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    env = os.environ if environ is None else environ
    if env.get("FORCE_COLOR"):
        return True
    if env.get("NO_COLOR"):
        return False
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def summary_line(diagnostics: Sequence[Diagnostic], files: int, fixed: int = 0, fixable: int = 0) -> str:
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = sum(d.severity is Severity.WARNING for d in diagnostics)
    infos = sum(d.severity is Severity.INFO for d in diagnostics)
    line = f"{_plural(files, 'spec')} checked: {_plural(errors, 'error')}, {_plural(warnings, 'warning')}, {infos} info"
    if fixed:
        line += f" ({fixed} fixed)"
    if fixable:
        line += f"; {fixable} fixable with --fix"
    return line + "\n"


def render_github(diagnostics: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice`` per finding."""
    out = []
    for d in diagnostics:
        level = {"error": "error", "warning": "warning", "info": "notice"}[d.severity.value]
        loc = f" file={d.span.file},line={d.span.line},col={d.span.column}" if d.span else ""
        msg = d.message + (f" (hint: {d.hint})" if d.hint else "")
        msg = msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        out.append(f"::{level}{loc},title={d.code} {d.name}::{msg}\n")
    return "".join(out)


def render_statistics(diagnostics: Iterable[Diagnostic], fmt: str = "text") -> str:
    """One line per rule, most frequent first: count, code, name, ``[*]`` when a fix exists
    (``fmt="json"``: a list of ``code``, ``name``, ``count``, ``fixable``)."""
    diagnostics = list(diagnostics)
    counts = Counter(d.code for d in diagnostics)
    names = {d.code: d.name for d in diagnostics}
    fixable = {d.code for d in diagnostics if d.fix is not None}
    if fmt == "json":
        rows = [
            {"code": code, "name": names[code], "count": n, "fixable": code in fixable}
            for code, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ]
        return json.dumps(rows, indent=2) + "\n"
    if not counts:
        return ""
    width = len(str(max(counts.values())))
    lines = [
        f"{n:>{width}}  {code}  {'[*]' if code in fixable else '   '} {names[code]}"
        for code, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    return "\n".join(lines) + "\n"


def _region(span) -> dict:
    return {"startLine": span.line, "startColumn": span.column, "endColumn": span.column + max(1, span.length)}


def sarif_log(diagnostics: Iterable[Diagnostic]) -> dict:
    """A SARIF 2.1.0 log: the metadata of every registered rule (with its ``helpUri``), one
    result per finding, with its fix as ``fixes`` when one exists."""
    from archspec import __version__
    from archspec.diagnostics import RULES_URL
    from archspec.lint import RULES

    level = {"error": "error", "warning": "warning", "info": "note"}
    codes = list(RULES)
    rules = [
        {
            "id": r.code,
            "name": r.name,
            "shortDescription": {"text": r.summary},
            "fullDescription": {"text": r.doc},
            "help": {"text": r.doc},
            "helpUri": f"{RULES_URL}#{r.code.lower()}-{r.name}",
            "defaultConfiguration": {"level": level[r.severity.value]},
            "properties": {"fixable": bool(r.fixable)},
        }
        for r in RULES.values()
    ]
    results = []
    for d in diagnostics:
        result: dict = {
            "ruleId": d.code,
            "level": level[d.severity.value],
            "message": {"text": d.message + (f" (hint: {d.hint})" if d.hint else "")},
        }
        if d.code in codes:
            result["ruleIndex"] = codes.index(d.code)
        if d.span is not None:
            result["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": Path(d.span.file).as_posix()},
                        "region": _region(d.span),
                    }
                }
            ]
        if d.fix is not None:
            by_file: dict[str, list] = {}
            for edit in d.fix.edits:
                by_file.setdefault(Path(edit.span.file).as_posix(), []).append(
                    {
                        "deletedRegion": {
                            "startLine": edit.span.line,
                            "startColumn": edit.span.column,
                            "endColumn": edit.span.column + edit.span.length,
                        },
                        "insertedContent": {"text": edit.replacement},
                    }
                )
            result["fixes"] = [
                {
                    "description": {"text": d.fix.message},
                    "artifactChanges": [
                        {"artifactLocation": {"uri": uri}, "replacements": replacements}
                        for uri, replacements in by_file.items()
                    ],
                    "properties": {"applicability": d.fix.applicability.value},
                }
            ]
        results.append(result)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "archspec", "version": __version__, "rules": rules}},
                "results": results,
            }
        ],
    }


def render(
    fmt: str,
    diagnostics: Sequence[Diagnostic],
    sources: SourceCache | None = None,
    *,
    color: bool = False,
    files: int = 1,
    quiet: bool = False,
    fixed: int = 0,
    statistics: bool = False,
) -> str:
    """The report in ``fmt`` (text, json, github or sarif); ``statistics`` replaces the
    findings with a count per rule (as JSON with ``fmt="json"``, else text).  ``quiet``: the
    findings only, no summary line."""
    if statistics:
        return render_statistics(diagnostics, "json" if fmt == "json" else "text")
    if fmt == "json":
        return render_json(diagnostics)
    if fmt == "sarif":
        return json.dumps(sarif_log(diagnostics), indent=2) + "\n"
    if fmt == "github":
        return render_github(diagnostics)
    text = render_text(diagnostics, sources, color=color)
    if quiet:
        return text
    fixable = sum(d.fix is not None and d.fix.safe for d in diagnostics)
    return text + ("\n" if diagnostics else "") + summary_line(diagnostics, files, fixed, fixable)
