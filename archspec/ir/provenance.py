"""Where a value computed inside a shared definition came from.

A block definition (often the shipped library's) evaluates its layers' attributes from the
block's parameters and ``let:`` values.  When such a value is wrong, the line to fix is the
user's: the stage-table cell, the override or the argument that supplied the parameter.
:func:`blame` finds it and writes the chain as notes: the attribute, the ``let:`` values it
went through with their evaluated values, and the parameters they were computed from.
"""

from __future__ import annotations

import re
from typing import Any

from archspec.ir.graph import BlockInstance

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return list(dict.fromkeys(NAME.findall(value)))
    if isinstance(value, list):
        return list(dict.fromkeys(n for v in value for n in _names(v)))
    return []


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def reached_names(raw: Any, let: dict[str, Any]) -> list[str]:
    """Every name the expression ``raw`` reads, directly or through the definition's ``let``
    values, in the order they are met (breadth first)."""
    out: list[str] = []
    frontier = _names(raw)
    while frontier:
        name = frontier.pop(0)
        if name in out:
            continue
        out.append(name)
        if name in let:
            frontier.extend(_names(let[name]))
    return out


def blame(
    block: BlockInstance | None, let: dict[str, Any], attr: str, raw: Any, value: Any = None
) -> tuple[tuple, list[str]] | None:
    """(path of the user's text, notes) for attribute ``attr`` written ``raw`` in a definition
    of ``block``'s type, when one of the parameters it depends on was given by the user;
    None when the value depends on no argument the user wrote (the definition is at fault)."""
    if block is None or not isinstance(raw, (str, list)):
        return None
    env = block.env
    reached = reached_names(raw, let)
    lets = [name for name in reached if name in let]
    params = [name for name in reached if name not in let and name in block.args]
    supplied = [p for p in params if p in block.arg_paths]
    if not supplied:
        return None
    shown = f" = {_show(value)}" if value is not None else ""
    notes = [f"{attr}: {raw if isinstance(raw, str) else _show(raw)}{shown} in block {block.id} ({block.block_type})"]
    for name in lets:
        if name in env:
            notes.append(f"{name} = {let[name]} = {_show(env[name])}")
    if lets or _names(raw) != params:
        notes.append("with " + ", ".join(f"{p}={_show(block.args[p])}" for p in params))
    return block.arg_paths[supplied[0]], notes
