"""AS4xx: portability between PyTorch and Keras/TensorFlow."""

from __future__ import annotations

from collections.abc import Iterator

from archspec.diagnostics import Diagnostic, Severity
from archspec.ir.graph import Network
from archspec.ir.ops import REGISTRY
from archspec.lint.registry import RULES, rule


@rule("AS401", "same-padding-stride", Severity.WARNING, "`same` padding with a stride above 1")
def same_padding_stride(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a convolution or pooling with `padding: same` and a stride above 1.

    Why is this bad: TensorFlow's `same` pads asymmetrically at stride 2 (the extra row and
    column go bottom and right) and the amount depends on the input size; PyTorch's
    `padding=` pads symmetrically.  archspec emits the exact TensorFlow rule in both backends,
    but a hand port (a TensorFlow ResNet-50 whose stem is a 7x7/2 conv and a 3x3/2 pool with
    `padding='same'`)
    usually gets it wrong, and pretrained weights from one framework then misalign.

    Example: `- {op: conv, filters: 64, kernel: 7, stride: 2, padding: same}`

    Use instead: explicit padding, e.g. `padding: 3` (torchvision), or
    `padding: [[2, 3], [2, 3]]` to keep TensorFlow's numbers at 224x224.
    """
    me = RULES["AS401"]
    spans = network.spec.spans
    padded = {kind for kind, opdef in REGISTRY.items() if "padding" in opdef.attrs.model_fields}
    for node in network.ops():
        attrs = node.attrs
        if attrs is None or node.op not in padded or attrs.padding != "same":
            continue
        stride = attrs.stride if node.op == "conv" else attrs.strides
        dilation = getattr(attrs, "dilation", (1, 1))
        if max(stride) <= 1 or all((k - 1) * d == 0 for k, d in zip(attrs.kernel, dilation)):
            continue  # stride 1, or a 1x1 window: 'same' never pads asymmetrically
        pads = node.pads
        detail = ""
        if pads is not None:
            asym = pads[0] != pads[1] or pads[2] != pads[3]
            detail = f": at this input size it pads top/bottom {pads[0]}/{pads[1]}, left/right {pads[2]}/{pads[3]}" + (
                " (asymmetric)" if asym else ""
            )
        notes = []
        if node.block_id is not None:
            block = network.block(node.block_id)
            notes.append(f"in block {block.id} ({block.block_type}), from {block.site}")
        yield me.diagnostic(
            f"{node.op} {node.torch_path} uses TensorFlow 'same' padding at stride {stride[0]}x{stride[1]}{detail}",
            spans.value(node.spec_path + ("padding",)),
            "write the padding explicitly; 'same' at stride > 1 depends on the input size",
            notes,
        )


@rule("AS402", "maxpool-zero-padding", Severity.INFO, "max pooling padded with zeros over a possibly negative input")
def maxpool_zero_padding(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: notes a max pooling with `pad_value: 0` and non-zero padding whose input is
    not provably non-negative (it does not come straight from a ReLU or similar).

    Why is this bad: PyTorch's `MaxPool2d(padding=...)` pads with -inf; Keras'
    `ZeroPadding2D` + `MaxPooling2D` pads with 0.  They agree only on non-negative inputs.
    keras.applications' ResNetV2 pools straight after a convolution with zero padding, so a
    spec reproducing it must say `pad_value: 0`, and archspec emits zeros in both backends.

    Example: `- {op: maxpool, kernel: 3, stride: 2, padding: 1, pad_value: 0}` after a conv.

    Use instead: `pad_value: -inf` (the default) unless you reproduce such a model on purpose;
    then acknowledge it on the line: `pad_value: 0}  # noqa: AS402`.
    """
    me = RULES["AS402"]
    for node in network.ops():
        if node.op != "maxpool" or node.attrs is None or node.attrs.pad_value != 0.0:
            continue
        preds = [network.node(i) for i in node.inputs]
        if node.pads and any(node.pads) and not all(p.nonneg for p in preds):
            yield me.diagnostic(
                f"maxpool {node.torch_path} pads with 0 on an input that may be negative: this is "
                "not PyTorch's MaxPool2d padding",
                node.span,
                "keep it only to reproduce a Keras model that pads this way",
            )


@rule("AS403", "flatten-layout", Severity.INFO, "a flatten over a feature map larger than 1x1")
def flatten_layout(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: notes a `flatten` whose input feature map is larger than 1x1.

    Why is this bad: PyTorch flattens NCHW (channel-major), Keras NHWC (channel-last): the
    features reach the next linear layer in a different order, so weights do not transfer
    between frameworks without a permutation.  archspec's Keras backend permutes to the
    PyTorch order first, so its two outputs agree; hand ports usually do not.

    Example: `- {op: avgpool, kernel: 2}` on a 7x7 map, then `- {op: flatten}`.

    Use instead: `global_avg_pool` before the classifier.
    """
    me = RULES["AS403"]
    for node in network.ops():
        if node.op == "flatten" and node.in_shapes and node.in_shapes[0] is not None:
            shape = node.in_shapes[0]
            if len(shape) == 3 and shape[1] * shape[2] > 1:
                yield me.diagnostic(
                    f"flatten {node.torch_path} over a {shape[1]}x{shape[2]} feature map: "
                    "PyTorch and Keras order the features differently",
                    node.span,
                    "pool globally first, or keep archspec's layout-preserving flatten",
                )
