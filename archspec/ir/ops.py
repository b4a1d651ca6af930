"""The op registry: every op kind declared once, ONNX style.

Each :class:`OpDef` holds the op's attributes (a pydantic model, with archspec's documented
defaults), its shape rule, its tensors (the PyTorch state-dict layout: name, shape, whether
it is a trained parameter or a buffer), and its multiply-accumulate count.  Backends and
lint rules read these; nothing else re-derives a shape.

Shapes exclude the batch dimension: ``(C, H, W)`` for feature maps, ``(F,)`` for vectors.

Multiply-accumulates follow torchinfo's convention (so that figures compare with the
peers): a convolution counts each of its parameters once per output position; any other
layer with parameters counts each parameter once; layers without parameters count zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

Shape = tuple[int, ...]
MAX_CHANNELS = 1_000_000
MAX_KERNEL = 4096


class ShapeError(Exception):
    """An op that cannot be applied to its inputs.  ``kind`` selects the lint rule."""

    def __init__(
        self, kind: Literal["mismatch", "channels", "collapse", "rank"], message: str, hint: str | None = None
    ):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint


# --------------------------------------------------------------------------------------------
# attribute models

Int = int
Pair = tuple[int, int]
PadBox = tuple[int, int, int, int]  # top, bottom, left, right


def _pair(value: Any, what: str, minimum: int) -> Pair:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a whole number or a pair, not a boolean")
    if isinstance(value, int):
        value = (value, value)
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        if any(v < minimum or v > MAX_KERNEL for v in value):
            raise ValueError(f"{what} values must be between {minimum} and {MAX_KERNEL}, got {list(value)}")
        return (value[0], value[1])
    raise ValueError(f"{what} must be a whole number or a pair [height, width], got {value!r}")


PaddingSpec = Union[Literal["same", "valid"], PadBox]


def _padding(value: Any) -> PaddingSpec:
    """``1``, ``[1, 2]`` (height, width), ``[[top, bottom], [left, right]]``, ``same``, ``valid``."""
    if value in ("same", "valid"):
        return value
    if isinstance(value, bool):
        raise ValueError("padding must be a number, a pair, [[top, bottom], [left, right]], 'same' or 'valid'")
    if isinstance(value, int):
        value = [value, value]
    if isinstance(value, (list, tuple)) and len(value) == 2:
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            h, w = value
            box = (h, h, w, w)
        elif all(isinstance(v, (list, tuple)) and len(v) == 2 for v in value):
            box = (value[0][0], value[0][1], value[1][0], value[1][1])
        else:
            box = None
        if box is not None and all(isinstance(v, int) and not isinstance(v, bool) for v in box):
            if any(v < 0 or v > MAX_KERNEL for v in box):
                raise ValueError(f"padding values must be between 0 and {MAX_KERNEL}")
            return box
    if (
        isinstance(value, (list, tuple))
        and len(value) == 4
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        if any(v < 0 or v > MAX_KERNEL for v in value):
            raise ValueError(f"padding values must be between 0 and {MAX_KERNEL}")
        return tuple(value)  # type: ignore[return-value]
    raise ValueError(
        f"padding must be a number, a pair [height, width], [[top, bottom], [left, right]], "
        f"'same' or 'valid'; got {value!r}"
    )


class Attrs(BaseModel):
    """Base of every op's attributes."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    #: attribute -> string values that are keywords, not expressions
    KEYWORDS: ClassVar[dict[str, frozenset[str]]] = {}


class ConvAttrs(Attrs):
    KEYWORDS: ClassVar = {"padding": frozenset({"same", "valid"})}

    filters: int = Field(ge=1, le=MAX_CHANNELS, description="output channels")
    kernel: Pair
    stride: Pair = (1, 1)
    padding: PaddingSpec = (0, 0, 0, 0)
    dilation: Pair = (1, 1)
    groups: int = Field(1, ge=1, le=MAX_CHANNELS)
    bias: bool = True
    standardize: bool = Field(
        False, description="weight standardization (timm's StdConv2d): each filter to zero mean, unit variance"
    )
    std_eps: float = Field(1e-6, gt=0, lt=1, description="added to the filter variance when standardizing")

    _k = field_validator("kernel", mode="before")(classmethod(lambda c, v: _pair(v, "kernel", 1)))
    _s = field_validator("stride", mode="before")(classmethod(lambda c, v: _pair(v, "stride", 1)))
    _d = field_validator("dilation", mode="before")(classmethod(lambda c, v: _pair(v, "dilation", 1)))
    _p = field_validator("padding", mode="before")(classmethod(lambda c, v: _padding(v)))


