"""Where to report a residual merge whose two inputs do not match, in a block the user defined.

A shape mismatch at a block's ``add`` is a symptom; the line to fix is a layer of the block's
definition: a convolution whose padding does not keep the size, a path that downsamples more
or less than the block's ``stride``, or a shortcut with no projection.  :func:`merge_culprit`
finds that layer.  Blocks of the shipped library are not the user's to fix: their mismatches
stay at the stage-table row or argument that instantiated them.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

from archspec.diagnostics import Span
from archspec.ir.graph import Network, Node

WINDOWED = ("conv", "maxpool", "avgpool")


@cache
def _library_files() -> frozenset[str]:
    from archspec.spec.load import library_index

    return frozenset(str(Path(p).resolve()) for p in library_index().values())


def user_defined(network: Network, block_type: str) -> bool:
    resolved = network.spec.block(block_type)
    if resolved is None:
        return False
    if resolved.prefix and resolved.prefix[0] == "@file":
        return str(Path(resolved.prefix[1]).resolve()) not in _library_files()
    return True


def _stride(node: Node) -> tuple[int, int]:
    attrs = node.attrs
    if node.op == "conv":
        return tuple(attrs.stride)
    if node.op in ("maxpool", "avgpool"):
        return tuple(attrs.strides)
    return (1, 1)


def _chain(network: Network, start: str, members: set[str]) -> list[Node]:
    """The layers of the block leading to ``start`` (first inputs), in forward order."""
    out: list[Node] = []
    current = start
    while current in members:
        node = network.node(current)
        out.append(node)
        if not node.inputs:
            break
        current = node.inputs[0]
    return out[::-1]


def _padding_span(network: Network, node: Node) -> Span | None:
    spans = network.spec.spans
    return spans.values.get(node.spec_path + ("padding",)) or node.span


def merge_culprit(network: Network, merge: Node) -> tuple[Span | None, list[str], str] | None:
    """(span, notes, hint) of the layer to fix for a mismatched merge in a user-defined block."""
    if merge.block_id is None or len(merge.inputs) != 2:
        return None
    block = network.block(merge.block_id)
    if not user_defined(network, block.block_type):
        return None
    members = set(block.nodes)
    body = _chain(network, merge.inputs[0], members)
    short = [n for n in _chain(network, merge.inputs[1], members) if n.part == "shortcut"]
    where = f"in block {block.id} ({block.block_type}), from {block.site}"
    # 1. a window whose padding does not keep the size its stride gives
    for node in body + short:
        if node.op not in WINDOWED or node.attrs is None or not node.in_shapes or node.shape is None:
            continue
        shape = node.in_shapes[0]
        if shape is None or len(shape) != 3:
            continue
        stride = _stride(node)
        expected = tuple(math.ceil(n / s) for n, s in zip(shape[1:], stride))
        if tuple(node.shape[1:]) != expected:
            kernel = tuple(node.attrs.kernel)
            pads = [(k - 1) * d // 2 for k, d in zip(kernel, getattr(node.attrs, "dilation", (1, 1)))]
            keep = str(pads[0]) if pads[0] == pads[1] else f"[{pads[0]}, {pads[1]}]"
            return (
                _padding_span(network, node),
                [
                    where,
                    f"{node.op} {node.local_name} turns {shape[1]}x{shape[2]} into "
                    f"{node.shape[1]}x{node.shape[2]} (kernel {kernel[0]}x{kernel[1]}, stride {stride[0]}x{stride[1]})",
                ],
                f"padding: {keep} keeps the size of a {kernel[0]}x{kernel[1]} window",
            )
    # 2. a path that downsamples more or less than the block's stride
    body_shape = body[-1].shape if body else block.in_shape
    short_shape = short[-1].shape if short else network.node(merge.inputs[1]).shape
    if body_shape is None or short_shape is None:
        return None
    declared = block.args.get("stride", block.args.get("strides"))
    if body_shape[1:] != short_shape[1:] and isinstance(declared, int) and not isinstance(declared, bool):
        for name, path in (("main path", body), ("shortcut", short)):
            factor = math.prod(_stride(n)[0] for n in path)
            strided = [n for n in path if max(_stride(n)) > 1]
            if factor > declared and strided:
                culprit = strided[0] if len(strided) > 1 else strided[-1]
                others = ", ".join(n.local_name for n in strided)
                return (
                    network.spec.spans.values.get(culprit.spec_path + ("stride",)) or culprit.span,
                    [where, f"the {name} downsamples {factor}x ({others}) but the block's stride is {declared}"],
                    "give the stride to one layer of each path",
                )
            if factor < declared:
                target = next((n for n in path if n.op in WINDOWED), None)
                if target is None:
                    return (
                        merge.span,
                        [where, f"the {name} does not downsample but the block's stride is {declared}"],
                        "give the shortcut a 1x1 conv projection with the block's stride",
                    )
                return (
                    target.span,
                    [where, f"the {name} downsamples {factor}x but the block's stride is {declared}"],
                    f"give {target.local_name} stride: {'stride' if 'stride' in block.args else 'strides'}",
                )
    # 3. channels that change over an identity shortcut
    if body_shape[0] != short_shape[0] and not short:
        return (
            merge.span,
            [
                where,
                f"the main path ends with {body_shape[0]} channels, the identity shortcut carries {short_shape[0]}",
            ],
            "add a shortcut case with a 1x1 conv projection when in_channels != the output width",
        )
    return None
