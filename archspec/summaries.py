"""A network's summary, as torchinfo users read it: rows rolled up to a depth, totals, memory.

``summarize(network, depth=..., batch=..., dtype=...)`` returns a :class:`Summary`: the totals
(parameters, buffers, multiply-accumulates), a memory estimate for a batch in a dtype, and the
rows.  ``depth=1`` rolls every layer up into the stem, each stage and the head; ``depth=2`` into
the stem's and the head's layers and each block; deeper (or ``None``) lists every layer.  A
rolled-up row's parameters and mult-adds are the sums of its layers', so the rows of any depth
add up to the totals.  The per-layer rows are made as they are read, so a network of hundreds of
thousands of layers streams out.  ``archspec summary`` renders it; :func:`archspec.summary`
builds it from a spec.

Shapes in archspec's own output (summaries, graph labels, diagnostics) are written one way:
channels first, as the IR holds them, ``64x56x56`` (C x H x W); see :func:`format_shape`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

COLUMNS = ("op", "output_shape", "params", "macs", "keras_name")
DEFAULT_COLUMNS = ("op", "output_shape", "params", "macs")
_HEADERS = {
    "op": "Op",
    "output_shape": "Output shape",
    "params": "Params",
    "macs": "Mult-adds",
    "keras_name": "Keras name",
}
_RIGHT = {"output_shape", "params", "macs"}
DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}


def format_shape(shape: Sequence[int] | None) -> str:
    """archspec's one shape notation: channels first, ``64x56x56`` (C x H x W); ``?`` unknown."""
    return "x".join(str(d) for d in shape) if shape is not None else "?"


def _prod(shape: Sequence[int]) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


@dataclass
class Row:
    """One line of the table: a layer, or a block, stage, stem or head rolled up."""

    name: str
    op: str  # the op kind, or "stem" / "stage" / "block (<type>)" / "head"
    output_shape: list[int] | None
    params: int
    macs: int
    keras_name: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "keras_name": self.keras_name,
            "op": self.op,
            "output_shape": self.output_shape,
            "params": self.params,
            "macs": self.macs,
        }


class _Layers(list):
    """Every layer's row as a dict, made as it is read (a list to ``json``'s encoder)."""

    def __init__(self, network) -> None:
        super().__init__()
        self._network = network
        self._count = sum(1 for _ in network.ops())

    def __iter__(self):
        for node in self._network.ops():
            yield _layer_row(node).as_dict()

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0


def _layer_row(node) -> Row:
    shape = list(node.shape) if node.shape else None
    return Row(node.torch_path, node.op, shape, node.params, node.macs, node.keras_name)


