"""Shorter specs: an imported block type that the shipped library already has is replaced by
the library's name.

A replacement is accepted only when the whole network it gives is the same IR: every node's
name (module path for PyTorch, Keras name for Keras), op, attributes, inputs and shape.
"""

from __future__ import annotations

import copy
from typing import Any


def _fingerprint(text: str, framework: str) -> list[tuple] | None:
    from archspec.ir.build import build_ir
    from archspec.spec.load import load_spec

    try:
        network = build_ir(load_spec("imported.yaml", text=text))
    except Exception:  # noqa: BLE001 - a candidate that does not load is simply not a match
        return None
    if any(d.is_error for d in network.diagnostics) or not network.complete:
        return None
    key = (lambda n: n.torch_path) if framework == "torch" else (lambda n: n.keras_name)
    nodes = {n.id: n for n in network.nodes()}
    out = []
    for n in network.nodes():
        attrs = n.attrs.model_dump() if n.attrs is not None else None
        out.append((key(n), n.op, repr(attrs), tuple(key(nodes[i]) for i in n.inputs), n.shape))
    return out


def _replace(stages: Any, old: str, new: str) -> Any:
    if isinstance(stages, dict):
        return {k: (new if k == "block" and v == old else _replace(v, old, new)) for k, v in stages.items()}
    if isinstance(stages, list):
        return [_replace(v, old, new) for v in stages]
    return stages


def use_library(spec: dict[str, Any], framework: str, render) -> dict[str, Any]:
    """``spec`` with each block type the library reproduces exactly replaced by the library's."""
    from archspec.spec.load import _library_blocks

    base = _fingerprint(render(spec), framework)
    if base is None:
        return spec
    library = _library_blocks()
    for name in list(spec.get("blocks", {})):
        params = set(spec["blocks"][name].get("params", {}))
        for lib_name, (_, definition) in sorted(library.items()):
            required = {k for k, v in definition.params.items() if v is None}
            if not params <= set(definition.params) or not required <= params:
                continue
            trial = copy.deepcopy(spec)
            del trial["blocks"][name]
            trial["stages"] = _replace(trial["stages"], name, lib_name)
            if _fingerprint(render(trial), framework) == base:
                spec = trial
                break
    if not spec.get("blocks"):
        spec.pop("blocks", None)
    return spec
