"""Which shortcut cases a block type's code keeps: one rule, used by the PyTorch backend (which
writes the cases as run-time branches) and by lint (AS308, which must refuse what that code
cannot write)."""

from __future__ import annotations

from collections.abc import Iterable

from archspec.spec import model as M


def always(when: object) -> bool:
    return when is None or when is True


def kept_cases(definition: M.BlockDef, taken: Iterable[int | None]) -> list[int]:
    """The indices of the shortcut cases kept, in order: those some block takes (``taken``: each
    block's case, None for the identity) and whose condition is not literally false, up to the
    first without a condition.  Cases no block takes are left out, which keeps the module paths
    of the cases in use (timm's two downsample layouts share their names)."""
    chosen = set(taken)
    kept = []
    for index, case in enumerate(definition.shortcut):
        if case.when is False or index not in chosen:
            continue
        kept.append(index)
        if always(case.when):
            break
    return kept


def chosen_at_run_time(definition: M.BlockDef, kept: list[int]) -> bool:
    """Whether the code chooses among the kept cases (and the identity) when the model runs."""
    return bool(kept) and not always(definition.shortcut[kept[0]].when)
