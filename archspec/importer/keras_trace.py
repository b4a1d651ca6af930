"""Keras functional models -> a flat graph of registry ops.

Layers are read from the functional graph (each layer's inbound tensors).  A layer with a
fused activation (``Conv2D(..., activation="relu")``, ``Dense(..., activation="softmax")``)
becomes two ops; a ``ZeroPadding2D`` folds into the convolution or pooling that reads it
(explicit padding; zeros for a max pooling: ``pad_value: 0``).  Blocks: the layers sharing a
merge's name prefix (``conv2_block1_`` for ``conv2_block1_add``); for unnamed layers, the
layers between the merge and the tensor its two branches fork from.
"""

from __future__ import annotations

from typing import Any

from archspec.importer.flat import FlatGraph, FNode
from archspec.importer.torch_trace import ImportFailure

_ACT = {
    "relu": "relu",
    "relu6": "relu6",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "softmax": "softmax",
    "swish": "silu",
    "silu": "silu",
    "linear": None,
}


def _pair(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return int(value[0]) if len(value) == 2 and value[0] == value[1] else [int(v) for v in value]
    return int(value)


def _act_name(act: Any) -> str:
    return getattr(act, "__name__", str(act))


def _map(layer, cfg: dict) -> tuple[str | None, dict, str | None] | None:
    """(op, attrs, fused activation name) or None."""
    kind = type(layer).__name__
    if kind == "Conv2D":
        if cfg.get("data_format", "channels_last") != "channels_last":
            return None
        return (
            "conv",
            {
                "filters": cfg["filters"],
                "kernel": _pair(cfg["kernel_size"]),
                "stride": _pair(cfg["strides"]),
                "padding": cfg["padding"] if cfg["padding"] == "same" else 0,
                "dilation": _pair(cfg["dilation_rate"]),
                "groups": cfg.get("groups", 1),
                "bias": bool(cfg["use_bias"]),
            },
            cfg.get("activation"),
        )
    if kind == "BatchNormalization":
        axis = cfg.get("axis")
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        if axis not in (-1, 3) or not cfg.get("center", True) or not cfg.get("scale", True):
            return None
        return "batchnorm", {"eps": float(cfg["epsilon"]), "momentum": round(1.0 - float(cfg["momentum"]), 12)}, None
    if kind == "Activation":
        act = cfg["activation"]
        if act not in _ACT:
            return None
        return (_ACT[act] or "identity"), {}, None
    if kind == "ReLU":
        if cfg.get("negative_slope", 0) or cfg.get("threshold", 0):
            return None
        if cfg.get("max_value") is None:
            return "relu", {}, None
        return ("relu6", {}, None) if float(cfg["max_value"]) == 6.0 else None
    if kind == "LeakyReLU":
        return "leaky_relu", {"negative_slope": float(cfg.get("negative_slope", cfg.get("alpha", 0.3)))}, None
    if kind == "Softmax":
        return ("softmax", {}, None) if cfg.get("axis", -1) in (-1, 3) else None
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        op = "maxpool" if kind == "MaxPooling2D" else "avgpool"
        attrs = {
            "kernel": _pair(cfg["pool_size"]),
            "stride": _pair(cfg["strides"] or cfg["pool_size"]),
            "padding": "same" if cfg["padding"] == "same" else 0,
        }
        if op == "avgpool" and cfg["padding"] == "same":
            attrs["count_include_pad"] = False
        return op, attrs, None
    if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        op = "global_avg_pool" if "Average" in kind else "global_max_pool"
        return op, {"keepdims": bool(cfg.get("keepdims", False))}, None
    if kind == "Dense":
        return "linear", {"units": cfg["units"], "bias": bool(cfg["use_bias"])}, cfg.get("activation")
    if kind == "Add":
        return "add", {}, None
    if kind == "Multiply":
        return "multiply", {}, None
    if kind == "Concatenate":
        return ("concat", {}, None) if cfg.get("axis", -1) in (-1, 3) else None
    if kind == "Flatten":
        return "flatten", {}, None
    if kind == "Dropout":
        return "dropout", {"rate": float(cfg["rate"])}, None
    return None


def _chw(shape) -> tuple[int, ...] | None:
    dims = tuple(shape[1:])
    if any(d is None for d in dims):
        return None
    return (dims[2], dims[0], dims[1]) if len(dims) == 3 else tuple(dims)


def trace(model, name: str, input_size: tuple[int, int] | None = None) -> FlatGraph:
    import keras

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ImportFailure("the Keras model has several inputs or outputs; archspec models have one of each")
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4:
        raise ImportFailure(f"the Keras model's input {shape} is not an image (batch, height, width, channels)")
    h, w = shape[1], shape[2]
    if h is None or w is None or input_size is not None:
        size = input_size or (224, 224)
        if h is not None and (h, w) != tuple(size):
            raise ImportFailure(f"the Keras model's input is fixed at {h}x{w}")
        inp = keras.Input((size[0], size[1], shape[3]))
        model = keras.Model(inp, model(inp)) if h is None else model
        h, w = size
    flat = FlatGraph("keras", name, (int(shape[3]), int(h), int(w)))
    alias: dict[str, str] = {}
    pads: dict[str, tuple[str, Any]] = {}  # ZeroPadding2D name -> (input id, padding)
    flat.fused = {}  # type: ignore[attr-defined]
    for layer in model.layers:
        kind = type(layer).__name__
        inbound = layer._inbound_nodes[0]
        srcs = [t._keras_history[0].name for t in inbound.input_tensors]
        if kind == "InputLayer":
            alias[layer.name] = "input"
            continue
        cfg = layer.get_config()
        out_shape = _chw(layer.output.shape)
        if kind == "ZeroPadding2D":
            (t, b), (left, r) = cfg["padding"]
            pads[layer.name] = (alias.get(srcs[0], "?"), [[t, b], [left, r]] if (t, left) != (b, r) or t != left else t)
            continue
        mapped = _map(layer, cfg)
        inputs = []
        extra: dict[str, Any] = {}
        for s in srcs:
            if s in pads:
                src, pad = pads[s]
                inputs.append(src)
                if mapped and mapped[0] in ("conv", "maxpool", "avgpool") and mapped[1].get("padding") == 0:
                    extra["padding"] = pad
                    if mapped[0] == "maxpool":
                        extra["pad_value"] = 0.0
                    if mapped[0] == "avgpool":
                        extra["count_include_pad"] = True
                else:
                    flat.problems.append(
                        f"{s}: ZeroPadding2D feeds {layer.name} ({kind}), which cannot take its padding"
                    )
            else:
                inputs.append(alias.get(s, "?"))
        if mapped is None:
            flat.problems.append(f"{layer.name}: {kind} has no archspec op ({_describe(cfg)})")
            op, attrs, act = None, {}, None
        else:
            op, attrs, act = mapped
            attrs = {**attrs, **extra}
        if op == "flatten" and out_shape is not None:
            before = _chw(layer.input.shape)
            if before is not None and len(before) == 3 and before[1:] != (1, 1):
                flat.problems.append(
                    f"{layer.name}: Flatten over a {before[1]}x{before[2]} map flattens in NHWC order; "
                    "archspec's flatten is channel-major (PyTorch's)"
                )
        weighted = bool(layer.weights)
        node = FNode(layer.name, op, attrs, inputs, layer.name, "", f"keras.layers.{kind}", None, out_shape, weighted)
        flat.nodes.append(node)
        alias[layer.name] = layer.name
        act_name = _act_name(act) if act is not None else "linear"
        if act_name != "linear":
            if act_name not in _ACT:
                flat.problems.append(f"{layer.name}: activation {act_name!r} has no archspec op")
            else:
                act_id = f"{layer.name}/{act_name}"
                flat.nodes.append(
                    FNode(act_id, _ACT[act_name], {}, [layer.name], None, "", f"activation {act_name}", None, out_shape)
                )
                alias[layer.name] = act_id
                flat.fused[layer.name] = act_id  # type: ignore[attr-defined]
    out = model.outputs[0]._keras_history[0].name
    flat.output = alias.get(out, "?")
    _scopes(flat)
    return flat


def _describe(cfg: dict) -> str:
    keys = [k for k in ("activation", "padding", "axis", "data_format") if k in cfg]
    return ", ".join(f"{k}={cfg[k]!r}" for k in keys) or "no op of the registry computes it"


def _scopes(flat: FlatGraph) -> None:
    """Give each node of a residual block the block's prefix as its scope."""
    order = {n.id: i for i, n in enumerate(flat.nodes)}
    by_id = flat.by_id()
    users = flat.users()
    for merge in [n for n in flat.nodes if n.op in ("add", "concat") and len(n.inputs) >= 2]:
        prefix = merge.path.rsplit("_", 1)[0] if "_" in merge.path else ""
        named = [n for n in flat.nodes if n.path and n.path.startswith(prefix + "_")]
        if prefix and len(named) >= 3 and any(n.weighted for n in named):
            for n in flat.nodes:
                if (n.path or n.id.split("/")[0]).startswith(prefix + "_") and not n.scope:
                    n.scope = prefix
            inside = [order[n.id] for n in flat.nodes if n.scope == prefix]
            for n in flat.nodes:  # an unnamed layer inside the block (ResNetV2's 1x1 max pool shortcut)
                if not n.scope and min(inside) < order[n.id] < max(inside):
                    if all(by_id[u].scope == prefix for u in users.get(n.id, [])):
                        n.scope = prefix
            continue

        def ancestors(x: str) -> set[str]:
            seen, todo = set(), [x]
            while todo:
                y = todo.pop()
                if y in seen or y == "input":
                    continue
                seen.add(y)
                todo.extend(by_id[y].inputs)
            return seen

        a, b = merge.inputs[:2]
        common = (ancestors(a) | {a}) & (ancestors(b) | {b})
        fork = max(common, key=lambda x: order.get(x, -1)) if common else "input"
        start = order.get(fork, -1)
        members = [n for n in flat.nodes if start < order[n.id] <= order[merge.id]]
        cur = merge
        while True:  # the activations right after the merge belong to the block
            nxt = users.get(cur.id, [])
            if len(nxt) != 1 or by_id[nxt[0]].weighted or by_id[nxt[0]].op in ("add", "concat", None):
                break
            if by_id[nxt[0]].op not in ("relu", "relu6", "leaky_relu", "silu", "sigmoid", "tanh", "identity"):
                break
            cur = by_id[nxt[0]]
            members.append(cur)
        for n in members:
            if not n.scope:
                n.scope = merge.path
