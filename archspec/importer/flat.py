"""The framework-neutral result of tracing: a flat graph of registry ops.

Every node is one op of :mod:`archspec.ir.ops` with exact attributes (``op`` is ``None``
for a layer that maps to no op: it carries ``what``, the original's description, for the
diagnostic).  ``path`` is the PyTorch module path or the Keras layer name of the layer that
produced the node, ``scope`` the module path of the module whose code created it (PyTorch) or
the block prefix (Keras), ``source`` the Python file and line where tracing saw it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FNode:
    id: str
    op: str | None
    attrs: dict[str, Any]
    inputs: list[str]
    path: str | None  # module path (torch) / layer name (keras); None for a function
    scope: str  # enclosing module path ("" at the top); Keras: the block prefix or ""
    what: str  # the original: "nn.Conv2d", "torch.flatten", "Conv2D"
    source: str | None = None  # "file.py:12"
    shape: tuple[int, ...] | None = None  # output shape without the batch (NCHW)
    weighted: bool = False  # holds weights (state-dict entries / Keras weights)
    calls: int = 1  # how many times the module at ``path`` is called


@dataclass
class FlatGraph:
    framework: str  # torch | keras
    name: str
    input_shape: tuple[int, int, int]  # C, H, W
    nodes: list[FNode] = field(default_factory=list)  # topological order
    output: str = ""
    problems: list[str] = field(default_factory=list)  # unmapped layers, as messages
    classes: dict[str, str] = field(default_factory=dict)  # module path -> class name (PyTorch)

    def by_id(self) -> dict[str, FNode]:
        return {n.id: n for n in self.nodes}

    def users(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {n.id: [] for n in self.nodes}
        out["input"] = []
        for n in self.nodes:
            for i in n.inputs:
                out.setdefault(i, []).append(n.id)
        return out
