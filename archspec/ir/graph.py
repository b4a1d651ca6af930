"""The IR: a networkx graph whose nodes are ops and whose edges are tensors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from archspec.diagnostics import Diagnostic, Span
from archspec.ir.ops import REGISTRY, Attrs, OpDef, PadBox, Shape, ShapeError, Tensor


@dataclass
class Node:
    """One op of the network.

    ``torch_path`` is the module path (so ``torch_path + '.weight'`` is a state-dict key),
    ``keras_name`` the Keras layer name.  ``span`` is where the layer is written (a block
    definition for block layers); ``site`` is where this *instance* comes from (the stage-table
    row or block entry), the same as ``span`` outside blocks.
    """

    id: str
    op: str
    attrs: Attrs | None
    inputs: list[str]
    torch_path: str
    keras_name: str
    part: str  # input | stem | body | shortcut | merge | post | head
    local_name: str
    named: bool
    span: Span | None
    site: Span | None
    spec_path: tuple = ()
    stage: int | None = None
    block: int | None = None
    block_id: str | None = None
    in_shapes: list[Shape | None] = field(default_factory=list)
    shape: Shape | None = None
    pads: PadBox | None = None
    params: int = 0
    macs: int = 0
    nonneg: bool = False
    error: ShapeError | None = None
    declared_in_channels: int | None = None

    @property
    def opdef(self) -> OpDef | None:
        return REGISTRY.get(self.op)

    def tensors(self) -> list[Tensor]:
        """State-dict entries of this op (PyTorch layout), or [] when its shape is unknown."""
        if self.opdef is None or self.attrs is None or any(s is None for s in self.in_shapes):
            return []
        return self.opdef.tensors(self.attrs, self.in_shapes)  # type: ignore[arg-type]


@dataclass
class BlockInstance:
    """One block: its type, its evaluated arguments, and where they were written."""

    id: str  # module path, e.g. layer1.0
    keras_name: str
    block_type: str
    stage: int
    index: int  # 1-based within the stage
    args: dict[str, Any]
    env: dict[str, Any]
    arg_paths: dict[str, tuple]
    site: Span | None
    site_path: tuple
    input: str
    output: str = ""
    in_shape: Shape | None = None
    out_shape: Shape | None = None
    nodes: list[str] = field(default_factory=list)
    shortcut_case: int | None = None  # index of the shortcut case used; None: identity
    declared_in_channels: int | None = None


@dataclass
class StageInfo:
    index: int  # 1-based
    torch_name: str
    keras_pattern: str | None
    block_ids: list[str]
    site: Span | None


@dataclass
class Network:
    name: str
    doc: str | None
    spec: Any  # archspec.spec.load.LoadedSpec
    input_shape: Shape
    graph: nx.DiGraph = field(default_factory=nx.DiGraph)
    order: list[str] = field(default_factory=list)
    blocks: list[BlockInstance] = field(default_factory=list)
    stages: list[StageInfo] = field(default_factory=list)
    output: str = "input"
    complete: bool = False  # False when lowering stopped early on an error
    diagnostics: list[Diagnostic] = field(default_factory=list)

    # -- access -------------------------------------------------------------------------------
    def node(self, node_id: str) -> Node:
        return self.graph.nodes[node_id]["node"]

    def nodes(self) -> Iterator[Node]:
        """Nodes in topological (definition) order, the input first."""
        for node_id in self.order:
            yield self.graph.nodes[node_id]["node"]

    def ops(self) -> Iterator[Node]:
        """Nodes that are ops (everything but the input)."""
        return (n for n in self.nodes() if n.op != "input")

    def block(self, block_id: str) -> BlockInstance:
        for b in self.blocks:
            if b.id == block_id:
                return b
        raise KeyError(block_id)

    def successors(self, node_id: str) -> list[Node]:
        return [self.node(s) for s in self.graph.successors(node_id)]

    # -- figures ------------------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        """True when every shape is known (no error anywhere)."""
        return not any(d.is_error for d in self.diagnostics) and all(n.shape is not None for n in self.nodes())

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes())

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes())

    @property
    def output_shape(self) -> Shape | None:
        return self.node(self.output).shape

    def state_dict_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every PyTorch state-dict key and its shape, as the generated module will have them."""
        out: dict[str, tuple[int, ...]] = {}
        for node in self.ops():
            for tensor in node.tensors():
                out[f"{node.torch_path}.{tensor.name}"] = tuple(tensor.shape)
        return out
