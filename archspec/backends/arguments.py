"""Which spec ``vars`` the generated models take as keyword arguments.

Both backends give the generated model the same keyword arguments, with the spec's values as
defaults (``Resnet50(num_classes=1000)``, ``resnet50(num_classes=1000)``).  A variable
qualifies when changing it cannot change any other layer's construction, so that the PyTorch
constructor (which states every layer's input channels) stays right for any value:

- every use of it is an attribute of a stem or head layer (not a stage table, a block, a
  name pattern or another variable), and
- each such attribute is a real number (an eps, a momentum, a slope: never a shape), or the
  ``units``/``filters`` of the network's last layer with parameters (``num_classes`` on the
  classifier: the layers after it have no parameters, so none states a channel count).

Other variables are fixed when the code is generated (``--set vars.NAME=...`` changes them).
"""

from __future__ import annotations

import ast
import re
from typing import Any

from archspec.backends.torch_lowering import spec_vars
from archspec.ir.graph import Network
from archspec.spec import expr as E

_NOT_ATTRIBUTES = frozenset({"op", "name", "keras", "inputs", "when", "in_channels"})
_PATTERN_NAME = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)")


def _names(text: str) -> set[str]:
    if "{" in text:
        return set(_PATTERN_NAME.findall(text))
    try:
        tree = E.parse(text).tree
    except E.ExprError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _walk(value: Any, path: tuple) -> list[tuple[tuple, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _walk(v, (*path, k))]
    if isinstance(value, (list, tuple)):
        return [item for i, v in enumerate(value) for item in _walk(v, (*path, i))]
    return []


def model_arguments(network: Network) -> dict[str, Any]:
    """Variable name -> its value, for the variables the generated models take (spec order)."""
    loaded = network.spec
    spec = loaded.spec
    if not spec.vars:
        return {}
    values = spec_vars(spec.vars)
    data = spec.model_dump(
        by_alias=True, mode="json", exclude={"vars", "doc", "peer", "name", "extends"}, warnings=False
    )
    uses: dict[str, list[tuple]] = {}
    for path, text in _walk(data, ()):
        for name in _names(text):
            uses.setdefault(name, []).append(path)
    # a variable used by another variable or inside a used block type is fixed
    fixed: set[str] = set()
    for raw in spec.vars.values():
        for _, text in _walk(raw, ()):
            fixed |= _names(text)
    used_types = {b.block_type for b in network.blocks}
    for type_name in used_types:
        resolved = loaded.block(type_name)
        if resolved is None:
            continue
        definition = resolved.definition.model_dump(by_alias=True, mode="json", exclude={"doc"}, warnings=False)
        for _, text in _walk(definition, ()):
            fixed |= _names(text)
    nodes = {n.spec_path: n for n in network.ops() if n.part in ("stem", "head")}
    ordered = list(network.ops())
    out: dict[str, Any] = {}
    for key in spec.vars:
        if key in fixed or key not in values or not uses.get(key):
            continue
        if all(_free_use(path, nodes, ordered) for path in uses[key]):
            out[key] = values[key]
    return out


def _free_use(path: tuple, nodes: dict[tuple, Any], ordered: list) -> bool:
    if len(path) != 3 or path[0] not in ("stem", "head") or not isinstance(path[1], int):
        return False
    attribute = path[2]
    if attribute in _NOT_ATTRIBUTES:
        return False
    node = nodes.get(path[:2])
    if node is None or node.attrs is None:
        return False
    value = getattr(node.attrs, str(attribute), None)
    if isinstance(value, float):
        return True
    if attribute not in ("units", "filters") or not node.params:
        return False
    after = ordered[ordered.index(node) + 1 :]
    return all(n.params == 0 for n in after)  # a layer without parameters states no channel count
