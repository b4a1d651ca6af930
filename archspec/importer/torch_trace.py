"""PyTorch models -> a flat graph of registry ops, through torch.fx.

The model is traced symbolically (``torch.fx.Tracer``: torch.nn layers stay calls of their
module, user modules are traced through, so every function call in a ``forward`` is seen),
then run once on a sample input to record each node's shape.  Every node maps to one op
with exact attributes; one that does not becomes a problem naming its module path and the
line of Python that called it.
"""

from __future__ import annotations

import operator
import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from archspec.importer.flat import FlatGraph, FNode

_TORCH_DIR = re.escape(str(__import__("pathlib").Path(torch.__file__).parent))
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


class ImportFailure(Exception):
    """The target cannot be traced at all (a message for the user)."""


def _pair(value: Any) -> int | list[int]:
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and value[0] == value[1]:
            return int(value[0])
        return [int(v) for v in value]
    return int(value)


def _source(node: fx.Node) -> str | None:
    trace = node.stack_trace or ""
    frames = [(f, int(n)) for f, n in _FRAME.findall(trace)]
    user = [(f, n) for f, n in frames if not re.match(_TORCH_DIR, f) and "/torch/" not in f]
    if not user:
        return None
    file, line = user[-1]
    return f"{_display(file)}:{line}"


def _display(file: str) -> str:
    import os

    try:
        rel = os.path.relpath(file)
    except ValueError:
        return file
    return rel if not rel.startswith("..") else file


def _std_conv(module: nn.Module) -> bool:
    """timm's StdConv2d: a Conv2d whose forward standardizes each filter (F.batch_norm over
    the weight, biased variance, ``eps`` inside the root), which the conv op's ``standardize``
    computes; traced as one layer."""
    cls = type(module)
    return cls.__name__ == "StdConv2d" and cls.__module__.startswith("timm.") and isinstance(module, nn.Conv2d)


def _timm_norm_act(module: nn.Module) -> str | None:
    """``evonorm_s0`` for timm's EvoNorm2dS0 and ``frn_tlu`` for its FilterResponseNormTlu2d
    (exactly these classes, with their activation: v or tau); traced as one layer."""
    cls = type(module)
    if not cls.__module__.startswith("timm."):
        return None
    if cls.__name__ == "EvoNorm2dS0" and getattr(module, "v", None) is not None:
        return "evonorm_s0"
    if cls.__name__ == "FilterResponseNormTlu2d" and getattr(module, "tau", None) is not None:
        return "frn_tlu"
    return None