class BatchNormAttrs(Attrs):
    eps: float = Field(1e-5, gt=0, lt=1, description="added to the variance")
    momentum: float = Field(0.1, ge=0, le=1, description="PyTorch convention (Keras momentum = 1 - this)")


class NoAttrs(Attrs):
    pass


class GroupNormAttrs(Attrs):
    groups: int = Field(32, ge=1, le=MAX_CHANNELS, description="channel groups (contiguous channels)")
    eps: float = Field(1e-5, gt=0, lt=1, description="added to the variance")


class EvoNormS0Attrs(Attrs):
    groups: int = Field(32, ge=1, le=MAX_CHANNELS, description="channel groups of the std (contiguous channels)")
    eps: float = Field(1e-5, gt=0, lt=1, description="added to the group variance")


class FrnTluAttrs(Attrs):
    eps: float = Field(1e-5, gt=0, lt=1, description="added to the mean of squares")


class LayerNormAttrs(Attrs):
    eps: float = Field(1e-5, gt=0, lt=1, description="added to the variance")


class GeluAttrs(Attrs):
    KEYWORDS: ClassVar = {"approximate": frozenset({"none", "tanh"})}

    approximate: Literal["none", "tanh"] = Field("none", description="none: exact (erf); tanh: the approximation")


class EluAttrs(Attrs):
    alpha: float = Field(1.0, ge=0, le=1000)


class PReluAttrs(Attrs):
    per_channel: bool = Field(False, description="one slope per channel (true) or one for all (false)")
    init: float = Field(0.25, ge=-1000, le=1000, description="initial slope")


class ChannelSliceAttrs(Attrs):
    start: int = Field(0, ge=0, le=MAX_CHANNELS, description="first channel taken (0-based)")
    size: int = Field(ge=1, le=MAX_CHANNELS, description="number of channels taken")


class BlurPoolAttrs(Attrs):
    filter: int = Field(3, ge=2, le=16, description="binomial filter size (3: [1, 2, 1] / 4 per axis)")
    stride: int = Field(2, ge=1, le=MAX_KERNEL)

    @property
    def pad(self) -> int:
        """timm's get_padding(filter, stride): reflect padding on every side."""
        return (self.stride - 1 + self.filter - 1) // 2


class ChannelConvAttrs(Attrs):
    """ECA's 1-D convolution across the channels of a pooled (C, 1, 1) tensor."""

    KEYWORDS: ClassVar = {"kernel": frozenset({"auto"})}

    kernel: int | Literal["auto"] = Field(
        "auto", description="odd kernel size, or auto: from the channels as ECA-Net (gamma, beta)"
    )
    gamma: float = Field(2.0, gt=0, le=1000)
    beta: float = Field(1.0, ge=-1000, le=1000)

    @field_validator("kernel")
    @classmethod
    def _odd(cls, value: Any) -> Any:
        if value != "auto" and (isinstance(value, bool) or value < 1 or value > MAX_KERNEL or value % 2 == 0):
            raise ValueError(f"kernel must be odd, from 1 to {MAX_KERNEL}, or auto; got {value!r}")
        return value

    def size(self, channels: int) -> int:
        """The kernel size: as given, or timm's EcaModule rule from the channel count."""
        if self.kernel != "auto":
            return self.kernel  # type: ignore[return-value]
        t = int(abs(math.log(channels, 2) + self.beta) / self.gamma)
        return max(t if t % 2 else t + 1, 3)


class RadixSumAttrs(Attrs):
    radix: int = Field(ge=1, le=MAX_CHANNELS, description="the number of equal, contiguous channel parts summed")


class RadixSoftmaxAttrs(Attrs):
    radix: int = Field(ge=2, le=MAX_CHANNELS, description="the number of parts the softmax runs across")
    groups: int = Field(1, ge=1, le=MAX_CHANNELS, description="cardinality: groups of contiguous channels")


