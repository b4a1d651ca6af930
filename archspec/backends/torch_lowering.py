"""PyTorch lowering of single ops: the text of ``nn.Conv2d(...)`` and kin, and spec expressions
rendered as Python.

A value reaches the lowering as a :class:`Val`: its Python source and, when it is known while
generating, the value itself.  In the model class every value is known (it comes from the IR);
in a block class a value may be an expression over the block's parameters.  Decisions that
change the code's shape (native padding or an explicit pad module, a fixed or a run-time
``same`` padding) are taken on known values only; whatever is not known is kept in a form that
is correct for every value (a run-time ``same`` rule, an explicit pad of expressions).
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from archspec.backends import BackendError, naming
from archspec.ir import ops as O
from archspec.spec import expr as E

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()

#: helper definitions the generated module may need (rendered by templates/torch/module.py.j2)
CONV_SAME, MAXPOOL_SAME, AVGPOOL_SAME = "Conv2dSame", "MaxPool2dSame", "AvgPool2dSame"
STD_CONV, STD_CONV_SAME, LAYER_NORM_2D, CHANNEL_CONV = "StdConv2d", "StdConv2dSame", "LayerNorm2d", "ChannelConv"
BLUR_POOL, CHANNEL_SLICE = "BlurPool2d", "ChannelSlice"
NAMED_SEQUENTIAL = "named_sequential"  # an nn.Sequential of named blocks (RegNet's s1.b1)
RADIX_SOFTMAX, RADIX_SUM = "RadixSoftmax", "RadixSum"
EVO_NORM_S0, FRN_TLU = "EvoNorm2dS0", "FilterResponseNormTlu2d"
#: helpers that pad by TensorFlow's rule at run time (they need ``pad_same``)
SAME_HELPERS = frozenset({CONV_SAME, MAXPOOL_SAME, AVGPOOL_SAME, STD_CONV_SAME})
HELPER_NAMES = frozenset(
    {
        CONV_SAME,
        MAXPOOL_SAME,
        AVGPOOL_SAME,
        STD_CONV,
        STD_CONV_SAME,
        LAYER_NORM_2D,
        CHANNEL_CONV,
        BLUR_POOL,
        CHANNEL_SLICE,
        NAMED_SEQUENTIAL,
        RADIX_SOFTMAX,
        RADIX_SUM,
        EVO_NORM_S0,
        FRN_TLU,
        "pad_same",
        "_pair",
    }
)

#: helpers whose definitions call ``torch.nn.functional`` (the module imports it as ``F`` only then)
FUNCTIONAL_HELPERS = frozenset({STD_CONV, LAYER_NORM_2D, BLUR_POOL, "pad_same"})

#: ops combined inline in ``forward`` (no module)
INLINE_OPS = frozenset({"add", "multiply", "concat"})
#: ops whose module owns tensors (a state-dict entry), so the module path is fixed by the spec
TENSOR_OPS = frozenset(
    {"conv", "batchnorm", "linear", "groupnorm", "layernorm", "prelu", "channel_conv", "evonorm_s0", "frn_tlu"}
)
#: ops whose constructor takes the input channels
CHANNEL_OPS = frozenset(
    {
        "conv",
        "batchnorm",
        "linear",
        "groupnorm",
        "layernorm",
        "prelu",
        "channel_conv",
        "blur_pool",
        "evonorm_s0",
        "frn_tlu",
    }
)
INPLACE_OPS = frozenset({"relu", "relu6", "leaky_relu", "hardswish", "hardsigmoid", "mish", "elu"})


@dataclass(frozen=True)
class Val:
    """A value: its Python source, and the value itself when known (else :data:`MISSING`)."""

    src: str
    value: Any = MISSING

    @property
    def known(self) -> bool:
        return self.value is not MISSING


def known(value: Any) -> Val:
    return Val(naming.literal(value), value)


def pair(val: Val) -> Val:
    """A kernel/stride/dilation value; known pairs are normalized, ``(3, 3)`` is written ``3``."""
    if not val.known:
        return val
    value = val.value
    if isinstance(value, int) and not isinstance(value, bool):
        return Val(naming.literal(value), (value, value))
    if isinstance(value, (list, tuple)) and len(value) == 2:
        a, b = value
        return Val(naming.literal(a) if a == b else naming.literal((a, b)), (a, b))
    raise BackendError(f"expected a number or a pair, got {value!r}")


@dataclass(frozen=True)
class Padding:
    """``same`` (TensorFlow's rule), an explicit ``box`` (top, bottom, left, right), or one
    expression ``expr`` of a symmetric form (a number or a ``(height, width)`` pair)."""

    mode: str  # same | box | expr
    box: tuple[Val, Val, Val, Val] | None = None
    expr: Val | None = None

    @classmethod
    def of_box(cls, box: Iterable[int]) -> Padding:
        return cls("box", tuple(known(v) for v in box))  # type: ignore[arg-type]


@dataclass
class Lowered:
    """One layer for PyTorch: its module constructor (None: an inline op), an explicit pad
    module applied before it, and whether ``torch.flatten(x, 1)`` follows it."""

    op: str
    ctor: str | None
    pad: str | None = None
    flatten: bool = False
    helpers: set[str] = field(default_factory=set)


# --------------------------------------------------------------------------------------------
# padding


def _same_axis(k: int, s: int, d: int) -> tuple[int, int] | None:
    """TensorFlow's `same` padding of one axis when it does not depend on the input size."""
    effective = (k - 1) * d + 1
    if s == 1:
        total = effective - 1
    elif effective == 1:
        total = 0
    else:
        return None  # depends on the input size modulo the stride
    return total // 2, total - total // 2


def _resolve(padding: Padding, kernel: Val, stride: Val, dilation: Val) -> tuple[str, Any]:
    """('dynamic', None) | ('static', (t, b, l, r)) | ('sym', src) | ('box', (t, b, l, r) srcs)."""
    if padding.mode == "same":
        if kernel.known and stride.known and dilation.known:
            values = zip(kernel.value, stride.value, dilation.value, strict=True)
            axes = [_same_axis(k, s, d) for k, s, d in values]
            if all(a is not None for a in axes):
                (t, b), (left, right) = axes  # type: ignore[misc]
                return "static", (t, b, left, right)
        return "dynamic", None
    if padding.mode == "expr":
        assert padding.expr is not None
        return "sym", padding.expr.src
    assert padding.box is not None
    if all(v.known for v in padding.box):
        return "static", tuple(v.value for v in padding.box)
    return "box", tuple(v.src for v in padding.box)


def _symmetric_src(box: tuple[int, int, int, int]) -> str | None:
    t, b, left, right = box
    if t != b or left != right:
        return None
    return naming.literal(t) if t == left else naming.literal((t, left))


def _pad_module(box: tuple, value: str | None) -> str:
    t, b, left, right = (naming.literal(v) if isinstance(v, int) else v for v in box)
    order = f"({left}, {right}, {t}, {b})"
    return f"nn.ZeroPad2d({order})" if value is None else f"nn.ConstantPad2d({order}, {value})"


def _fits_window(box: tuple[int, int, int, int], kernel: Val) -> bool:
    """PyTorch pools take native padding only up to half the window."""
    if not kernel.known:
        return True  # the IR has checked every instance
    kh, kw = kernel.value
    return max(box[0], box[1]) <= kh // 2 and max(box[2], box[3]) <= kw // 2


# --------------------------------------------------------------------------------------------
# ops


def lower(
    op: str,
    attrs: Mapping[str, Val],
    padding: Padding | None,
    in_channels: Val | None,
    rank: int | None,
    inplace: bool,
    where: str,
) -> Lowered:
    """The PyTorch form of one layer.  ``attrs`` holds every attribute of the op (defaults
    filled in); ``in_channels`` its input channels (features for a vector); ``rank`` the
    rank of its input without the batch (3 for a feature map, 1 for a vector)."""
    a = attrs
    if op in INLINE_OPS:
        return Lowered(op, None)
    if op == "conv":
        return _conv(a, padding, _need(in_channels, op, where), where)
    if op == "batchnorm":
        cls = "nn.BatchNorm1d" if rank == 1 else "nn.BatchNorm2d"
        return Lowered(
            op,
            f"{cls}({_need(in_channels, op, where).src}, eps={a['eps'].src}, momentum={a['momentum'].src})",
        )
    if op == "groupnorm":
        channels = _need(in_channels, op, where).src
        return Lowered(op, f"nn.GroupNorm({a['groups'].src}, {channels}, eps={a['eps'].src})")
    if op == "evonorm_s0":
        channels = _need(in_channels, op, where).src
        ctor = f"{EVO_NORM_S0}({channels}, groups={a['groups'].src}, eps={a['eps'].src})"
        return Lowered(op, ctor, helpers={EVO_NORM_S0})
    if op == "frn_tlu":
        channels = _need(in_channels, op, where).src
        return Lowered(op, f"{FRN_TLU}({channels}, eps={a['eps'].src})", helpers={FRN_TLU})
    if op == "layernorm":
        channels = _need(in_channels, op, where).src
        if rank == 1:
            return Lowered(op, f"nn.LayerNorm({channels}, eps={a['eps'].src})")
        return Lowered(op, f"{LAYER_NORM_2D}({channels}, eps={a['eps'].src})", helpers={LAYER_NORM_2D})
    if op == "prelu":
        per_channel = a["per_channel"]
        if not per_channel.known:
            raise BackendError(f"{where}: per_channel must be a plain true/false for the torch backend")
        count = _need(in_channels, op, where).src if per_channel.value else "1"
        return Lowered(op, f"nn.PReLU(num_parameters={count}, init={a['init'].src})")
    if op == "channel_conv":
        kernel = a["kernel"]
        if kernel.known and kernel.value == "auto":
            channels = _need(in_channels, op, where).src
            ctor = f"{CHANNEL_CONV}.from_channels({channels}, gamma={a['gamma'].src}, beta={a['beta'].src})"
        else:
            ctor = f"{CHANNEL_CONV}({kernel.src})"
        return Lowered(op, ctor, helpers={CHANNEL_CONV})
    if op == "channel_slice":
        start, size = a["start"], a["size"]
        stop = known(start.value + size.value) if start.known and size.known else Val(f"{start.src} + {size.src}")
        return Lowered(op, f"{CHANNEL_SLICE}({start.src}, {stop.src})", helpers={CHANNEL_SLICE})
    if op == "radix_sum":
        return Lowered(op, f"{RADIX_SUM}({a['radix'].src})", helpers={RADIX_SUM})
    if op == "radix_softmax":
        return Lowered(op, f"{RADIX_SOFTMAX}({a['radix'].src}, {a['groups'].src})", helpers={RADIX_SOFTMAX})
    if op == "blur_pool":
        channels = _need(in_channels, op, where).src
        ctor = f"{BLUR_POOL}({channels}, filt_size={a['filter'].src}, stride={a['stride'].src})"
        return Lowered(op, ctor, helpers={BLUR_POOL})
    if op == "gelu":
        return Lowered(op, f"nn.GELU(approximate={a['approximate'].src})")
    if op == "elu":
        extra = ", inplace=True" if inplace else ""
        return Lowered(op, f"nn.ELU(alpha={a['alpha'].src}{extra})")
    if op == "linear":
        bias = "" if a["bias"].known and a["bias"].value is True else f", bias={a['bias'].src}"
        return Lowered(op, f"nn.Linear({_need(in_channels, op, where).src}, {a['units'].src}{bias})")
    if op in ("maxpool", "avgpool"):
        return _pool(op, a, padding, where)
    if op in ("global_avg_pool", "global_max_pool"):
        keep = a["keepdims"]
        if not keep.known:
            raise BackendError(f"{where}: keepdims must be a plain true/false for the torch backend")
        cls = "nn.AdaptiveAvgPool2d" if op == "global_avg_pool" else "nn.AdaptiveMaxPool2d"
        return Lowered(op, f"{cls}((1, 1))", flatten=not keep.value)
    in_place = "inplace=True" if inplace else ""
    simple = {
        "relu": f"nn.ReLU({in_place})",
        "relu6": f"nn.ReLU6({in_place})",
        "sigmoid": "nn.Sigmoid()",
        "silu": "nn.SiLU()",
        "tanh": "nn.Tanh()",
        "softmax": "nn.Softmax(dim=1)",
        "identity": "nn.Identity()",
        "hardswish": f"nn.Hardswish({in_place})",
        "hardsigmoid": f"nn.Hardsigmoid({in_place})",
        "mish": f"nn.Mish({in_place})",
        "flatten": "nn.Flatten()",
    }
    if op in simple:
        return Lowered(op, simple[op])
    if op == "leaky_relu":
        extra = ", inplace=True" if inplace else ""
        return Lowered(op, f"nn.LeakyReLU(negative_slope={a['negative_slope'].src}{extra})")
    if op == "dropout":
        return Lowered(op, f"nn.Dropout(p={a['rate'].src})")
    raise BackendError(f"{where}: the torch backend has no lowering for op {op!r}")


def _need(val: Val | None, op: str, where: str) -> Val:
    if val is None:
        raise BackendError(f"{where}: cannot tell the input channels of this {op} in generated code")
    return val


def _conv(a: Mapping[str, Val], padding: Padding | None, in_channels: Val, where: str) -> Lowered:
    kernel, stride, dilation = pair(a["kernel"]), pair(a["stride"]), pair(a["dilation"])
    assert padding is not None
    kind, pads = _resolve(padding, kernel, stride, dilation)
    args = [in_channels.src, a["filters"].src, f"kernel_size={kernel.src}", f"stride={stride.src}"]
    out = Lowered("conv", None)
    standardize = a.get("standardize", known(False))
    if not standardize.known:
        raise BackendError(f"{where}: standardize must be a plain true/false for the torch backend")
    if kind == "dynamic":
        cls = STD_CONV_SAME if standardize.value else CONV_SAME
        out.helpers.add(cls)
        if standardize.value:
            out.helpers.add(STD_CONV)
    else:
        cls = STD_CONV if standardize.value else "nn.Conv2d"
        if standardize.value:
            out.helpers.add(STD_CONV)
        symmetric = _symmetric_src(pads) if kind == "static" else pads if kind == "sym" else None
        if symmetric is None:
            out.pad = _pad_module(pads, None)
            symmetric = "0"
        args.append(f"padding={symmetric}")
    if not (dilation.known and dilation.value == (1, 1)):
        args.append(f"dilation={dilation.src}")
    if not (a["groups"].known and a["groups"].value == 1):
        args.append(f"groups={a['groups'].src}")
    args.append(f"bias={a['bias'].src}")
    if standardize.value:
        args.append(f"eps={a['std_eps'].src}")
    out.ctor = f"{cls}({', '.join(args)})"
    return out


def _pool(op: str, a: Mapping[str, Val], padding: Padding | None, where: str) -> Lowered:
    kernel = pair(a["kernel"])
    given = a["stride"]
    stride = kernel if given.known and given.value is None else pair(given)  # default: the kernel
    assert padding is not None
    kind, pads = _resolve(padding, kernel, stride, known((1, 1)))
    ceil = a["ceil_mode"].src
    out = Lowered(op, None)
    head = f"kernel_size={kernel.src}, stride={stride.src}"
    if op == "maxpool":
        pad_value = a["pad_value"]
        if not pad_value.known:
            raise BackendError(f"{where}: pad_value must be -inf or 0, written plainly, for the torch backend")
        neg_inf = pad_value.value == float("-inf")
        fill = naming.literal(float("-inf")) if neg_inf else None
        if kind == "dynamic":
            out.helpers.add(MAXPOOL_SAME)
            out.ctor = f"{MAXPOOL_SAME}({head}, pad_value={naming.literal(pad_value.value)}, ceil_mode={ceil})"
            return out
        native = _native_pool_padding(kind, pads, kernel, zero_fill=not neg_inf)
        if native is None:
            out.pad = _pad_module(pads, fill)
            native = "0"
        out.ctor = f"nn.MaxPool2d({head}, padding={native}, ceil_mode={ceil})"
        return out
    include = a["count_include_pad"]
    if kind == "dynamic":
        out.helpers.add(AVGPOOL_SAME)
        out.ctor = f"{AVGPOOL_SAME}({head}, ceil_mode={ceil}, count_include_pad={include.src})"
        return out
    native = _native_pool_padding(kind, pads, kernel, zero_fill=False)
    if native is None:
        if not (include.known and include.value is True):
            raise BackendError(
                f"{where}: average pooling with asymmetric padding and count_include_pad: false has no "
                "exact PyTorch form; use symmetric padding or 'same'"
            )
        out.pad = _pad_module(pads, None)
        native = "0"
    out.ctor = f"nn.AvgPool2d({head}, padding={native}, ceil_mode={ceil}, count_include_pad={include.src})"
    return out


def _native_pool_padding(kind: str, pads: Any, kernel: Val, zero_fill: bool) -> str | None:
    """The ``padding=`` of a native pool, or None when an explicit pad module is needed."""
    if kind == "static":
        if zero_fill and any(pads):
            return None  # PyTorch pools pad with -inf (max) and are never asked for zeros
        symmetric = _symmetric_src(pads)
        return symmetric if symmetric is not None and _fits_window(pads, kernel) else None
    if kind == "sym":
        if zero_fill:
            raise BackendError("max pooling padded with 0 needs plain padding numbers for the torch backend")
        return pads
    return None  # an explicit box of expressions


pool_output = O.pool_output_after_explicit_pad  # one rule, shared with lint (AS407)


# --------------------------------------------------------------------------------------------
# spec values and expressions -> Python


def spec_vars(spec_vars: Mapping[str, Any]) -> dict[str, Any]:
    """A spec's ``vars`` evaluated in order, as the IR builder does."""
    out: dict[str, Any] = {}
    for key, value in spec_vars.items():
        try:
            out[key] = _evaluate_value(value, dict(out))
        except E.ExprError:
            continue  # reported by the IR builder; a backend never sees such a spec
    return out


def _evaluate_value(value: Any, env: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return E.evaluate(value, env)
    if isinstance(value, list):
        return [_evaluate_value(v, env) for v in value]
    return value


def _constant(value: Any) -> ast.expr:
    if isinstance(value, list):
        return ast.List([_constant(v) for v in value], ast.Load())
    return ast.Constant(value)


_ROUND_TO = ast.parse("max(M, int(V + M / 2) // M * M)", mode="eval").body


class ExprRenderer:
    """Spec expressions as Python source inside a block class's ``__init__``.

    ``scope`` holds the names that are Python locals there (``in_channels``, the parameters,
    the ``let`` values); other names are the spec's ``vars`` (``constants``) and are written as
    their values.  ``envs`` are the evaluation environments of the block's instances in the IR:
    ``/`` is exact division in the spec language (integer when both sides are), so it becomes
    ``//`` where every instance divides integers, ``/`` where they divide floats.
    """

    def __init__(self, scope: Iterable[str], constants: Mapping[str, Any], envs: list[Mapping[str, Any]], where: str):
        self.scope = set(scope)
        self.constants = dict(constants)
        self.envs = envs
        self.where = where

    # -- values ------------------------------------------------------------------------------
    def value(self, raw: Any) -> Val:
        """A spec value (number, boolean, expression string, or list of them)."""
        if isinstance(raw, bool) or isinstance(raw, (int, float)):
            return known(raw)
        if isinstance(raw, str):
            tree = self._parse(raw)
            names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - {"min", "max", "round_to"}
            if not names & self.scope:
                try:
                    return known(E.Expr(raw, tree).evaluate(self.constants))
                except E.ExprError as exc:
                    raise BackendError(f"{self.where}: {exc.message}") from None
            return Val(self.python_tree(tree))
        if isinstance(raw, list):
            vals = [self.value(v) for v in raw]
            if all(v.known for v in vals):
                return known(tuple(v.value for v in vals))
            inner = ", ".join(v.src for v in vals)
            return Val(f"({inner},)" if len(vals) == 1 else f"({inner})")
        if raw is None:
            return known(None)
        raise BackendError(f"{self.where}: cannot render the value {raw!r}")

    def python(self, text: str) -> str:
        return self.python_tree(self._parse(text))

    def _parse(self, text: str) -> ast.expr:
        try:
            return E.parse(text).tree
        except E.ExprError:
            # composed channel expressions may exceed the user-facing length limit
            return ast.parse(text, mode="eval").body

    def python_tree(self, tree: ast.expr) -> str:
        return ast.unparse(self._convert(copy.deepcopy(tree)))

    # -- conversion ----------------------------------------------------------------------------
    def _convert(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Name):
            if node.id in self.scope:
                return node
            if node.id in self.constants:
                return _constant(self.constants[node.id])
            raise BackendError(f"{self.where}: the name {node.id!r} is neither a block parameter nor a spec variable")
        if isinstance(node, ast.Call):
            args = [self._convert(a) for a in node.args]
            assert isinstance(node.func, ast.Name)
            if node.func.id == "round_to" and len(args) == 2:
                return _substitute(copy.deepcopy(_ROUND_TO), {"V": args[0], "M": args[1]})
            node.args = args
            return node
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Div):
                node.op = self._division(node)
            node.left = self._convert(node.left)
            node.right = self._convert(node.right)
            return node
        for name, value in ast.iter_fields(node):
            if isinstance(value, ast.expr):
                setattr(node, name, self._convert(value))
            elif isinstance(value, list):
                setattr(node, name, [self._convert(v) if isinstance(v, ast.expr) else v for v in value])
        return node

    def _division(self, node: ast.BinOp) -> ast.operator:
        kinds = set()
        for env in self.envs:
            try:
                left = E.Expr("", node.left).evaluate(env)
                right = E.Expr("", node.right).evaluate(env)
            except E.ExprError:
                continue
            kinds.add("int" if isinstance(left, int) and isinstance(right, int) else "float")
        if kinds == {"float"}:
            return ast.Div()
        if kinds <= {"int"}:
            return ast.FloorDiv()
        raise BackendError(
            f"{self.where}: '{ast.unparse(node)}' divides integers in some blocks and "
            "floats in others; write // or use floats throughout"
        )


def _substitute(tree: ast.expr, values: Mapping[str, ast.expr]) -> ast.expr:
    class Sub(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.expr:
            return copy.deepcopy(values[node.id]) if node.id in values else node

    return Sub().visit(tree)


def attr_defaults(op: str) -> dict[str, Any]:
    """The op's documented defaults (the registry's attribute model)."""
    opdef = O.get(op)
    if opdef is None:
        raise BackendError(f"unknown op {op!r}")
    out = {}
    for name, info in opdef.attrs.model_fields.items():
        if not info.is_required():
            out[name] = info.default
    return out
