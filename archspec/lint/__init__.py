"""Lint: semantic rules over the IR, each with a code, a name and documentation.

``lint_network`` returns the diagnostics of the loader and IR builder (``AS1xx``) and of
every registered rule, sorted by position.
"""

from __future__ import annotations

import os

from archspec.diagnostics import ArchspecError, Diagnostic
from archspec.ir.graph import Network
from archspec.lint import (  # noqa: F401  (register)
    rules_design,
    rules_portability,
    rules_schema,
    rules_shapes,
    rules_topology,
    rules_widths,
)
from archspec.lint.aggregate import merge_instances
from archspec.lint.noqa import Suppressor
from archspec.lint.registry import RULES, Rule

__all__ = ["RULES", "Rule", "findings", "lint_network", "lint_path"]

# List the rules by code, whatever order their modules were imported in.
_by_code = dict(sorted(RULES.items()))
RULES.clear()
RULES.update(_by_code)


def findings(network: Network) -> list[Diagnostic]:
    """Every finding on ``network`` (the builder's and every rule's), unsuppressed, sorted."""
    found: list[Diagnostic] = list(network.diagnostics)
    for rule in RULES.values():
        if rule.check is not None:
            found.extend(rule.check(network))
    found = merge_instances(network, found)
    unique: dict[tuple, Diagnostic] = {}
    for diag in found:
        unique.setdefault((diag.sort_key(), diag.code), diag)
    return sorted(unique.values(), key=Diagnostic.sort_key)


def lint_network(network: Network) -> list[Diagnostic]:
    """Every finding on ``network``, sorted by position, less those a suppression comment
    silences (``# noqa``, ``# noqa: ASxxx``, ``# archspec: noqa``); errors never are.  No
    configuration applies: :func:`archspec.lint.runner.lint_file` reads it."""
    suppressor = Suppressor(network.spec.sources)
    return [d for d in findings(network) if not suppressor.suppressed(d)]


def lint_path(path: str | os.PathLike[str], input_size: tuple[int, int] | None = None) -> list[Diagnostic]:
    """Diagnostics for one spec file; load failures come back as diagnostics too."""
    from archspec.ir.build import build_ir
    from archspec.spec.load import load_spec

    try:
        loaded = load_spec(path)
    except ArchspecError as exc:
        return sorted(exc.diagnostics, key=Diagnostic.sort_key)
    return lint_network(build_ir(loaded, input_size))
