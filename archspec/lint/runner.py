"""Linting as the command line does it, for editors and other tools: configuration, rule
selection and severities, suppression comments and fixes.

>>> from archspec.lint.runner import lint_file, fix_file
>>> result = lint_file("specs/resnet50.yaml")          # the configuration found above the spec
>>> result = lint_file("x.yaml", text=buffer)           # an unsaved buffer named x.yaml
>>> result = fix_file("x.yaml")                         # result.text: the repaired source
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from archspec import catalog
from archspec.diagnostics import ArchspecError, Diagnostic, Severity, SourceCache
from archspec.lint import RULES, findings
from archspec.lint.config import LintConfig, Selector, config_for
from archspec.lint.fix import apply_fixes
from archspec.lint.noqa import Suppressor

__all__ = ["LintResult", "lint_file", "fix_file"]

MAX_FIX_ROUNDS = 10


@dataclass
class LintResult:
    """The findings of one spec, and the text they refer to."""

    file: str  # the spec as messages name it
    diagnostics: list[Diagnostic]
    sources: SourceCache
    text: str | None = None  # the spec's text after fixes (None when unreadable)
    original: str | None = None  # the spec's text as read
    fixed: list[Diagnostic] = field(default_factory=list)  # findings that fixes repaired

    @property
    def changed(self) -> bool:
        return self.text is not None and self.original is not None and self.text != self.original


def _read(path: Path, display: str) -> tuple[str | None, list[Diagnostic]]:
    from archspec.spec.yamlsrc import read_text

    try:
        return read_text(path, display), []
    except ArchspecError as exc:
        return None, exc.diagnostics


def lint_file(
    path: str | os.PathLike[str],
    config: LintConfig | None = None,
    text: str | None = None,
    input_size: tuple[int, int] | None = None,
) -> LintResult:
    """Lint one spec with ``config`` (default: the configuration found above the spec).
    ``text`` is the spec's content when it is not (or not yet) on disk; ``path`` then names it
    for messages, ``extends:``/``use:`` and ``per-file-ignores``."""
    path = Path(path) if text is not None else catalog.resolve(path)
    config = config if config is not None else config_for(path)
    if text is None:
        text, problems = _read(path, _display(path))
        if text is None:
            return LintResult(_display(path), problems, SourceCache())
    diagnostics, sources, display = _lint_text(path, text, config, input_size)
    return LintResult(display, diagnostics, sources, text, text)


def fix_file(
    path: str | os.PathLike[str],
    config: LintConfig | None = None,
    text: str | None = None,
    input_size: tuple[int, int] | None = None,
    unsafe: bool = False,
) -> LintResult:
    """Lint one spec and apply the fixes of its findings (safe ones; unsafe ones too with
    ``unsafe``) to its text, again until none applies.  Writes nothing: ``result.text`` is the
    repaired source, ``result.fixed`` the findings it repaired, ``result.diagnostics`` what remains."""
    path = Path(path) if text is not None else catalog.resolve(path)
    config = config if config is not None else config_for(path)
    if text is None:
        text, problems = _read(path, _display(path))
        if text is None:
            return LintResult(_display(path), problems, SourceCache())
    original = current = text
    repaired: list[Diagnostic] = []
    for _ in range(MAX_FIX_ROUNDS):
        diagnostics, sources, display = _lint_text(path, current, config, input_size)
        fixes = [
            d
            for d in diagnostics
            if d.fix is not None and (d.fix.safe or unsafe) and all(e.span.file == display for e in d.fix.edits)
        ]
        new, applied = apply_fixes(current, [d.fix for d in fixes])
        if not applied:
            break
        repaired += [d for d in fixes if d.fix in applied]
        current = new
    else:
        diagnostics, sources, display = _lint_text(path, current, config, input_size)
    return LintResult(display, diagnostics, sources, current, original, repaired)


def _display(path: Path) -> str:
    from archspec.spec.load import display_path

    return display_path(path.resolve()) if path.exists() else str(path)


def _lint_text(
    path: Path, text: str, config: LintConfig, input_size: tuple[int, int] | None
) -> tuple[list[Diagnostic], SourceCache, str]:
    from archspec.ir.build import build_ir
    from archspec.spec.load import load_spec

    selector = config.selector(path)
    try:
        loaded = load_spec(path, text=text)
    except ArchspecError as exc:
        sources = SourceCache()
        display = _display(path)
        sources.add(display, text)
        found = exc.diagnostics
    else:
        sources, display = loaded.sources, loaded.display
        found = findings(build_ir(loaded, input_size or config.input_size))
    return select(found, selector, sources, display), sources, display


def select(
    diagnostics: list[Diagnostic], selector: Selector, sources: SourceCache, own_file: str | None
) -> list[Diagnostic]:
    """The findings ``selector`` reports, at its severities, less those suppression comments
    silence, plus AS900 for comments in ``own_file`` that silence nothing (if selected)."""
    out: list[Diagnostic] = []
    suppressor = Suppressor(sources)
    for diag in diagnostics:
        rule = RULES.get(diag.code)
        default = rule.severity if rule else diag.severity
        if not selector.enabled(diag.code, default):
            continue
        severity = selector.severity_of(diag.code, diag.severity)
        if severity is not diag.severity:
            diag = replace(diag, severity=severity)
        if not suppressor.suppressed(diag):
            out.append(diag)
    if own_file is not None and selector.enabled("AS900", Severity.WARNING):

        def enabled(code: str) -> bool:
            return selector.enabled(code, RULES[code].severity)

        for diag in suppressor.unused(own_file, enabled):
            out.append(replace(diag, severity=selector.severity_of("AS900", diag.severity)))
    return sorted(out, key=Diagnostic.sort_key)
