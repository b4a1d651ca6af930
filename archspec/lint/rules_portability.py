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


@rule(
    "AS405",
    "avgpool-uneven-exclude-pad",
    Severity.ERROR,
    "average pooling that excludes an asymmetric (or wider than half the window) padding",
)
def avgpool_uneven_exclude_pad(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports an average pooling with `count_include_pad: false` whose fixed padding
    is asymmetric (`[[0, 1], [0, 1]]`, or `same` at stride 1 with an even kernel) or wider than
    half the window.

    Why is this bad: PyTorch's `AvgPool2d` excludes only its own symmetric padding (up to half
    the window) from the averages; an asymmetric box must be padded before the pool, and the
    pool then counts those zeros.  The PyTorch backend has no exact form for it, so such a
    spec would not build.  (`same` at a stride above 1 is computed at run time, exactly.)

    Example: `- {op: avgpool, kernel: 3, stride: 2, padding: [[0, 1], [0, 1]], count_include_pad: false}`

    Use instead: symmetric padding (`padding: 1`), `count_include_pad: true`, or `same` with a
    stride above 1.
    """
    me = RULES["AS405"]
    yield from _avgpool_definitions(me, network)
    for node in network.ops():
        attrs = node.attrs
        if node.part not in ("stem", "head"):
            continue  # block layers: checked on their definitions, which the classes are written from
        if node.op != "avgpool" or attrs is None or attrs.count_include_pad or not node.pads or not any(node.pads):
            continue
        if attrs.padding == "same" and any(s > 1 and k > 1 for k, s in zip(attrs.kernel, attrs.strides, strict=True)):
            continue  # computed at run time (AvgPool2dSame), exact
        t, b, left, right = node.pads
        kh, kw = attrs.kernel
        if t != b or left != right or max(t, b) > kh // 2 or max(left, right) > kw // 2:
            yield me.diagnostic(
                f"avgpool {node.torch_path} excludes the padding (count_include_pad: false) but pads "
                f"top/bottom {t}/{b}, left/right {left}/{right}: PyTorch has no exact form for this",
                node.span,
                "pad symmetrically, at most half the window, or count the padding",
            )


def _avgpool_definitions(me, network: Network) -> Iterator[Diagnostic]:
    """AS405 on block definitions, as the PyTorch backend sees them (values it can tell from the
    definition alone), so that a layer no instance builds is checked too."""
    from archspec.lint.rules_names import _layers, checked_blocks

    defaults = network.spec.spec.defaults.get("avgpool", {})
    for resolved in checked_blocks(network):
        for path, layer in _layers(resolved.definition):
            if layer.op != "avgpool":
                continue
            attrs = {**{k: v for k, v in defaults.items() if k in ("padding", "count_include_pad")}, **layer.attrs}
            if attrs.get("count_include_pad", True) is True:
                continue
            problem = _uneven(attrs.get("padding", 0), attrs.get("kernel"), attrs.get("stride"))
            if problem:
                yield me.diagnostic(
                    f"avgpool in block type {resolved.name!r} excludes the padding (count_include_pad: false) "
                    f"but {problem}: PyTorch has no exact form for this",
                    network.spec.spans.value(resolved.prefix + path),
                    "pad symmetrically, at most half the window, or count the padding",
                )


def _ints(value) -> list[int] | None:
    items = value if isinstance(value, list) else [value]
    flat = [v for item in items for v in (item if isinstance(item, list) else [item])]
    ok = all(isinstance(v, int) and not isinstance(v, bool) for v in flat)
    return flat if ok else None


def _uneven(padding, kernel, stride) -> str | None:
    """Why the PyTorch backend cannot pool with this padding excluded, or None."""
    k = _ints(kernel)
    k = (k * 2 if len(k) == 1 else k) if k else None
    if padding == "same":
        s = _ints(stride) if stride is not None else k
        s = (s * 2 if s and len(s) == 1 else s) if s else None
        if k is None or s is None or any(si > 1 and ki > 1 for ki, si in zip(k, s, strict=False)):
            return None  # computed at run time, exactly
        pads = [((ki - 1) // 2, (ki - 1) - (ki - 1) // 2) for ki in k]
        box = [pads[0][0], pads[0][1], pads[1][0], pads[1][1]]
    elif isinstance(padding, list) and (len(padding) == 4 or any(isinstance(v, list) for v in padding)):
        box = _ints(padding)
        if box is None:
            return "pads by a box of expressions"
    else:
        flat = _ints(padding)
        if flat is None or padding == "valid":
            return None  # zeros, or one symmetric expression
        h, w = (flat * 2)[:2] if len(flat) == 1 else flat
        box = [h, h, w, w]
    t, b, left, right = box
    if t != b or left != right:
        return f"pads top/bottom {t}/{b}, left/right {left}/{right}"
    if k is not None and (t > k[0] // 2 or left > k[1] // 2):
        return f"pads {t}x{left}, more than half the {k[0]}x{k[1]} window"
    return None
