"""AS3xx: topology and residual structure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from archspec.diagnostics import Diagnostic, Severity
from archspec.ir.graph import Network
from archspec.lint.registry import RULES, rule


@rule("AS301", "concat-residual", Severity.WARNING, "a residual block that merges its shortcut by concatenation")
def concat_residual(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a block type whose merge (the op joining the main path and the
    shortcut) is `concat` instead of `add`, with the channel growth it causes.

    Why is this bad: a residual block adds its shortcut; concatenating it makes the channels
    grow block after block (a hand-written Keras ResNet-50 that concatenates: 256 -> 512 ->
    768 ... -> 8192), multiplies the parameters, and is no longer a ResNet.

    Example:
        merge: {op: concat}

    Use instead:
        merge: {op: add}
    """
    me = RULES["AS301"]
    by_type: dict[str, list] = defaultdict(list)
    for block in network.blocks:
        by_type[block.block_type].append(block)
    for block_type, blocks in by_type.items():
        merges = [network.node(n) for b in blocks for n in b.nodes if network.node(n).part == "merge"]
        concats = [m for m in merges if m.op == "concat"]
        if not concats:
            continue
        growth = []
        for block in blocks:
            if block.in_shape is not None and block.out_shape is not None:
                growth.append(f"{block.id}: {block.in_shape[0]} -> {block.out_shape[0]}")
        notes = [f"channels per block: {'; '.join(growth[:6])}{' ...' if len(growth) > 6 else ''}"] if growth else []
        yield me.diagnostic(
            f"block type {block_type!r} merges its shortcut by concatenation: channels grow in every block",
            concats[0].span,
            "a residual connection adds: use merge: {op: add}",
            notes,
        )


@rule("AS302", "softmax-in-model", Severity.WARNING, "a softmax inside the model")
def softmax_in_model(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a softmax layer inside the network, at its end or before the
    classifier output.

    Why is this bad: models should output logits; losses such as `CrossEntropyLoss` and
    `SparseCategoricalCrossentropy(from_logits=True)` apply the softmax themselves, a second
    one flattens the gradients; and comparing two frameworks after a softmax hides their
    differences.  Seeds 000 and 002 end their models with a softmax.

    Example:
        - {op: linear, name: fc, units: 1000}
        - {op: softmax}

    Use instead: end with the linear layer; apply softmax at inference time outside the model.
    """
    me = RULES["AS302"]
    for node in network.ops():
        if node.op != "softmax":
            continue
        where = "at the end of the model" if node.id == network.output else "before the classifier output"
        yield me.diagnostic(
            f"softmax {node.torch_path} {where}: the model should output logits",
            node.span,
            "remove it; apply softmax outside the model (the loss does it for training)",
        )


@rule("AS303", "dead-layer", Severity.WARNING, "a layer whose output is never used")
def dead_layer(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a layer whose output no other layer consumes and that is not the
    network's output (possible with `inputs:` references).

    Why is this bad: it costs parameters and time for nothing, and usually means a reference
    names the wrong layer.

    Example: an SE gate computed but the multiply taking `inputs: [bn3, bn3]`.

    Use instead: reference the layer, or remove it.
    """
    me = RULES["AS303"]
    if not network.complete:
        return
    for node in network.ops():
        if node.id != network.output and network.out_degree(node.id) == 0:
            yield me.diagnostic(
                f"the output of {node.op} {node.torch_path} is never used",
                node.span,
                "reference it in a later layer's inputs, or remove it",
            )
