"""The IR: a graph whose nodes are ops and whose edges are tensors.

:class:`Network` keeps its nodes in definition order with their successors, which is all
that lowering, lint and the figures need; :attr:`Network.graph` gives the same graph as a
networkx ``DiGraph`` (node attribute ``node``), built on first use, so that ``archspec lint``
and ``summary`` never pay for importing networkx.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archspec.diagnostics import Diagnostic, Span
from archspec.ir.ops import REGISTRY, Attrs, OpDef, PadBox, Shape, ShapeError, Tensor

if TYPE_CHECKING:
    import networkx as nx


@dataclass(slots=True)
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
    order: list[str] = field(default_factory=list)
    blocks: list[BlockInstance] = field(default_factory=list)
    stages: list[StageInfo] = field(default_factory=list)
    output: str = "input"
    complete: bool = False  # False when lowering stopped early on an error
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # the stages as planned from the spec, before lowering: per stage its index, module path
    # ("torch") and blocks, each with its type and arguments as written (value, spec path)
    plans: list[dict] = field(default_factory=list)
    _nodes: dict[str, Node] = field(default_factory=dict, repr=False, compare=False)
    _succ: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)
    _block_index: dict[str, BlockInstance] = field(default_factory=dict, repr=False, compare=False)
    _indexed_blocks: int = field(default=0, repr=False, compare=False)
    _graph: Any = field(default=None, repr=False, compare=False)

    # -- construction -------------------------------------------------------------------------
    def add_node(self, node: Node) -> None:
        """Add ``node`` after the others, with an edge from each of its inputs."""
        node_id = node.id
        self._nodes[node_id] = node
        succ = self._succ
        for src in node.inputs:
            out = succ.get(src)
            if out is None:
                succ[src] = [node_id]
            elif node_id not in out:
                out.append(node_id)
        self.order.append(node_id)
        self._graph = None

    @property
    def graph(self) -> nx.DiGraph:
        """The IR as a networkx ``DiGraph``: node ids, each with its :class:`Node` as the
        ``node`` attribute, and an edge per tensor (built on first use)."""
        if self._graph is None:
            import networkx as nx

            graph = nx.DiGraph()
            for node_id, node in self._nodes.items():
                graph.add_node(node_id, node=node)
                for src in node.inputs:
                    graph.add_edge(src, node_id)
            self._graph = graph
        return self._graph

    # -- access -------------------------------------------------------------------------------
    def node(self, node_id: str) -> Node:
        return self._nodes[node_id]

    def nodes(self) -> Iterator[Node]:
        """Nodes in topological (definition) order, the input first."""
        return map(self._nodes.__getitem__, self.order)

    def ops(self) -> Iterator[Node]:
        """Nodes that are ops (everything but the input)."""
        return iter([n for n in map(self._nodes.__getitem__, self.order) if n.op != "input"])

    def block(self, block_id: str) -> BlockInstance:
        if self._indexed_blocks != len(self.blocks):
            self._block_index.clear()
            for b in self.blocks:
                self._block_index.setdefault(b.id, b)  # the first of a repeated id, as a scan finds
            self._indexed_blocks = len(self.blocks)
        try:
            return self._block_index[block_id]
        except KeyError:
            raise KeyError(block_id) from None

    def successors(self, node_id: str) -> list[Node]:
        return [self._nodes[s] for s in self._succ.get(node_id, ())]

    def out_degree(self, node_id: str) -> int:
        """How many layers read this node's output."""
        return len(self._succ.get(node_id, ()))

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