def _blur_pool(module: nn.Module) -> int | None:
    """The binomial filter size of timm's BlurPool2d (reflect padding on every side by timm's
    get_padding, then a depthwise convolution with a fixed binomial filter: the blur_pool op),
    read from the module's own filter; None for anything else."""
    cls = type(module)
    if cls.__name__ != "BlurPool2d" or not cls.__module__.startswith("timm."):
        return None
    size = getattr(module, "filt_size", None)
    filt = getattr(module, "filt", None)
    stride = getattr(module, "stride", None)
    if not isinstance(size, int) or not isinstance(stride, int) or not isinstance(filt, torch.Tensor):
        return None
    if getattr(module, "pad_mode", None) != "reflect":
        return None
    if list(getattr(module, "padding", [])) != [(stride - 1 + size - 1) // 2] * 4:
        return None
    from math import comb

    row = torch.tensor([comb(size - 1, k) for k in range(size)], dtype=torch.float64) / 2 ** (size - 1)
    expected = (row[:, None] * row[None, :]).to(filt.dtype)
    if filt.dim() != 4 or filt.shape[1:] != (1, size, size) or not torch.allclose(filt, expected.expand_as(filt)):
        return None
    return size


def _radix_softmax(module: nn.Module) -> tuple[int, int] | None:
    """(radix, cardinality) of timm's RadixSoftmax (ResNeSt's softmax across the radix parts
    of each cardinality group: the radix_softmax op; a sigmoid for radix 1); None otherwise."""
    cls = type(module)
    if cls.__name__ != "RadixSoftmax" or not cls.__module__.startswith("timm."):
        return None
    radix, cardinality = getattr(module, "radix", None), getattr(module, "cardinality", None)
    if not isinstance(radix, int) or not isinstance(cardinality, int) or radix < 1 or cardinality < 1:
        return None
    return radix, cardinality


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        leaf = _std_conv(m) or _blur_pool(m) is not None or _radix_softmax(m) is not None
        leaf = leaf or _timm_norm_act(m) is not None
        return leaf or super().is_leaf_module(m, module_qualified_name)


def _module_map(module: nn.Module) -> tuple[str, dict[str, Any]] | None:
    """(op, attrs) for a torch.nn layer, or None if it maps to no op."""
    if type(module) is nn.Conv2d or _std_conv(module):
        if module.padding_mode != "zeros":
            return None
        padding = module.padding if isinstance(module.padding, str) else _pair(module.padding)
        extra = {"standardize": True, "std_eps": float(module.eps)} if _std_conv(module) else {}
        return "conv", {
            "filters": module.out_channels,
            "kernel": _pair(module.kernel_size),
            "stride": _pair(module.stride),
            "padding": padding,
            "dilation": _pair(module.dilation),
            "groups": module.groups,
            "bias": module.bias is not None,
            **extra,
        }
    if _radix_softmax(module) is not None:
        radix, cardinality = _radix_softmax(module)
        return ("radix_softmax", {"radix": radix, "groups": cardinality}) if radix > 1 else ("sigmoid", {})
    if _blur_pool(module) is not None:
        return "blur_pool", {"filter": _blur_pool(module), "stride": int(module.stride)}
    if type(module) is nn.Conv1d:
        # ECA's convolution across the channels of a pooled vector: one input and output
        # channel, an odd kernel padded to keep the length, no bias
        k = int(module.kernel_size[0])
        if (
            module.in_channels == module.out_channels == 1
            and module.groups == 1
            and module.bias is None
            and k % 2 == 1
            and module.padding_mode == "zeros"
            and tuple(module.stride) == (1,)
            and tuple(module.dilation) == (1,)
            and tuple(module.padding) == ((k - 1) // 2,)
        ):
            return "channel_conv", {"kernel": k}
        return None
    if type(module) in (nn.ConstantPad2d, nn.ZeroPad2d):  # folded into the conv or pool it feeds
        left, right, top, bottom = (int(v) for v in module.padding)
        padding = top if len({left, right, top, bottom}) == 1 else [[top, bottom], [left, right]]
        return "_pad", {"padding": padding, "value": float(module.value)}
    norm_act = _timm_norm_act(module)
    if norm_act == "evonorm_s0":
        return norm_act, {"groups": module.groups, "eps": float(module.eps)}
    if norm_act == "frn_tlu":
        return norm_act, {"eps": float(module.eps)}
    if type(module) is nn.GroupNorm:
        if not module.affine:
            return None
        return "groupnorm", {"groups": module.num_groups, "eps": float(module.eps)}
    if type(module) is nn.BatchNorm2d:
        if module.momentum is None or not module.affine or not module.track_running_stats:
            return None
        return "batchnorm", {"eps": float(module.eps), "momentum": float(module.momentum)}
    simple = {
        nn.ReLU: "relu",
        nn.ReLU6: "relu6",
        nn.Sigmoid: "sigmoid",
        nn.SiLU: "silu",
        nn.Tanh: "tanh",
        nn.Identity: "identity",
    }
    if type(module) in simple:
        return simple[type(module)], {}
    if type(module) is nn.LeakyReLU:
        return "leaky_relu", {"negative_slope": float(module.negative_slope)}
    if type(module) is nn.Softmax:
        # dim=None: torch's implicit choice, the channels for 2-D and 4-D inputs
        return ("softmax", {}) if module.dim in (1, -3, None) else None
    if type(module) is nn.Dropout:
        return "dropout", {"rate": float(module.p)}
    if type(module) is nn.MaxPool2d:
        if _pair(module.dilation) != 1 or module.return_indices:
            return None
        return "maxpool", {
            "kernel": _pair(module.kernel_size),
            "stride": _pair(module.stride if module.stride is not None else module.kernel_size),
            "padding": _pair(module.padding),
            "ceil_mode": bool(module.ceil_mode),
        }
    if type(module) is nn.AvgPool2d:
        if module.divisor_override is not None:
            return None
        return "avgpool", {
            "kernel": _pair(module.kernel_size),
            "stride": _pair(module.stride if module.stride is not None else module.kernel_size),
            "padding": _pair(module.padding),
            "ceil_mode": bool(module.ceil_mode),
            "count_include_pad": bool(module.count_include_pad),
        }
    if type(module) in (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d):
        if _pair(module.output_size) != 1:
            return None
        kind = "global_avg_pool" if type(module) is nn.AdaptiveAvgPool2d else "global_max_pool"
        return kind, {"keepdims": True}
    if type(module) is nn.Linear:
        return "linear", {"units": module.out_features, "bias": module.bias is not None}
    if type(module) is nn.Flatten:
        return ("flatten", {}) if module.start_dim == 1 and module.end_dim == -1 else None
    return None


_ACTIVATIONS = {
    F.relu: "relu",
    torch.relu: "relu",
    torch.relu_: "relu",
    F.relu6: "relu6",
    torch.sigmoid: "sigmoid",
    F.sigmoid: "sigmoid",
    F.silu: "silu",
    torch.tanh: "tanh",
    F.tanh: "tanh",
}
_METHOD_ACTIVATIONS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}
_MERGES = {
    operator.add: "add",
    operator.iadd: "add",
    torch.add: "add",
    operator.mul: "multiply",
    operator.imul: "multiply",
    torch.mul: "multiply",
}
_PASS = {"contiguous", "clone"}


def _arg(node: fx.Node, index: int, key: str, default: Any = None) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(key, default)


def _shape_of(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    if meta is None or not hasattr(meta, "shape"):
        return None
    return tuple(int(s) for s in meta.shape)


def _function_map(node: fx.Node, shape: tuple[int, ...] | None, in_shape: tuple[int, ...] | None):
    """(op, attrs, tensor inputs) for a function or method call, or None."""
    target = node.target
    tensors = [a for a in node.args if isinstance(a, fx.Node)]
    if node.op == "call_function" and target is operator.getitem:
        return _split_part(node)
    five = in_shape is not None and len(in_shape) == 5  # (B, R, C/R, H, W): R parts of the channels
    if five and _reduces_dim1(node):
        return "radix_sum", {"radix": int(in_shape[1])}, tensors[:1]
    if five and _softmax_dim1(node):
        return "radix_softmax", {"radix": int(in_shape[1]), "groups": 1}, tensors[:1]
    if node.op == "call_function":
        if target is torch.stack and _arg(node, 1, "dim", 0) == 1:
            items = node.args[0] if node.args else node.kwargs.get("tensors")
            if isinstance(items, (list, tuple)) and all(isinstance(i, fx.Node) for i in items):
                if all(len(_shape_of(i) or ()) == 4 for i in items):
                    return "concat", {}, list(items)  # (B, R, C, H, W) is R parts of R*C channels
            return None
        if target in _ACTIVATIONS:
            return _ACTIVATIONS[target], {}, tensors[:1]
        if target is F.leaky_relu:
            return "leaky_relu", {"negative_slope": float(_arg(node, 1, "negative_slope", 0.01))}, tensors[:1]
        if target in _MERGES and len(tensors) == 2 and not node.kwargs.get("alpha"):
            return _MERGES[target], {}, tensors
        if target in (torch.cat, torch.concat):
            items = node.args[0] if node.args else node.kwargs.get("tensors")
            dim = _arg(node, 1, "dim", 0)
            if isinstance(items, (list, tuple)) and all(isinstance(i, fx.Node) for i in items) and dim in (1, -3):
                return "concat", {}, list(items)
            return None
        if target is torch.flatten:
            if _arg(node, 1, "start_dim", 0) == 1 and _arg(node, 2, "end_dim", -1) == -1:
                return "flatten", {}, tensors[:1]
            return None
        if target in (F.softmax, torch.softmax) and _arg(node, 1, "dim") in (1, -3):
            return "softmax", {}, tensors[:1]
        if target is F.adaptive_avg_pool2d and _pair(_arg(node, 1, "output_size")) == 1:
            return "global_avg_pool", {"keepdims": True}, tensors[:1]
        if target is F.adaptive_max_pool2d and _pair(_arg(node, 1, "output_size")) == 1:
            return "global_max_pool", {"keepdims": True}, tensors[:1]
        return None
    if node.op == "call_method":
        if target in _METHOD_ACTIVATIONS:
            return _METHOD_ACTIVATIONS[target], {}, tensors[:1]
        if target in ("add", "add_", "mul", "mul_") and len(tensors) == 2 and not node.kwargs:
            return ("add" if target.startswith("add") else "multiply"), {}, tensors
        if target == "flatten":
            if _arg(node, 1, "start_dim", 0) == 1 and _arg(node, 2, "end_dim", -1) == -1:
                return "flatten", {}, tensors[:1]
            return None
        if target in ("view", "reshape") and shape is not None and in_shape is not None:
            # x.view(x.size(0), -1): a flatten when it keeps the batch and joins the rest
            if len(shape) == 2 and shape[0] == in_shape[0] and len(in_shape) > 2:
                return "flatten", {}, tensors[:1]
            return None
        if target == "mean" and shape is not None:
            dims = _arg(node, 1, "dim")
            keep = bool(_arg(node, 2, "keepdim", False))
            if isinstance(dims, (list, tuple)) and sorted(d % 4 for d in dims) == [2, 3]:
                return "global_avg_pool", {"keepdims": keep}, tensors[:1]
            return None
        if target == "softmax" and _arg(node, 1, "dim") in (1, -3):
            return "softmax", {}, tensors[:1]
    return None


def _reduces_dim1(node: fx.Node) -> bool:
    """``x.sum(1)`` / ``torch.sum(x, dim=1)`` without keepdim."""
    if not (
        (node.op == "call_method" and node.target == "sum") or (node.op == "call_function" and node.target is torch.sum)
    ):
        return False
    return _arg(node, 1, "dim") in (1, (1,), [1]) and not _arg(node, 2, "keepdim", False)


def _softmax_dim1(node: fx.Node) -> bool:
    if node.op == "call_method" and node.target == "softmax":
        return _arg(node, 1, "dim") == 1
    return node.op == "call_function" and node.target in (F.softmax, torch.softmax) and _arg(node, 1, "dim") == 1


def _split_part(node: fx.Node):
    """Part ``i`` of ``torch.split(x, size, 1)`` (or ``x.split(size, 1)``): a channel slice of
    ``x`` (Res2Net's scales, SKNet's split input)."""
    whole, index = node.args[0], node.args[1]
    if not isinstance(whole, fx.Node) or not isinstance(index, int):
        return None
    is_split = (whole.op == "call_function" and whole.target is torch.split) or (
        whole.op == "call_method" and whole.target == "split"
    )
    if not is_split or _arg(whole, 2, "dim", 0) not in (1, -3):
        return None
    source = whole.args[0]
    sizes = _arg(whole, 1, "split_size_or_sections") if whole.op == "call_function" else _arg(whole, 1, "split_size")
    in_shape = _shape_of(source) if isinstance(source, fx.Node) else None
    if in_shape is None or len(in_shape) != 4:
        return None
    channels = in_shape[1]
    if isinstance(sizes, int) and sizes > 0:
        bounds = [(start, min(sizes, channels - start)) for start in range(0, channels, sizes)]
    elif isinstance(sizes, (list, tuple)) and all(isinstance(v, int) for v in sizes) and sum(sizes) == channels:
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        bounds = list(zip(starts, sizes))
    else:
        return None
    if not -len(bounds) <= index < len(bounds):
        return None
    start, size = bounds[index]
    return "channel_slice", {"start": start, "size": size}, [source]


def _what(node: fx.Node, modules: dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        module = modules[node.target]
        return f"{type(module).__module__.replace('torch.nn.modules.', 'nn.').split('.')[0]}.{type(module).__name__}"
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    target = node.target
    mod = getattr(target, "__module__", None) or "torch"
    return f"{mod}.{getattr(target, '__name__', str(target))}"


def trace(model: nn.Module, input_shape: tuple[int, int, int], name: str) -> FlatGraph:
    """The flat graph of ``model`` for inputs of ``input_shape`` (C, H, W)."""
    from torch.fx.passes.shape_prop import ShapeProp

    model.eval()
    tracer = _Tracer()
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # noqa: BLE001 - the message is the user's diagnosis
        raise ImportFailure(f"torch.fx cannot trace the model: {type(exc).__name__}: {exc}") from None
    gm = fx.GraphModule(model, graph)
    sample = torch.randn(2, *input_shape)
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(sample)
    except Exception as exc:  # noqa: BLE001
        raise ImportFailure(
            f"the model does not run on a {list(input_shape)} input: {type(exc).__name__}: {exc}"
        ) from None
    modules = dict(model.named_modules())
    flat = FlatGraph("torch", name, tuple(input_shape))
    alias: dict[str, str] = {}  # fx node name -> flat node id (pass-through nodes)
    calls: dict[str, int] = {}
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ImportFailure(f"the model's forward takes {len(placeholders)} inputs; archspec models take one")
    alias[placeholders[0].name] = "input"
    for node in graph.nodes:
        if node.op in ("placeholder", "get_attr"):
            continue
        if node.op == "output":
            result = node.args[0]
            if not isinstance(result, fx.Node) or result.name not in alias:
                flat.problems.append("the model's output is not a single tensor computed by mapped layers")
            else:
                flat.output = alias[result.name]
            continue
        shape = _shape_of(node)
        if shape is None:
            continue  # x.size(0), x.shape: bookkeeping, not a tensor
        stack = node.meta.get("nn_module_stack") or {}
        scope_paths = [p for p, _ in stack.values()]
        source = _source(node)
        if node.op == "call_module":
            module = modules[node.target]
            mapped = _module_map(module)
            tensors = [a for a in node.args if isinstance(a, fx.Node)]
            path = node.target
            scope = path.rpartition(".")[0]
            calls[path] = calls.get(path, 0) + 1
        else:
            if node.op == "call_method" and node.target in _PASS:
                src = node.args[0]
                if isinstance(src, fx.Node) and src.name in alias:
                    alias[node.name] = alias[src.name]
                    continue
            first = next((a for a in node.args if isinstance(a, fx.Node)), None)
            in_shape = _shape_of(first) if first is not None else None
            fm = _function_map(node, shape, in_shape)
            if (
                fm is None
                and first is not None
                and first.name in alias
                and _relayout(node, shape, in_shape, alias[first.name], flat)
            ):
                alias[node.name] = alias[first.name]
                continue
            mapped = (fm[0], fm[1]) if fm else None
            tensors = fm[2] if fm else [a for a in node.args if isinstance(a, fx.Node)]
            path = None
            scope = scope_paths[-1] if scope_paths else ""
            norm = _functional_batchnorm(node, modules)
            if norm is not None:  # F.batch_norm on a module's own statistics (timm's BatchNormAct2d)
                path, mapped, tensors = norm[0], norm[1], [node.args[0]]
                scope = path.rpartition(".")[0]
                calls[path] = calls.get(path, 0) + 1
        what = _what(node, modules)
        inputs = [alias[t.name] for t in tensors if t.name in alias]
        fnode = FNode(
            id=node.name,
            op=mapped[0] if mapped else None,
            attrs=mapped[1] if mapped else {},
            inputs=inputs,
            path=path,
            scope=scope,
            what=what,
            source=source,
            shape=shape[1:],
        )
        if path is not None and node.op != "call_module":
            fnode.weighted = True
        if node.op == "call_module":
            fnode.weighted = any(True for _ in modules[node.target].parameters(recurse=False)) or any(
                True for _ in modules[node.target].buffers(recurse=False)
            )
        if mapped is None:
            where = path or (scope or "the model") + f" ({what})"
            flat.problems.append(
                f"{where}: {what} has no archspec op"
                + (f" (at {source})" if source else "")
                + (f"; {_why(modules[node.target])}" if node.op == "call_module" else "")
            )
        flat.nodes.append(fnode)
        alias[node.name] = fnode.id
    _fold_pads(flat)
    _drop_unused(flat)
    _eca_kernels(flat)
    flat.classes = {path: type(m).__name__ for path, m in modules.items()}
    for n in flat.nodes:
        if n.path is not None:
            n.calls = calls.get(n.path, 1)
    return flat


_VECTOR_OPS = {"channel_conv", "sigmoid", "relu", "relu6", "silu", "tanh", "leaky_relu", "identity"}


def _vector(shape: tuple[int, ...]) -> int | None:
    """The length of a per-sample shape holding one axis of values ((C,), (1, C), (C, 1, 1))."""
    big = [d for d in shape if d != 1]
    return None if len(big) > 1 else (big[0] if big else 1)


def _relayout(node: fx.Node, shape, in_shape, source: str, flat: FlatGraph) -> bool:
    """Whether a view, reshape or expand only lays out a pooled channel vector for the next
    layer (ECA's ``y.view(b, 1, -1)`` before its 1-D convolution and ``view(b, -1, 1, 1)``
    after, ``y.expand_as(x)`` before the product): the same values, so the node is its input.
    Where the vector goes back to (C, 1, 1) it came from a global pooling that dropped the 1x1
    axes through layers that keep them; that pooling keeps them instead, as the spec writes it."""
    if node.op != "call_method" or shape is None or in_shape is None:
        return False
    inner, outer = tuple(in_shape[1:]), tuple(shape[1:])
    if node.target in ("expand_as", "expand"):
        # broadcast of a (C, 1, 1) gate over a (C, H, W) map: the product broadcasts it itself
        return len(inner) == 3 and inner[1:] == (1, 1) and len(outer) == 3 and outer[0] == inner[0]
    if node.target in ("view", "reshape") and len(outer) == 4 and len(inner) == 3:
        # (C, H, W) read as R parts of C/R channels, (R, C/R, H, W): the same memory
        return outer[0] * outer[1] == inner[0] and outer[2:] == inner[1:]
    if node.target in ("view", "reshape") and len(outer) == 3 and len(inner) == 4:
        return inner[0] * inner[1] == outer[0] and outer[1:] == inner[2:]
    if node.target not in ("view", "reshape") or _vector(inner) is None or _vector(inner) != _vector(outer):
        return False
    if len(outer) != 3 or outer[1:] != (1, 1):
        return len(outer) < 3  # (C,) <-> (1, C): the layout of the 1-D convolution
    if len(inner) == 3:
        return True
    by_id = flat.by_id()
    chain = []
    current = by_id.get(source)
    users = flat.users()
    while current is not None and current.op in _VECTOR_OPS | {"radix_softmax"} and len(current.inputs) == 1:
        if len(users.get(current.id, [])) > 1:
            return False
        chain.append(current)
        before = by_id.get(current.inputs[0])
        if before is not None and before.shape == outer:
            # a layer that flattened its (C, 1, 1) input (timm's RadixSoftmax): in the spec it
            # keeps the layout it was given
            for n in chain:
                n.shape = outer
            return True
        current = before
    if current is None or current.op not in ("global_avg_pool", "global_max_pool") or current.attrs.get("keepdims"):
        return False
    if len(users.get(current.id, [])) != 1:
        return False
    current.attrs = {**current.attrs, "keepdims": True}
    for n in [current, *chain]:
        n.shape = outer
    return True


def _drop_unused(flat: FlatGraph) -> None:
    """A layer without weights whose result nothing reads (Res2Net's ``sp = spx[0]``, kept
    "for torchscript") computes nothing the model gives: left out."""
    while True:
        users = flat.users()
        dead = {
            n.id
            for n in flat.nodes
            if n.op is not None and not n.weighted and not users.get(n.id) and n.id != flat.output
        }
        if not dead:
            return
        flat.nodes = [n for n in flat.nodes if n.id not in dead]


def _eca_kernels(flat: FlatGraph) -> None:
    """A channel convolution whose kernel is the one ECA-Net derives from the channel count
    is written ``kernel: auto``, as its spec would be."""
    from archspec.ir.ops import ChannelConvAttrs

    for n in flat.nodes:
        if n.op == "channel_conv" and n.shape is not None and _vector(n.shape):
            if ChannelConvAttrs(kernel="auto").size(_vector(n.shape)) == n.attrs["kernel"]:
                n.attrs = {**n.attrs, "kernel": "auto"}


def _fold_pads(flat: FlatGraph) -> None:
    """A constant padding read only by a convolution (zeros) or a pooling without padding of
    its own becomes that layer's padding (a max pool's ``pad_value``: timm's ResNetV2 stem)."""
    users = flat.users()
    by_id = flat.by_id()
    drop = set()
    for pad in [n for n in flat.nodes if n.op == "_pad"]:
        after = [by_id[u] for u in users.get(pad.id, [])]
        value = pad.attrs["value"]
        if len(after) == 1 and after[0].op in ("conv", "maxpool", "avgpool") and after[0].attrs.get("padding") == 0:
            layer = after[0]
            if layer.op == "conv" and value != 0.0:
                continue
            if layer.op == "avgpool" and (value != 0.0 or not layer.attrs.get("count_include_pad", True)):
                continue
            layer.attrs = {**layer.attrs, "padding": pad.attrs["padding"]}
            if layer.op == "maxpool":
                layer.attrs["pad_value"] = value
            layer.inputs = [pad.inputs[0] if i == pad.id else i for i in layer.inputs]
            drop.add(pad.id)
    flat.nodes = [n for n in flat.nodes if n.id not in drop]
    for n in flat.nodes:
        if n.op == "_pad":
            n.op = None  # a padding nothing takes: reported as unmapped
            where = n.path or n.scope or "the model"
            flat.problems.append(f"{where}: {n.what} feeds no convolution or pooling that can take its padding")


def _functional_batchnorm(node: fx.Node, modules: dict[str, nn.Module]):
    """(module path, (op, attrs)) for ``F.batch_norm(x, self.running_mean, ...)`` inside a
    BatchNorm2d subclass, or ``F.group_norm(x, groups, self.weight, ...)`` inside a GroupNorm
    subclass (timm's GroupNorm, GroupNormAct), read from the module itself; None otherwise."""
    if node.op == "call_function" and node.target is F.group_norm:
        weight = _arg(node, 2, "weight")
        if not isinstance(weight, fx.Node) or weight.op != "get_attr":
            return None
        path = str(weight.target).rpartition(".")[0]
        module = modules.get(path)
        if (
            not isinstance(module, nn.GroupNorm)
            or not module.affine
            or _arg(node, 1, "num_groups") != module.num_groups
        ):
            return None
        return path, ("groupnorm", {"groups": module.num_groups, "eps": float(module.eps)})
    if node.op != "call_function" or node.target is not F.batch_norm or len(node.args) < 2:
        return None
    stat = node.args[1]
    if not isinstance(stat, fx.Node) or stat.op != "get_attr":
        return None
    path = str(stat.target).rpartition(".")[0]
    module = modules.get(path)
    if not isinstance(module, nn.BatchNorm2d) or module.momentum is None or not module.affine:
        return None
    return path, ("batchnorm", {"eps": float(module.eps), "momentum": float(module.momentum)})


def _why(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d) and module.padding_mode != "zeros":
        return f"padding_mode={module.padding_mode!r} (archspec pads with zeros)"
    if isinstance(module, nn.BatchNorm2d):
        return "BatchNorm without running statistics, affine parameters or a fixed momentum"
    return "no op of the registry computes it"