@dataclass
class Summary:
    name: str
    spec: str
    digest: str
    input_shape: list[int]
    output_shape: list[int] | None
    params: int
    trainable_params: int
    buffers: int
    macs: int
    batch: int
    dtype: str
    memory_mb: dict[str, float]
    depth: int | None
    network: Any = field(repr=False, compare=False)

    def rows(self) -> Iterator[Row]:
        """The table's rows at this summary's depth (every layer when it is None or >= 3)."""
        yield from rows(self.network, self.depth)

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``archspec summary --format json``: the totals, ``layers`` (every
        layer, streamed) and, with a depth, ``rows`` (rolled up)."""
        out: dict[str, Any] = {
            "name": self.name,
            "spec": self.spec,
            "digest": self.digest,
            "input_shape": self.input_shape,
            "output_shape": self.output_shape,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "buffers": self.buffers,
            "macs": self.macs,
            "batch": self.batch,
            "dtype": self.dtype,
            "memory_mb": self.memory_mb,
        }
        if self.depth is not None:
            out["depth"] = self.depth
            out["rows"] = [r.as_dict() for r in self.rows()]
        out["layers"] = _Layers(self.network)
        return out

    def lines(self, columns: Sequence[str] = DEFAULT_COLUMNS) -> Iterator[str]:
        """The text table, line by line (each ending with a newline)."""
        unknown = [c for c in columns if c not in COLUMNS]
        if unknown:
            raise ValueError(f"unknown summary column {unknown[0]!r}; choose from {', '.join(COLUMNS)}")
        header = ("Layer (module path)", *(_HEADERS[c] for c in columns))

        def cells(row: Row) -> tuple[str, ...]:
            values = {
                "op": row.op,
                "output_shape": format_shape(row.output_shape),
                "params": f"{row.params:,}",
                "macs": f"{row.macs:,}",
                "keras_name": row.keras_name,
            }
            return (row.name, *(values[c] for c in columns))

        widths = [len(h) for h in header]
        for row in self.rows():  # first pass: the column widths (rows are made as read)
            widths = [max(w, len(c)) for w, c in zip(widths, cells(row))]
        right = [False] + [c in _RIGHT for c in columns]

        def line(parts: Sequence[str]) -> str:
            padded = [f"{p:>{w}}" if r else f"{p:<{w}}" for p, w, r in zip(parts, widths, right)]
            return "  ".join(padded).rstrip() + "\n"

        rule = "=" * (sum(widths) + 2 * (len(widths) - 1))
        depth = "" if self.depth is None else f", depth {self.depth}"
        yield f"{rule}\n"
        yield f"{self.name}  ({self.spec})  input {format_shape(self.input_shape)} (C x H x W){depth}\n"
        yield f"{rule}\n"
        yield line(header)
        yield "-" * len(rule) + "\n"
        for row in self.rows():
            yield line(cells(row))
        mem = self.memory_mb
        for text in (
            rule,
            f"Total params: {self.params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable buffers: {self.buffers:,}",
            f"Total mult-adds: {self.macs:,} ({self.macs / 1e9:.2f} G)",
            f"Output shape: {format_shape(self.output_shape)}",
            rule,
            f"Memory estimate for a batch of {self.batch} in {self.dtype}:",
            f"Input size (MB): {mem['input']:.2f}",
            f"Forward activations size (MB): {mem['forward_activations']:.2f}",
            f"Params and buffers size (MB): {mem['params']:.2f}",
            f"Estimated total size (MB): {mem['input'] + mem['forward_activations'] + mem['params']:.2f}",
            rule,
        ):
            yield text + "\n"

    def text(self, columns: Sequence[str] = DEFAULT_COLUMNS) -> str:
        return "".join(self.lines(columns))


def summarize(network, depth: int | None = None, batch: int = 1, dtype: str = "float32") -> Summary:
    """The summary of a lowered ``network`` (see the module's docstring)."""
    if depth is not None and depth < 1:
        raise ValueError("depth must be at least 1")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPE_BYTES)}")
    size = DTYPE_BYTES[dtype]
    trainable = buffers = activations = 0
    for node in network.ops():  # one pass: deep networks have hundreds of thousands of layers
        for t in node.tensors():
            if t.trainable:
                trainable += _prod(t.shape)
            else:
                buffers += _prod(t.shape)
        if node.shape:
            activations += _prod(node.shape)
    memory = {
        "input": round(_prod(network.input_shape) * batch * size / 1e6, 2),
        "forward_activations": round(activations * batch * size / 1e6, 2),
        "params": round((network.params + buffers) * size / 1e6, 2),
    }
    return Summary(
        network.name,
        network.spec.display,
        network.spec.digest,
        list(network.input_shape),
        list(network.output_shape) if network.output_shape else None,
        network.params,
        trainable,
        buffers,
        network.macs,
        batch,
        dtype,
        memory,
        depth,
        network,
    )


def rows(network, depth: int | None) -> Iterator[Row]:
    """Rows at ``depth``: 1 stem/stages/head, 2 their layers and blocks, else every layer."""
    if depth is None or depth >= 3:
        for node in network.ops():
            yield _layer_row(node)
        return
    block_of = {b.id: b for b in network.blocks}
    stage_of = {b.id: s for s in network.stages for b in (block_of[i] for i in s.block_ids)}
    current: Row | None = None
    key: Any = None
    for node in network.ops():
        if node.part == "input":
            continue
        if node.block_id is None:  # stem and head layers
            group = node.part
            if depth == 2:
                if current is not None:
                    yield current
                current, key = None, None
                yield _layer_row(node)
                continue
            name, op = node.part, node.part
        elif depth == 1:
            stage = stage_of[node.block_id]
            group, name, op = ("stage", stage.index), stage.torch_name, "stage"
        else:
            block = block_of[node.block_id]
            group, name, op = ("block", block.id), block.id, f"block ({block.block_type})"
        if group != key:
            if current is not None:
                yield current
            keras = block_of[node.block_id].keras_name if depth == 2 and node.block_id is not None else ""
            current, key = Row(name, op, None, 0, 0, keras), group
        current.params += node.params
        current.macs += node.macs
        if node.block_id is not None:
            out = network.block(node.block_id).out_shape
            current.output_shape = list(out) if out else None
        elif node.shape:
            current.output_shape = list(node.shape)
    if current is not None:
        yield current
