"""One finding per cause.

A mistake in a block definition, or in a stage-table row that sets a whole stage, shows up
in every block instance it reaches.  The findings of one rule at one source position whose
messages differ only by the block instances they name are merged into one, whose note says
how many instances it affects and names a few.
"""

from __future__ import annotations

import re
from dataclasses import replace

from archspec.diagnostics import Diagnostic
from archspec.ir.graph import Network

SHOWN = 3


def _instance_pattern(network: Network) -> re.Pattern | None:
    names = sorted({re.escape(stage.torch_name) for stage in network.stages}, key=len, reverse=True)
    if not names:
        return None
    return re.compile(r"(?<![\w.])(?:" + "|".join(names) + r")\.\d+(?![\d])")


def merge_instances(network: Network, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """``diagnostics`` with the ones that differ only by block instance merged (first kept)."""
    pattern = _instance_pattern(network)
    if pattern is None:
        return diagnostics
    groups: dict[tuple, list[tuple[Diagnostic, list[str]]]] = {}
    for diag in diagnostics:
        found = pattern.findall(diag.message)
        key = (
            diag.code,
            diag.severity,
            diag.span,
            pattern.sub("\0", diag.message),
            diag.hint and pattern.sub("\0", diag.hint),
        )
        groups.setdefault(key, []).append((diag, found))
    out = []
    for members in groups.values():
        first, _ = members[0]
        if len(members) == 1:
            out.append(first)
            continue
        instances = list(dict.fromkeys(name for _, found in members for name in found[:1]))
        if len(instances) <= 1:
            out.append(first)
            continue
        shown = ", ".join(instances[:SHOWN]) + (f" and {len(instances) - SHOWN} more" if len(instances) > SHOWN else "")
        notes = [*first.notes, f"the same in {len(instances)} block instances: {shown}"]
        out.append(replace(first, notes=notes))
    return out
