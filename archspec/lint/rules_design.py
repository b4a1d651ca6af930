"""Design slips that build and run but make a different (usually worse) network than meant:
AS207 (a strided convolution that never reads some pixels), AS304 (a squashing activation as
the last layer), AS305 (two normalisations in a row), AS306 (an activation at the very end of
the residual branch), AS307 (a block argument that no layer uses) and AS404 (a BatchNorm
momentum in Keras' convention).

A finding caused by one line of a block definition is reported once, with the number of
block instances it affects and a few of their names.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator

from archspec.diagnostics import Diagnostic, Fix, Severity, Span
from archspec.ir.graph import Network, Node
from archspec.lint.registry import RULES, rule

PASS_THROUGH = ("identity", "dropout")
ACTIVATIONS = ("relu", "relu6", "leaky_relu", "sigmoid", "silu", "tanh", "softmax")
SQUASHING = ("sigmoid", "tanh")  # softmax: AS302
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


_INDEX: list = [None, 0, {}]  # network, node count, op kind -> nodes


def by_op(network: Network) -> dict[str, list[Node]]:
    """The network's op nodes by kind, in order (one pass, shared by the rules of a lint run)."""
    if _INDEX[0] is not network or _INDEX[1] != len(network.order):
        index: dict[str, list[Node]] = defaultdict(list)
        for node in network.ops():
            index[node.op].append(node)
        _INDEX[:] = [network, len(network.order), index]
    return _INDEX[2]


def _instances(nodes: list[Node]) -> str:
    """``layer1.0, layer1.1, layer2.0 and 13 more`` (block instances, or layer paths outside blocks)."""
    names = list(dict.fromkeys(n.block_id or n.torch_path for n in nodes))
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _grouped(nodes: Iterable[Node]) -> Iterator[tuple[Span | None, list[Node]]]:
    """Nodes grouped by the line that defines them (a block layer: its definition), in order."""
    groups: dict[Span | None, list[Node]] = defaultdict(list)
    for node in nodes:
        groups[node.span].append(node)
    yield from groups.items()


def _count(nodes: list[Node]) -> str:
    blocks = list(dict.fromkeys(n.block_id for n in nodes if n.block_id is not None))
    if not blocks:
        return ""
    return f" (in {len(blocks)} block{'s' if len(blocks) != 1 else ''}: {_instances(nodes)})"


def _source(network: Network, node: Node) -> Node:
    """The node that produces ``node``'s input, skipping identities and dropouts."""
    current = node
    while True:
        if len(current.inputs) != 1:
            return current
        pred = network.node(current.inputs[0])
        if pred.op not in PASS_THROUGH:
            return pred
        current = pred


# -------------------------------------------------------------------------------------------------


def _effective(kernel: int, dilation: int) -> int:
    return (kernel - 1) * dilation + 1


def _first_conv_of_block(network: Network, node: Node) -> bool:
    if node.block_id is None or node.part != "body":
        return False
    block = network.block(node.block_id)
    return next((n for n in block.nodes if network.node(n).op == "conv"), None) == node.id


