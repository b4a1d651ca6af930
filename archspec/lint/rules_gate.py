"""Rules that keep the gate: constructs one of the backends cannot write exactly are errors at
the spec's line, so that a spec without errors always builds in both frameworks.  Each was
found by the whole-language property test (``tests/test_invariant.py``); its minimal spec is a
fixture in ``tests/regressions/``."""

from __future__ import annotations

from collections.abc import Iterator

from archspec.diagnostics import Diagnostic, Severity
from archspec.ir.graph import Network
from archspec.ir.ops import pool_output_after_explicit_pad
from archspec.lint.registry import RULES, rule


@rule("AS406", "stride-with-dilation", Severity.ERROR, "a convolution with both a stride and a dilation")
def stride_with_dilation(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a convolution whose stride and dilation are both above 1 (in any
    direction) and whose padding is `same` or whose weights are standardized.

    Why is this bad: Keras' `Conv2D` refuses `strides > 1` together with `dilation_rate > 1`.
    archspec writes such a convolution in Keras as a stride-1 dilated convolution followed by
    keeping every stride-th row and column, which gives PyTorch's values only with an explicit
    padding (TensorFlow's `same` depends on the stride) and a plain convolution.

    Example: `- {op: conv, filters: 64, kernel: 3, stride: 2, dilation: 2, padding: same}`

    Use instead: an explicit padding (`padding: 2`, as timm's selective-kernel paths), or a
    dilated convolution at stride 1 followed by a strided one (or a pooling).
    """
    me = RULES["AS406"]
    seen: set = set()
    for node in network.ops():
        attrs = node.attrs
        if node.op != "conv" or attrs is None:
            continue
        if not (attrs.padding == "same" or attrs.standardize):
            continue
        if max(attrs.stride) > 1 and max(attrs.dilation) > 1 and node.span not in seen:
            seen.add(node.span)
            what = "'same' padding" if attrs.padding == "same" else "weight standardization"
            yield me.diagnostic(
                f"convolution {node.torch_path} has stride {tuple(attrs.stride)}, dilation "
                f"{tuple(attrs.dilation)} and {what}: Keras cannot write them exactly",
                node.span,
                "give it an explicit padding, or dilate at stride 1 and reduce the resolution in another layer",
            )


_pool_output = pool_output_after_explicit_pad


@rule(
    "AS407",
    "ceil-mode-uneven-padding",
    Severity.ERROR,
    "a ceil-mode pooling padded before the pool, which PyTorch would size differently",
)
def ceil_mode_uneven_padding(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a max or average pooling with `ceil_mode: true` and a fixed
    padding that PyTorch must apply before the pool (an asymmetric box such as
    `[[0, 1], [0, 1]]`, or any padding of a max pooling with `pad_value: 0`), whose output
    size, as PyTorch computes it after padding explicitly, differs from the size the spec
    language gives it.

    Why is this bad: PyTorch's pooling takes only symmetric padding, and pads a max pooling
    with -inf, so such a padding is applied before the pool; with `ceil_mode` the last, partial window is then counted
    differently and the PyTorch model's feature maps would not have the spec's shape.

    Example: `- {op: maxpool, kernel: 2, padding: [[0, 1], [0, 1]], ceil_mode: true}` on a
    224x224 map (the spec says 112x112, PyTorch would give 113x113).

    Use instead: `ceil_mode: false` with the padding that gives the size you want, or a
    symmetric padding.
    """
    me = RULES["AS407"]
    seen: set = set()
    for node in network.ops():
        attrs = node.attrs
        if node.op not in ("maxpool", "avgpool") or attrs is None or not attrs.ceil_mode:
            continue
        if not node.pads or attrs.padding == "same" or node.shape is None or not node.in_shapes:
            continue
        t, b, left, right = node.pads
        # PyTorch pads before the pool where its pooling cannot pad itself: an asymmetric box,
        # or a max pooling padded with zeros (its own padding is -inf)
        zero_filled_max = node.op == "maxpool" and getattr(attrs, "pad_value", None) == 0 and any(node.pads)
        if t == b and left == right and not zero_filled_max:
            continue
        shape = node.in_shapes[0]
        if shape is None or len(shape) != 3:
            continue
        strides = attrs.stride or attrs.kernel
        size = (
            _pool_output(shape[1], t, b, attrs.kernel[0], strides[0], True),
            _pool_output(shape[2], left, right, attrs.kernel[1], strides[1], True),
        )
        if size != tuple(node.shape[1:]) and node.span not in seen:
            seen.add(node.span)
            yield me.diagnostic(
                f"{node.op} {node.torch_path}: with ceil_mode and the padding top/bottom {t}/{b}, "
                f"left/right {left}/{right}, PyTorch would give {size[0]}x{size[1]} where the spec "
                f"gives {node.shape[1]}x{node.shape[2]}",
                node.span,
                "use ceil_mode: false, or pad symmetrically",
            )


@rule(
    "AS308",
    "shortcut-case-from-layer",
    Severity.ERROR,
    "a conditional shortcut case without layers that starts from a body layer",
)
def shortcut_case_from_layer(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a block whose shortcut is chosen when the model runs (its first case
    has a `when:` condition), where a case that blocks take has no layers and starts `from:` a
    layer of the body instead of the block's input.

    Why is this bad: the PyTorch block class chooses among the cases at run time and keeps the
    block's input as the identity case; an empty case that reads a body layer cannot be written
    that way, so the block would not build.

    Example: `shortcut: [{when: stride > 1}, {from: conv1}]` where some blocks have a stride, or
    `[{from: conv1, when: in_channels != width}]`.

    Use instead: give that case a layer (`layers: [{op: identity}]`), or start it from `input`.
    """
    from archspec.ir.shortcuts import chosen_at_run_time, kept_cases
    from archspec.lint.rules_names import checked_blocks

    me = RULES["AS308"]
    taken: dict[str, set] = {}
    for block in network.blocks:
        taken.setdefault(block.block_type, set()).add(block.shortcut_case)
    for resolved in checked_blocks(network):
        cases = resolved.definition.shortcut
        # an unused type: any case could be taken
        kept = kept_cases(resolved.definition, taken.get(resolved.name, range(len(cases))))
        suspects = kept if chosen_at_run_time(resolved.definition, kept) else []
        for index in sorted(suspects):
            case = cases[index]
            if not case.layers and case.from_ != "input":
                span = network.spec.spans.value(resolved.prefix + ("shortcut", index, "from"))
                yield me.diagnostic(
                    f"block type {resolved.name!r}: shortcut case {index + 1} has no layers and starts "
                    f"from {case.from_!r}, under a condition",
                    span,
                    "give that case a layer (op: identity) or start it from input",
                )