class LeakyReluAttrs(Attrs):
    negative_slope: float = Field(0.01, ge=0, le=1)


class PoolAttrs(Attrs):
    KEYWORDS: ClassVar = {"padding": frozenset({"same", "valid"})}

    kernel: Pair
    stride: Pair | None = None  # default: the kernel
    padding: PaddingSpec = (0, 0, 0, 0)
    ceil_mode: bool = False

    _k = field_validator("kernel", mode="before")(classmethod(lambda c, v: _pair(v, "kernel", 1)))
    _s = field_validator("stride", mode="before")(
        classmethod(lambda c, v: None if v is None else _pair(v, "stride", 1))
    )
    _p = field_validator("padding", mode="before")(classmethod(lambda c, v: _padding(v)))

    @property
    def strides(self) -> Pair:
        return self.stride or self.kernel


class MaxPoolAttrs(PoolAttrs):
    KEYWORDS: ClassVar = {"padding": frozenset({"same", "valid"}), "pad_value": frozenset({"-inf"})}

    pad_value: float = Field(float("-inf"), description="value padded in: -inf (PyTorch) or 0 (ZeroPadding2D)")

    @field_validator("pad_value", mode="before")
    @classmethod
    def _pad_value(cls, value: Any) -> float:
        if value in ("-inf", float("-inf")):
            return float("-inf")
        if value == 0 and not isinstance(value, bool):
            return 0.0
        raise ValueError("pad_value must be -inf or 0")


class AvgPoolAttrs(PoolAttrs):
    count_include_pad: bool = True


class GlobalPoolAttrs(Attrs):
    keepdims: bool = False


class LinearAttrs(Attrs):
    units: int = Field(ge=1, le=MAX_CHANNELS)
    bias: bool = True


class DropoutAttrs(Attrs):
    rate: float = Field(0.0, ge=0, lt=1)


# --------------------------------------------------------------------------------------------
# helpers