@rule("AS207", "stride-skips-pixels", Severity.WARNING, "a strided convolution whose kernel is smaller than its stride")
def stride_skips_pixels(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a convolution on the main path whose kernel is smaller than its
    stride (a 1x1 convolution at stride 2, a 3x3 at stride 4), so that some input pixels are
    never read.  Shortcut projections are left alone, and so is the stride on the first 1x1
    convolution of a block (ResNet v1's layout, which its shortcut matches).

    Why is this bad: three quarters of the feature map are thrown away before any
    computation; it is almost always a stride put on the wrong layer while transcribing
    (on the last 1x1 of a bottleneck instead of the 3x3), or a stride typed for a kernel.

    Example:
        - {op: conv, name: conv3, filters: out, kernel: 1, stride: stride}

    Use instead: put the stride on the 3x3 convolution (or on the block's first 1x1 for
    ResNet v1):
        - {op: conv, name: conv2, filters: mid, kernel: 3, stride: stride, padding: 1}
    """
    me = RULES["AS207"]
    suspects = []
    for node in by_op(network).get("conv", ()):
        attrs = node.attrs
        if attrs is None or node.part == "shortcut":
            continue
        kernel = [_effective(k, d) for k, d in zip(attrs.kernel, attrs.dilation)]
        if all(k >= s for k, s in zip(kernel, attrs.stride)):
            continue
        if _first_conv_of_block(network, node) and max(attrs.kernel) == 1:
            continue
        suspects.append(node)
    for span, nodes in _grouped(suspects):
        a = nodes[0].attrs
        yield me.diagnostic(
            f"conv {nodes[0].local_name if nodes[0].block_id else nodes[0].torch_path} has a "
            f"{a.kernel[0]}x{a.kernel[1]} kernel at stride {a.stride[0]}x{a.stride[1]}: "
            f"some input pixels are never read{_count(nodes)}",
            network.spec.spans.value(nodes[0].spec_path + ("stride",)) or span,
            "move the stride to a convolution whose kernel covers it (the 3x3 of a bottleneck)",
        )


@rule("AS304", "squashing-output", Severity.WARNING, "a sigmoid or tanh as the model's last layer")
def squashing_output(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a sigmoid or tanh as the model's last layer (AS302 reports a
    softmax).

    Why is this bad: models should output logits.  The numerically stable losses
    (`BCEWithLogitsLoss`, `BinaryCrossentropy(from_logits=True)`) apply the squashing
    themselves; a second one saturates, flattens the gradients and hides differences between
    two frameworks' outputs (every logit above 10 becomes 1.0).

    Example:
        - {op: linear, name: fc, units: 1000}
        - {op: sigmoid}

    Use instead: end with the linear layer; apply the sigmoid outside the model.
    """
    me = RULES["AS304"]
    if not network.complete:
        return
    last = network.node(network.output)
    while last.op in PASS_THROUGH + ("flatten",) and len(last.inputs) == 1:
        last = network.node(last.inputs[0])
    if last.op in SQUASHING:
        yield me.diagnostic(
            f"{last.op} {last.torch_path} at the end of the model: the model should output logits",
            last.span,
            "remove it; apply it outside the model (the loss does it for training)",
        )


@rule("AS305", "double-normalization", Severity.WARNING, "two normalisations in a row")
def double_normalization(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a BatchNorm whose input comes straight from another BatchNorm.

    Why is this bad: the second normalisation undoes the first one's learned scale and shift;
    it costs parameters and time and is almost always a duplicated line (a transcription
    that wrote both `bn2` and `bn2_2`, or a block body and its post layers both normalising).

    Example:
        - {op: batchnorm, name: bn1}
        - {op: batchnorm, name: bn1b}

    Use instead: one BatchNorm after each convolution.
    """
    me = RULES["AS305"]
    suspects = []
    for node in by_op(network).get("batchnorm", ()):
        if _source(network, node).op == "batchnorm":
            suspects.append(node)
    for span, nodes in _grouped(suspects):
        first = _source(network, nodes[0])
        yield me.diagnostic(
            f"batchnorm {nodes[0].local_name} normalises the output of batchnorm {first.local_name}{_count(nodes)}",
            span,
            "remove one of the two",
            [f"the first one is defined at {first.span}"] if first.span and first.span != span else [],
        )


@rule("AS306", "activation-before-add", Severity.WARNING, "an activation at the very end of the residual branch")
def activation_before_add(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a residual block whose branch ends with an activation right
    before the add (`relu` then `add`), instead of applying it after the add.

    Why is this bad: after a ReLU the branch can only add non-negative values to the
    shortcut, so the block can no longer reduce a feature; He et al., *Identity Mappings in
    Deep Residual Networks* (2016), measure it as worse than the standard block.  In a
    transcription it is usually the block's last ReLU put before the merge instead of after.

    Example:
        body:
          - ...
          - {op: batchnorm, name: bn2}
          - {op: relu}
        merge: {op: add}

    Use instead:
        body:
          - ...
          - {op: batchnorm, name: bn2}
        merge: {op: add}
        post:
          - {op: relu}
    """
    me = RULES["AS306"]
    suspects = []
    for node in by_op(network).get("add", ()):
        if node.part != "merge" or not node.inputs:
            continue
        last = network.node(node.inputs[0])
        while last.op in PASS_THROUGH and len(last.inputs) == 1:
            last = network.node(last.inputs[0])
        if last.op in ACTIVATIONS and last.part == "body":
            suspects.append(last)
    for span, nodes in _grouped(suspects):
        block = network.block(nodes[0].block_id) if nodes[0].block_id else None
        kind = f"block type {block.block_type!r}" if block else "a block"
        yield me.diagnostic(
            f"{kind} applies {nodes[0].op} at the end of its residual branch, before the add{_count(nodes)}",
            span,
            "move the activation after the merge (post:)",
        )


# -------------------------------------------------------------------------------------------------


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _used_names(definition) -> set[str]:
    """Every name that an expression of the block definition mentions (an over-estimate)."""
    texts: list[str] = []
    layers = list(definition.body) + list(definition.post) + ([definition.merge] if definition.merge else [])
    for case in definition.shortcut:
        layers += list(case.layers)
        texts += list(_strings(case.when))
    for layer in layers:
        texts += list(_strings(layer.when)) + list(_strings(layer.in_channels)) + list(_strings(layer.attrs))
    texts += list(_strings(definition.let)) + list(_strings(definition.params))
    return {name for text in texts for name in NAME.findall(text)}


@rule("AS307", "unused-argument", Severity.WARNING, "a block argument that no layer of the block uses")
def unused_argument(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports an argument given to a block (in the stage table, its `args:`, an
    override or a block entry) with a value other than the parameter's default, when no layer,
    shortcut or derived value of that block type uses the parameter.

    Why is this bad: the argument looks like it changes the network and does not:
    `groups: 32` given to `basic` builds a plain ResNet, not a ResNeXt.  torchvision's
    `BasicBlock` raises for `groups != 1` or `base_width != 64`; archspec would build the
    wrong network silently.

    Example:
        stages: {block: basic, args: {groups: 32, base_width: 4}, ...}

    Use instead: a block type that uses the argument (`bottleneck` for groups and
    base_width), or remove the argument.
    """
    me = RULES["AS307"]
    spans = network.spec.spans
    used_by_type: dict[str, set[str]] = {}
    found: dict[tuple[str, str], list[tuple[Span, object]]] = {}
    for block in network.blocks:
        resolved = network.spec.block(block.block_type)
        if resolved is None:
            continue
        if block.block_type not in used_by_type:
            used_by_type[block.block_type] = _used_names(resolved.definition)
        used = used_by_type[block.block_type]
        for key, path in block.arg_paths.items():
            if key in used or key not in resolved.definition.params:
                continue
            default = resolved.definition.params[key]
            if default is not None and not isinstance(default, str) and block.args.get(key) == default:
                continue
            span = spans.key(path) if path[-1] == key else spans.value(path)
            if span is None:
                continue
            places = found.setdefault((block.block_type, key), [])
            if all(span != s for s, _ in places):
                places.append((span, block.args.get(key)))
    for (block_type, key), places in found.items():
        resolved = network.spec.block(block_type)
        span, value = places[0]
        notes = []
        if len(places) > 1:
            lines = ", ".join(f"{s.line}" for s, _ in places[1:6]) + (" ..." if len(places) > 6 else "")
            notes.append(f"also given on line{'s' if len(places) > 2 else ''} {lines}")
        defined = spans.value(resolved.prefix) if resolved else None
        if defined is not None:
            notes.append(f"block type {block_type!r} is defined at {defined}")
        yield me.diagnostic(
            f"argument {key}={value!r} has no effect: block type {block_type!r} uses {key!r} in no layer",
            span,
            f"remove it, or use a block type whose layers use {key}",
            notes,
        )


# -------------------------------------------------------------------------------------------------


def _number_span(network: Network, span: Span | None, value: float) -> tuple[Span | None, bool]:
    """The span narrowed to the number written there, and whether it is that number."""
    if span is None:
        return None, False
    line = network.spec.sources.line(span.file, span.line) or ""
    match = re.match(r"[0-9.eE+-]+", line[span.column - 1 :])
    if not match:
        return span, False
    try:
        literal = float(match.group(0)) == value
    except ValueError:
        return span, False
    return Span(span.file, span.line, span.column, len(match.group(0))), literal


@rule(
    "AS404",
    "keras-momentum",
    Severity.WARNING,
    "a BatchNorm momentum written in Keras' convention",
    fixable="safe where the momentum is written as a number: it becomes 1 minus it",
)
def keras_momentum(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a BatchNorm `momentum` above 0.5 (Keras' 0.99, 0.997, 0.9).
    archspec's `momentum` follows PyTorch: the weight of the *new* batch statistics, usually
    0.1 (Keras' `momentum` is the weight of the old ones: 1 - this).

    Why is this bad: with 0.99 the running statistics follow each batch almost entirely, so
    the model evaluates with the statistics of its last training batch; the Keras backend
    would emit `momentum=0.01`.  Nothing fails until the trained model is evaluated.

    Example:
        defaults: {batchnorm: {eps: 1.0e-3, momentum: 0.99}}

    Use instead:
        defaults: {batchnorm: {eps: 1.0e-3, momentum: 0.01}}
    """
    me = RULES["AS404"]
    spans = network.spec.spans
    groups: dict[Span, list[Node]] = defaultdict(list)
    for node in by_op(network).get("batchnorm", ()):
        if node.attrs is None or node.attrs.momentum <= 0.5:
            continue
        path = node.spec_path + ("momentum",)
        span = spans.values.get(path) or spans.values.get(("defaults", "batchnorm", "momentum")) or node.span
        if span is not None:
            groups[span].append(node)
    for span, nodes in groups.items():
        value = nodes[0].attrs.momentum
        meant = f"{round(1 - value, 10):g}"
        where, literal = _number_span(network, span, value)
        text = network.spec.sources.line(where.file, where.line) if where is not None else None
        original = text[where.column - 1 : where.column - 1 + where.length] if text else None
        fix = Fix.replace(where, meant, original) if literal and where is not None and original else None
        count = len(nodes)
        yield me.diagnostic(
            f"BatchNorm momentum {value:g} is Keras' convention; archspec's (PyTorch's) is 1 minus it "
            f"({count} layer{'s' if count != 1 else ''})",
            where,
            f"did you mean momentum: {meant}?",
            [f"in PyTorch's convention {value:g} weights the newest batch by {value:g}: Keras' momentum={meant}"],
            fix,
        )


@rule("AS208", "large-epsilon", Severity.WARNING, "a BatchNorm epsilon far above any framework's default")
def large_epsilon(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a BatchNorm `eps` above 0.01.  Frameworks and published models
    use 1e-5 (PyTorch), 1.001e-5 (keras.applications' ResNets) or 1e-3 (Keras' default).

    Why is this bad: eps is added to the variance before dividing by its square root; at 0.1
    it dominates the variance of small activations and the layer stops normalising them.
    Such a value is a typo of the exponent (`1.0e-1` for `1.0e-5`), and nothing fails.

    Example:
        defaults: {batchnorm: {eps: 0.1}}

    Use instead:
        defaults: {batchnorm: {eps: 1.0e-5}}
    """
    me = RULES["AS208"]
    spans = network.spec.spans
    groups: dict[Span, list[Node]] = defaultdict(list)
    for node in by_op(network).get("batchnorm", ()):
        if node.attrs is None or node.attrs.eps <= 0.01:
            continue
        span = (
            spans.values.get(node.spec_path + ("eps",))
            or spans.values.get(("defaults", "batchnorm", "eps"))
            or node.span
        )
        if span is not None:
            groups[span].append(node)
    for span, nodes in groups.items():
        value = nodes[0].attrs.eps
        where, _ = _number_span(network, span, value)
        yield me.diagnostic(
            f"BatchNorm eps {value:g} is far above the usual 1e-5 (PyTorch) or 1e-3 (Keras) "
            f"({len(nodes)} layer{'s' if len(nodes) != 1 else ''})",
            where,
            "did you mean eps: 1.0e-5?",
        )
