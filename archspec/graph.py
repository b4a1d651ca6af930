"""Architecture pictures: Graphviz DOT and Mermaid text from the IR.

Collapsed (the default): the stem and head layers, one box per stage ("3 x bottleneck"),
the tensor shape on every edge, in archspec's one notation (C x H x W, ``64x56x56``).
Expanded: every layer, with the shortcuts and merges.  ``archspec graph`` renders DOT to
SVG/PNG when Graphviz's ``dot`` is installed.
"""

from __future__ import annotations

from dataclasses import dataclass

from archspec.ir.graph import Network, Node
from archspec.summaries import format_shape


@dataclass
class Box:
    id: str
    lines: list[str]
    kind: str  # input | layer | stage | merge


def _shape(shape) -> str:
    return format_shape(shape)


def _describe(node: Node) -> str:
    attrs = node.attrs
    if node.op == "conv" and attrs is not None:
        text = f"conv {attrs.kernel[0]}x{attrs.kernel[1]}/{attrs.stride[0]}, {attrs.filters}"
        return text + (f", groups {attrs.groups}" if attrs.groups > 1 else "")
    if node.op in ("maxpool", "avgpool") and attrs is not None:
        return f"{node.op} {attrs.kernel[0]}x{attrs.kernel[1]}/{attrs.strides[0]}"
    if node.op == "linear" and attrs is not None:
        return f"linear {attrs.units}"
    return node.op


def layout(network: Network, expand: bool = False) -> tuple[list[Box], list[tuple[str, str, str]]]:
    """The boxes and the (source, target, shape label) edges of the picture."""
    boxes = [Box("input", ["input", _shape(network.input_shape)], "input")]
    edges: list[tuple[str, str, str]] = []
    if expand:
        for node in network.ops():
            boxes.append(Box(node.id, [node.torch_path, _describe(node)], "merge" if node.part == "merge" else "layer"))
            edges += [(src, node.id, _shape(network.node(src).shape)) for src in node.inputs]
        return boxes, edges
    stage_of = {n: s for s in network.stages for b in s.block_ids for n in network.block(b).nodes}
    last, last_shape = "input", network.input_shape
    drawn: set[int] = set()
    for node in network.ops():
        stage = stage_of.get(node.id)
        if stage is None:
            boxes.append(Box(node.id, [node.torch_path, _describe(node)], "layer"))
            edges.append((last, node.id, _shape(last_shape)))
            last, last_shape = node.id, node.shape
        elif stage.index not in drawn:
            drawn.add(stage.index)
            blocks = [network.block(b) for b in stage.block_ids]
            kinds = ", ".join(sorted({b.block_type for b in blocks}))
            box_id = f"stage{stage.index}"
            boxes.append(Box(box_id, [stage.torch_name, f"{len(blocks)} x {kinds}"], "stage"))
            edges.append((last, box_id, _shape(last_shape)))
            last, last_shape = box_id, blocks[-1].out_shape
    return boxes, edges


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_DOT_STYLE = {
    "input": 'shape=oval, style=filled, fillcolor="#e8f0fe"',
    "layer": 'shape=box, style="rounded,filled", fillcolor="#ffffff"',
    "stage": 'shape=box3d, style=filled, fillcolor="#fef7e0"',
    "merge": 'shape=ellipse, style=filled, fillcolor="#e6f4ea"',
}


def to_dot(network: Network, expand: bool = False) -> str:
    boxes, edges = layout(network, expand)
    lines = [
        f"digraph {_dot_string(network.name)} {{",
        "  rankdir=TB;",
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for box in boxes:
        label = "\\n".join(part.replace("\\", "\\\\").replace('"', '\\"') for part in box.lines)
        lines.append(f'  {_dot_string(box.id)} [label="{label}", {_DOT_STYLE[box.kind]}];')
    lines += [f"  {_dot_string(s)} -> {_dot_string(d)} [label={_dot_string(label)}];" for s, d, label in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_id(text: str) -> str:
    return "n_" + "".join(ch if ch.isalnum() else "_" for ch in text)


def to_mermaid(network: Network, expand: bool = False) -> str:
    boxes, edges = layout(network, expand)
    shapes = {"stage": ('[["', '"]]'), "merge": ('(("', '"))'), "input": ('(["', '"])'), "layer": ('["', '"]')}
    lines = ["flowchart TB"]
    for box in boxes:
        label = "<br/>".join(part.replace('"', "#quot;") for part in box.lines)
        start, end = shapes[box.kind]
        lines.append(f"  {_mermaid_id(box.id)}{start}{label}{end}")
    lines += [f"  {_mermaid_id(s)} -->|{label}| {_mermaid_id(d)}" for s, d, label in edges]
    return "\n".join(lines) + "\n"
