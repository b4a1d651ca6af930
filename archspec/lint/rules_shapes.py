"""AS2xx: shapes and channels, read from the IR's static inference."""

from __future__ import annotations

from collections.abc import Iterator

from archspec.diagnostics import Diagnostic, Severity, Span
from archspec.ir.graph import Network, Node
from archspec.lint.localize import merge_culprit
from archspec.lint.registry import RULES, rule


def _where(network: Network, node: Node) -> tuple[Span | None, list[str]]:
    """Where to report a finding on ``node``: the block instance for block layers (with a note
    pointing at the layer's definition), else the layer itself."""
    if node.block_id is not None:
        block = network.block(node.block_id)
        notes = [f"in block {block.id} ({block.block_type}), layer {node.local_name!r}"]
        if node.span is not None and node.span != block.site:
            notes.append(f"layer defined at {node.span}")
        return block.site, notes
    return node.span, []


def _fmt(shape) -> str:
    return "x".join(str(d) for d in shape) if shape is not None else "?"


@rule("AS201", "shape-mismatch", Severity.ERROR, "tensors whose shapes cannot be combined, or an op on the wrong rank")
def shape_mismatch(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a merge whose inputs cannot be added (or multiplied, concatenated)
    because their channels or spatial sizes differ, an op applied to the wrong kind of tensor
    (a linear layer on a feature map, a convolution on a vector), and pooling padding larger
    than half the window.

    Why is this bad: the framework raises at the first forward pass, far from the spec line.

    Example: a bottleneck whose shortcut has no projection although the stride is 2:
        shortcut: []
        merge: {op: add}

    Use instead: a projection when the shape changes:
        shortcut:
          - when: stride != 1 or in_channels != out
            layers: [{op: conv, filters: out, kernel: 1, stride: stride}, {op: batchnorm}]
    """
    me = RULES["AS201"]
    for node in network.ops():
        if node.error is not None and node.error.kind in ("mismatch", "rank"):
            span, notes = _where(network, node)
            hint = node.error.hint
            culprit = merge_culprit(network, node) if node.part == "merge" else None
            if culprit is not None:
                span, notes, hint = culprit
            inputs = ", ".join(_fmt(s) for s in node.in_shapes)
            yield me.diagnostic(
                f"{node.op} {node.torch_path}: {node.error.message}",
                span,
                hint,
                notes + [f"input shapes: {inputs}"],
            )


@rule("AS202", "channel-mismatch", Severity.ERROR, "channels that do not chain from one layer to the next")
def channel_mismatch(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: compares the input channels a layer or block declares (`in_channels:`, as
    hand-written code states them) with the channels that actually arrive, and reports groups
    that do not divide the channels.

    Why is this bad: hand-computed channel counts drift as soon as a block changes (a PyTorch
    port of a concatenating ResNet-50 computes 512, 768, 1024 ... by hand); the framework fails at construction or,
    worse, at the first forward pass.

    Example:
        - {block: identity_block, in_channels: 512, args: {filters: [64, 64, 256]}}
      where the previous block outputs 768 channels.

    Use instead: leave `in_channels` out (archspec infers it), or state the right value.
    """
    me = RULES["AS202"]
    for node in network.ops():
        if node.error is not None and node.error.kind == "channels":
            span, notes = _where(network, node)
            yield me.diagnostic(f"{node.op} {node.torch_path}: {node.error.message}", span, node.error.hint, notes)
        if node.declared_in_channels is not None and node.in_shapes and node.in_shapes[0] is not None:
            actual = node.in_shapes[0][0]
            if actual != node.declared_in_channels:
                span = network.spec.spans.value(node.spec_path + ("in_channels",))
                _, notes = _where(network, node)
                yield me.diagnostic(
                    f"{node.torch_path} declares {node.declared_in_channels} input channels, but {actual} arrive",
                    span,
                    f"did you mean in_channels: {actual}?",
                    notes,
                )
    for block in network.blocks:
        if block.declared_in_channels is not None and block.in_shape is not None:
            actual = block.in_shape[0]
            if actual != block.declared_in_channels:
                span = network.spec.spans.value(block.site_path + ("in_channels",))
                yield me.diagnostic(
                    f"block {block.id} ({block.block_type}) declares {block.declared_in_channels} input channels, "
                    f"but the previous layer outputs {actual}",
                    span,
                    f"did you mean in_channels: {actual}?",
                )


@rule("AS203", "spatial-collapse", Severity.ERROR, "a feature map that shrinks below 1x1")
def spatial_collapse(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a convolution or pooling whose window no longer fits in its input at
    the spec's input size (or `--input-size`), so its output would be empty.

    Why is this bad: too much downsampling for the input size; frameworks fail with an
    obscure "output size is too small" error, or silently at another input size.

    Example: a 7x7 pooling after five stride-2 stages on a 64x64 input (2x2 feature map).

    Use instead: `global_avg_pool`, a larger input, or fewer strided stages.
    """
    me = RULES["AS203"]
    for node in network.ops():
        if node.error is not None and node.error.kind == "collapse":
            span, notes = _where(network, node)
            size = _fmt(network.input_shape[1:])
            yield me.diagnostic(
                f"{node.op} {node.torch_path}: {node.error.message} (input size {size})",
                span,
                node.error.hint,
                notes + [f"input shape: {_fmt(node.in_shapes[0])}"],
            )


# -------------------------------------------------------------------------------------------------


def _feeds_flatten(network: Network, node: Node) -> bool:
    frontier = [node.id]
    seen: set[str] = set()
    while frontier:
        current = frontier.pop()
        for succ in network.successors(current):
            if succ.id in seen:
                continue
            seen.add(succ.id)
            if succ.op in ("flatten", "linear"):
                return True
            if succ.op in ("relu", "identity", "dropout", "batchnorm"):
                frontier.append(succ.id)
    return False


@rule(
    "AS205",
    "fixed-pool-mismatch",
    Severity.WARNING,
    "a fixed-size pooling before the classifier whose window does not match the feature map",
)
def fixed_pool_mismatch(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a pooling with a fixed window (`avgpool`/`maxpool`) that feeds a
    flatten or linear layer, when its window does not cover the whole feature map at the
    declared input size.

    Why is this bad: the original Keras/Caffe ResNet-50 pools with a fixed 7x7
    `AveragePooling2D`: right at 224x224, but at 256x256 the feature map is 8x8, the pooling
    ignores a row and a column (or, at larger sizes, the classifier sees more features than
    it was built for).

    Example: `- {op: avgpool, kernel: 7}` then `- {op: flatten}` with a 256x256 input.

    Use instead: `- {op: global_avg_pool}`, which is right at every input size.
    """
    me = RULES["AS205"]
    for node in network.ops():
        if node.op not in ("avgpool", "maxpool") or node.attrs is None or not node.in_shapes:
            continue
        shape = node.in_shapes[0]
        if shape is None or len(shape) != 3 or node.shape is None:
            continue
        kernel = node.attrs.kernel
        if tuple(kernel) == tuple(shape[1:]):
            continue
        if not _feeds_flatten(network, node):
            continue
        span, notes = _where(network, node)
        yield me.diagnostic(
            f"{_fmt(kernel)} {node.op} {node.torch_path} meets a {_fmt(shape[1:])} feature map at input size "
            f"{_fmt(network.input_shape[1:])}: its output is {_fmt(node.shape[1:])}, not a global pool",
            span,
            "use {op: global_avg_pool}, which fits every input size",
            notes,
        )


@rule(
    "AS206",
    "conv-as-pooling",
    Severity.WARNING,
    "a convolution whose kernel spans the whole feature map, used as global pooling",
)
def conv_as_pooling(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a convolution in the head whose kernel equals its whole input
    feature map (larger than 1x1), so that it collapses it to 1x1.

    Why is this bad: it fixes the input size (any other size breaks the classifier) and costs
    parameters: a hand-written PyTorch ResNet-50 port fakes global pooling with a 7x7 `Conv2d(8192, 8192)`,
    3.3 billion weights.

    Example: `- {op: conv, filters: 8192, kernel: 7}` on a 7x7 map before `flatten`.

    Use instead: `- {op: global_avg_pool}`.
    """
    me = RULES["AS206"]
    for node in network.ops():
        if node.op != "conv" or node.part != "head" or node.attrs is None or not node.in_shapes:
            continue
        shape = node.in_shapes[0]
        if shape is None or len(shape) != 3 or shape[1] * shape[2] <= 1:
            continue
        if tuple(node.attrs.kernel) == tuple(shape[1:]) and node.shape is not None and node.shape[1:] == (1, 1):
            yield me.diagnostic(
                f"conv {node.torch_path} uses a {_fmt(node.attrs.kernel)} kernel over the whole {_fmt(shape[1:])} "
                f"feature map ({node.params:,} parameters) as a global pooling",
                node.span,
                "use {op: global_avg_pool}: no parameters, any input size",
            )
