"""Lint: semantic rules over the IR, each with a code, a name and documentation.

``lint_network`` returns the diagnostics of the loader and IR builder (``AS1xx``) and of
every registered rule, sorted by position.
"""

from __future__ import annotations

import os
import re

from archspec.diagnostics import ArchspecError, Diagnostic
from archspec.ir.graph import Network
from archspec.lint import (  # noqa: F401  (register)
    rules_names,
    rules_portability,
    rules_schema,
    rules_shapes,
    rules_topology,
)
from archspec.lint.registry import RULES, Rule

__all__ = ["RULES", "Rule", "lint_network", "lint_path"]

# List the rules by code, whatever order their modules were imported in.
_by_code = dict(sorted(RULES.items()))
RULES.clear()
RULES.update(_by_code)


NOQA = re.compile(r"#\s*noqa:\s*(AS\d{3}(?:\s*,\s*AS\d{3})*)", re.IGNORECASE)


def _suppressed(diag: Diagnostic, sources) -> bool:
    """True when the diagnostic's source line carries ``# noqa: <its code>`` (errors excepted)."""
    if diag.span is None or diag.is_error:
        return False
    line = sources.line(diag.span.file, diag.span.line)
    match = NOQA.search(line or "")
    return bool(match) and diag.code in {c.strip().upper() for c in match.group(1).split(",")}


def lint_network(network: Network) -> list[Diagnostic]:
    """Every finding on ``network``, sorted by position.  A warning or info finding whose
    source line ends with ``# noqa: ASxxx`` (its code) is suppressed; errors never are."""
    found: list[Diagnostic] = list(network.diagnostics)
    for rule in RULES.values():
        if rule.check is not None:
            found.extend(rule.check(network))
    unique: dict[tuple, Diagnostic] = {}
    sources = network.spec.sources
    for diag in found:
        if not _suppressed(diag, sources):
            unique.setdefault((diag.sort_key(), diag.code), diag)
    return sorted(unique.values(), key=Diagnostic.sort_key)


def lint_path(path: str | os.PathLike[str], input_size: tuple[int, int] | None = None) -> list[Diagnostic]:
    """Diagnostics for one spec file; load failures come back as diagnostics too."""
    from archspec.ir.build import build_ir
    from archspec.spec.load import load_spec

    try:
        loaded = load_spec(path)
    except ArchspecError as exc:
        return sorted(exc.diagnostics, key=Diagnostic.sort_key)
    return lint_network(build_ir(loaded, input_size))