def resolve_padding(padding: PaddingSpec, size: Pair, kernel: Pair, stride: Pair, dilation: Pair) -> PadBox:
    """Explicit (top, bottom, left, right) padding; ``same`` follows TensorFlow's rule."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        out = []
        for n, k, s, d in zip(size, kernel, stride, dilation):
            effective = (k - 1) * d + 1
            total = max((math.ceil(n / s) - 1) * s + effective - n, 0)
            out += [total // 2, total - total // 2]
        return (out[0], out[1], out[2], out[3])
    return padding  # type: ignore[return-value]


def _spatial(x: Shape, what: str) -> tuple[int, int, int]:
    if len(x) != 3:
        raise ShapeError(
            "rank",
            f"{what} needs a feature map (C, H, W), got a vector of {x[0]} features",
            "put it before the global pooling / flatten",
        )
    return x  # type: ignore[return-value]


def _window(n: int, lo: int, hi: int, k: int, s: int, d: int, ceil_mode: bool, axis: str) -> int:
    span = n + lo + hi - (k - 1) * d - 1
    if span < 0:
        raise ShapeError(
            "collapse",
            f"the {axis} ({n} + padding {lo}+{hi}) is smaller than the {k}x window: output would be empty",
            "use a larger input size, less downsampling, or a smaller window",
        )
    if ceil_mode:
        out = -(-span // s) + 1
        if (out - 1) * s >= n + lo:
            out -= 1
    else:
        out = span // s + 1
    return out


def _conv_like(x: Shape, kernel: Pair, stride: Pair, pads: PadBox, dilation: Pair, ceil_mode: bool) -> Pair:
    _, h, w = x
    return (
        _window(h, pads[0], pads[1], kernel[0], stride[0], dilation[0], ceil_mode, "height"),
        _window(w, pads[2], pads[3], kernel[1], stride[1], dilation[1], ceil_mode, "width"),
    )


# --------------------------------------------------------------------------------------------
# the registry


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: Shape
    trainable: bool = True  # False: a buffer (running statistics)


@dataclass(frozen=True)
class OpDef:
    kind: str
    attrs: type[Attrs]
    doc: str
    shape: Callable[[Attrs, list[Shape], dict], Shape]
    tensors: Callable[[Attrs, list[Shape]], list[Tensor]] = lambda a, i: []
    arity: int | None = 1  # None: two or more inputs
    nonneg: Callable[[Attrs, list[bool]], bool] = lambda a, i: False
    #: extra, resolved values the shape rule computes (e.g. explicit padding), kept on the node
    category: str = "layer"

    def params(self, attrs: Attrs, inputs: list[Shape]) -> int:
        return sum(math.prod(t.shape) for t in self.tensors(attrs, inputs) if t.trainable)

    def macs(self, attrs: Attrs, inputs: list[Shape], output: Shape) -> int:
        params = self.params(attrs, inputs)
        if self.kind == "conv":
            return params * math.prod(output[1:])
        if self.kind == "channel_conv":  # a Conv1d over the C channel positions
            return params * output[0]
        return params


REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    if op.kind in REGISTRY:
        raise RuntimeError(f"op {op.kind!r} registered twice")
    REGISTRY[op.kind] = op
    return op


def _conv_shape(a: ConvAttrs, ins: list[Shape], extra: dict) -> Shape:
    c, h, w = _spatial(ins[0], "conv")
    if c % a.groups or a.filters % a.groups:
        raise ShapeError(
            "channels",
            f"groups={a.groups} must divide both the input channels ({c}) and filters ({a.filters})",
            f"choose groups among the common divisors of {c} and {a.filters}",
        )
    pads = resolve_padding(a.padding, (h, w), a.kernel, a.stride, a.dilation)
    extra["pads"] = pads
    return (a.filters, *_conv_like(ins[0], a.kernel, a.stride, pads, a.dilation, False))


def _conv_tensors(a: ConvAttrs, ins: list[Shape]) -> list[Tensor]:
    c = ins[0][0]
    out = [Tensor("weight", (a.filters, c // a.groups, *a.kernel))]
    if a.bias:
        out.append(Tensor("bias", (a.filters,)))
    return out


def _same(a: Attrs, ins: list[Shape], extra: dict) -> Shape:
    return ins[0]


def _bn_tensors(a: Attrs, ins: list[Shape]) -> list[Tensor]:
    c = (ins[0][0],)
    return [
        Tensor("weight", c),
        Tensor("bias", c),
        Tensor("running_mean", c, False),
        Tensor("running_var", c, False),
        Tensor("num_batches_tracked", (), False),
    ]


def _affine_tensors(a: Attrs, ins: list[Shape]) -> list[Tensor]:
    c = (ins[0][0],)
    return [Tensor("weight", c), Tensor("bias", c)]


def _groupnorm_shape(a: GroupNormAttrs, ins: list[Shape], extra: dict) -> Shape:
    c, _, _ = _spatial(ins[0], "groupnorm")
    if c % a.groups:
        raise ShapeError(
            "channels",
            f"groups={a.groups} must divide the channels ({c})",
            f"choose groups among the divisors of {c}",
        )
    return ins[0]


def _evonorm_shape(a: EvoNormS0Attrs, ins: list[Shape], extra: dict) -> Shape:
    c, _, _ = _spatial(ins[0], "evonorm_s0")
    if c % a.groups:
        raise ShapeError(
            "channels",
            f"groups={a.groups} must divide the channels ({c})",
            f"choose groups among the divisors of {c}",
        )
    return ins[0]


def _evonorm_tensors(a: Attrs, ins: list[Shape]) -> list[Tensor]:
    c = (ins[0][0],)
    return [Tensor("weight", c), Tensor("bias", c), Tensor("v", c)]


def _frn_shape(a: FrnTluAttrs, ins: list[Shape], extra: dict) -> Shape:
    _spatial(ins[0], "frn_tlu")
    return ins[0]


def _frn_tensors(a: Attrs, ins: list[Shape]) -> list[Tensor]:
    c = (ins[0][0],)
    return [Tensor("weight", c), Tensor("bias", c), Tensor("tau", c)]


def _blur_shape(a: BlurPoolAttrs, ins: list[Shape], extra: dict) -> Shape:
    c, h, w = _spatial(ins[0], "blur_pool")
    if a.pad >= min(h, w):
        raise ShapeError(
            "collapse",
            f"reflect padding of {a.pad} needs a feature map larger than {a.pad}x{a.pad}, got {h}x{w}",
            "use a larger input size or less downsampling",
        )
    p = a.pad
    return (c, *_conv_like(ins[0], (a.filter, a.filter), (a.stride, a.stride), (p, p, p, p), (1, 1), False))


def _slice_shape(a: ChannelSliceAttrs, ins: list[Shape], extra: dict) -> Shape:
    c = ins[0][0]
    if a.start + a.size > c:
        raise ShapeError(
            "channels",
            f"channels {a.start} to {a.start + a.size - 1} are asked of a tensor with {c} channels",
            f"keep start + size within {c}",
        )
    return (a.size, *ins[0][1:])


def _radix_sum_shape(a: RadixSumAttrs, ins: list[Shape], extra: dict) -> Shape:
    c = ins[0][0]
    if c % a.radix:
        raise ShapeError(
            "channels",
            f"radix={a.radix} must divide the channels ({c}) into equal parts",
            f"choose radix among the divisors of {c}",
        )
    return (c // a.radix, *ins[0][1:])


def _radix_softmax_shape(a: RadixSoftmaxAttrs, ins: list[Shape], extra: dict) -> Shape:
    c = ins[0][0]
    if c % (a.radix * a.groups):
        raise ShapeError(
            "channels",
            f"radix={a.radix} times groups={a.groups} must divide the channels ({c})",
            f"make the channels a multiple of {a.radix * a.groups}",
        )
    return ins[0]


def _prelu_tensors(a: PReluAttrs, ins: list[Shape]) -> list[Tensor]:
    return [Tensor("weight", (ins[0][0] if a.per_channel else 1,))]


def _channel_conv_shape(a: ChannelConvAttrs, ins: list[Shape], extra: dict) -> Shape:
    x = ins[0]
    if not (len(x) == 1 or (len(x) == 3 and x[1:] == (1, 1))):
        raise ShapeError(
            "rank",
            f"channel_conv needs pooled channels (C, 1, 1) or a vector, got {_fmt(x)}",
            "put a global_avg_pool with keepdims: true before it",
        )
    return x


def _channel_conv_tensors(a: ChannelConvAttrs, ins: list[Shape]) -> list[Tensor]:
    return [Tensor("weight", (1, 1, a.size(ins[0][0])))]


def _pool_shape(a: PoolAttrs, ins: list[Shape], extra: dict) -> Shape:
    c, h, w = _spatial(ins[0], "pooling")
    pads = resolve_padding(a.padding, (h, w), a.kernel, a.strides, (1, 1))
    extra["pads"] = pads
    for lo, hi, k in ((pads[0], pads[1], a.kernel[0]), (pads[2], pads[3], a.kernel[1])):
        if max(lo, hi) > k // 2 and a.padding != "same":
            raise ShapeError(
                "mismatch",
                f"padding {max(lo, hi)} is more than half the {k}x pooling window",
                "PyTorch requires padding <= kernel // 2 for pooling",
            )
    return (c, *_conv_like(ins[0], a.kernel, a.strides, pads, (1, 1), a.ceil_mode))


def _global_pool_shape(a: GlobalPoolAttrs, ins: list[Shape], extra: dict) -> Shape:
    c, _, _ = _spatial(ins[0], "global pooling")
    return (c, 1, 1) if a.keepdims else (c,)


def _flatten_shape(a: Attrs, ins: list[Shape], extra: dict) -> Shape:
    return (math.prod(ins[0]),)


def _linear_shape(a: LinearAttrs, ins: list[Shape], extra: dict) -> Shape:
    if len(ins[0]) != 1:
        raise ShapeError(
            "rank",
            f"linear needs a vector input, got a feature map {ins[0]}",
            "add a global_avg_pool or flatten layer before it",
        )
    return (a.units,)


def _linear_tensors(a: LinearAttrs, ins: list[Shape]) -> list[Tensor]:
    out = [Tensor("weight", (a.units, ins[0][0]))]
    if a.bias:
        out.append(Tensor("bias", (a.units,)))
    return out


def _merge_shape(broadcast: bool) -> Callable:
    def rule(a: Attrs, ins: list[Shape], extra: dict) -> Shape:
        first = ins[0]
        for other in ins[1:]:
            if len(other) != len(first):
                raise ShapeError("mismatch", f"cannot combine shapes {_fmt(first)} and {_fmt(other)}")
            if broadcast:
                dims = []
                for x, y in zip(first, other):
                    if x != y and 1 not in (x, y):
                        raise ShapeError("mismatch", f"shapes {_fmt(first)} and {_fmt(other)} cannot be multiplied")
                    dims.append(max(x, y))
                first = tuple(dims)
            elif other != first:
                channels, spatial = other[0] != first[0], other[1:] != first[1:]
                what = (
                    "channels and spatial sizes"
                    if channels and spatial
                    else "channels"
                    if channels
                    else "spatial sizes"
                )
                hint = {
                    "channels": "give the shortcut a 1x1 conv projection so that both branches have the same channels",
                    "spatial sizes": "apply the same stride on the shortcut as on the main path",
                    "channels and spatial sizes": "give the shortcut a 1x1 conv projection with the main path's stride",
                }[what]
                raise ShapeError(
                    "mismatch", f"cannot add shapes {_fmt(first)} and {_fmt(other)}: the {what} differ", hint
                )
        return first

    return rule


def _concat_shape(a: Attrs, ins: list[Shape], extra: dict) -> Shape:
    first = ins[0]
    for other in ins[1:]:
        if len(other) != len(first) or other[1:] != first[1:]:
            raise ShapeError(
                "mismatch",
                f"cannot concatenate {_fmt(first)} and {_fmt(other)} along channels: the other dimensions differ",
            )
    return (sum(s[0] for s in ins), *first[1:])


def _fmt(shape: Shape) -> str:
    return "x".join(str(d) for d in shape)


_nonneg_in = lambda a, i: all(i)  # noqa: E731
_true = lambda a, i: True  # noqa: E731

register(OpDef("conv", ConvAttrs, "2-D convolution (cross-correlation), NCHW", _conv_shape, _conv_tensors))
register(OpDef("batchnorm", BatchNormAttrs, "batch normalization over channels", _same, _bn_tensors))
register(OpDef("relu", NoAttrs, "max(x, 0)", _same, nonneg=_true, category="activation"))
register(OpDef("relu6", NoAttrs, "min(max(x, 0), 6)", _same, nonneg=_true, category="activation"))
register(OpDef("leaky_relu", LeakyReluAttrs, "x if x > 0 else negative_slope * x", _same, category="activation"))
register(OpDef("sigmoid", NoAttrs, "1 / (1 + exp(-x))", _same, nonneg=_true, category="activation"))
register(OpDef("silu", NoAttrs, "x * sigmoid(x) (swish)", _same, category="activation"))
register(OpDef("tanh", NoAttrs, "hyperbolic tangent", _same, category="activation"))
register(OpDef("softmax", NoAttrs, "softmax over channels", _same, nonneg=_true, category="activation"))
register(
    OpDef(
        "gelu",
        GeluAttrs,
        "x * Phi(x), exact (erf) or with the tanh approximation",
        _same,
        category="activation",
    )
)
register(OpDef("hardswish", NoAttrs, "x * relu6(x + 3) / 6", _same, category="activation"))
register(OpDef("hardsigmoid", NoAttrs, "relu6(x + 3) / 6", _same, nonneg=_true, category="activation"))
register(OpDef("mish", NoAttrs, "x * tanh(softplus(x))", _same, category="activation"))
register(OpDef("elu", EluAttrs, "x if x > 0 else alpha * (exp(x) - 1)", _same, category="activation"))
register(
    OpDef(
        "prelu",
        PReluAttrs,
        "x if x > 0 else a * x, the slope a learned (per channel or shared)",
        _same,
        _prelu_tensors,
        category="activation",
    )
)
register(
    OpDef(
        "groupnorm",
        GroupNormAttrs,
        "group normalization: statistics per sample over groups of contiguous channels, affine per channel",
        _groupnorm_shape,
        _affine_tensors,
    )
)
register(
    OpDef(
        "evonorm_s0",
        EvoNormS0Attrs,
        "EvoNorm-S0 (timm's EvoNorm2dS0), a norm and activation in one: x * sigmoid(v * x) divided by the "
        "std of x over its group of contiguous channels and the positions, then affine per channel",
        _evonorm_shape,
        _evonorm_tensors,
    )
)
register(
    OpDef(
        "frn_tlu",
        FrnTluAttrs,
        "filter response norm with TLU (timm's FilterResponseNormTlu2d): x / sqrt(mean of x^2 over the "
        "positions + eps) per channel, affine per channel, then max(x, tau) with a learned tau per channel",
        _frn_shape,
        _frn_tensors,
    )
)
register(
    OpDef(
        "layernorm",
        LayerNormAttrs,
        "layer normalization over the channels at each position (ConvNeXt's LayerNorm2d), affine per channel",
        _same,
        _affine_tensors,
    )
)
register(
    OpDef(
        "channel_slice",
        ChannelSliceAttrs,
        "channels start .. start + size - 1 of its input (a part of a channel split, as torch.split)",
        _slice_shape,
        nonneg=_nonneg_in,
    )
)
register(
    OpDef(
        "blur_pool",
        BlurPoolAttrs,
        "anti-aliased downsampling (timm's BlurPool2d): reflect padding, then a fixed binomial filter "
        "per channel with the stride",
        _blur_shape,
        category="pool",
    )
)
register(
    OpDef(
        "channel_conv",
        ChannelConvAttrs,
        "ECA's 1-D convolution across channels (no bias, zero padding, C outputs); kernel auto from C",
        _channel_conv_shape,
        _channel_conv_tensors,
    )
)
register(
    OpDef(
        "radix_sum",
        RadixSumAttrs,
        "the sum of the input's radix equal, contiguous channel parts (radix-major: part i is channels "
        "i * C / radix onwards); SKNet's and ResNeSt's sum over branches",
        _radix_sum_shape,
        nonneg=_nonneg_in,
    )
)
register(
    OpDef(
        "radix_softmax",
        RadixSoftmaxAttrs,
        "softmax across radix parts of the channels, per cardinality group (timm's RadixSoftmax): the "
        "input read as (groups, radix, C / (groups * radix)), the output written as (radix, groups, ...)",
        _radix_softmax_shape,
        nonneg=_true,
        category="activation",
    )
)
register(OpDef("identity", NoAttrs, "passes its input through", _same, nonneg=_nonneg_in))
register(OpDef("dropout", DropoutAttrs, "dropout (identity at inference)", _same, nonneg=_nonneg_in))
register(OpDef("maxpool", MaxPoolAttrs, "max pooling", _pool_shape, nonneg=lambda a, i: all(i), category="pool"))
register(OpDef("avgpool", AvgPoolAttrs, "average pooling", _pool_shape, nonneg=_nonneg_in, category="pool"))
register(
    OpDef(
        "global_avg_pool",
        GlobalPoolAttrs,
        "mean over height and width",
        _global_pool_shape,
        nonneg=_nonneg_in,
        category="pool",
    )
)
register(
    OpDef(
        "global_max_pool",
        GlobalPoolAttrs,
        "max over height and width",
        _global_pool_shape,
        nonneg=_nonneg_in,
        category="pool",
    )
)
register(
    OpDef("flatten", NoAttrs, "flatten to a vector (channel-major, as PyTorch)", _flatten_shape, nonneg=_nonneg_in)
)
register(OpDef("linear", LinearAttrs, "fully connected layer", _linear_shape, _linear_tensors))
register(
    OpDef("add", NoAttrs, "element-wise sum", _merge_shape(False), arity=None, nonneg=_nonneg_in, category="merge")
)
register(
    OpDef(
        "multiply",
        NoAttrs,
        "element-wise product (size-1 dimensions broadcast)",
        _merge_shape(True),
        arity=None,
        nonneg=_nonneg_in,
        category="merge",
    )
)
register(
    OpDef(
        "concat",
        NoAttrs,
        "concatenation along channels",
        _concat_shape,
        arity=None,
        nonneg=_nonneg_in,
        category="merge",
    )
)


def get(kind: str) -> OpDef | None:
    return REGISTRY.get(kind)


def pool_output_after_explicit_pad(n: int, lo: int, hi: int, k: int, s: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size after an explicit pad of ``lo + hi`` (the pool's own
    padding 0): how the PyTorch backend writes an asymmetric box, which lint (AS407) checks
    against the size this registry gives."""
    n = n + lo + hi
    span = n - k
    if span < 0:
        return 0
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= n:
        out -= 1
    return out
