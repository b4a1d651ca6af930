"""Hypothesis strategies: random valid specs, random YAML, random mutations of real specs."""

from __future__ import annotations

import io

from hypothesis import strategies as st

BLOCKS = ["basic", "bottleneck", "bottleneck_v1", "preact_basic", "preact_bottleneck", "se_bottleneck", "bottleneck_d"]


@st.composite
def valid_specs(draw) -> dict:
    """A random, valid spec as plain data: a stem, 1-4 stages of a library block, a head."""
    size = draw(st.integers(24, 72))
    kernel = draw(st.sampled_from([1, 3, 5, 7]))
    stem_stride = draw(st.sampled_from([1, 2]))
    padding = draw(
        st.sampled_from(
            [kernel // 2, "same", [kernel // 2, kernel // 2], [[kernel // 2, kernel // 2], [kernel // 2, kernel // 2]]]
        )
    )
    stem = [
        {
            "op": "conv",
            "name": "conv1",
            "filters": draw(st.sampled_from([8, 16, 24])),
            "kernel": kernel,
            "stride": stem_stride if padding != "same" else 1,
            "padding": padding,
            "bias": draw(st.booleans()),
        }
    ]
    if draw(st.booleans()):
        stem += [
            {
                "op": "batchnorm",
                "name": "bn1",
                "eps": draw(st.sampled_from([1e-5, 1e-3, 1.001e-5])),
                "momentum": draw(st.sampled_from([0.1, 0.01])),
            },
            {"op": draw(st.sampled_from(["relu", "relu6", "silu", "sigmoid", "tanh"])), "name": "act1"},
        ]
    if draw(st.booleans()):
        stem.append(
            {"op": "maxpool", "name": "pool", "kernel": 3, "stride": 2, "padding": 1, "ceil_mode": draw(st.booleans())}
        )
    block = draw(st.sampled_from(BLOCKS))
    rows = []
    for _ in range(draw(st.integers(1, 3))):
        rows.append([draw(st.integers(1, 2)), draw(st.sampled_from([8, 16, 32])), draw(st.sampled_from([1, 2]))])
    head = [{"op": draw(st.sampled_from(["global_avg_pool", "global_max_pool"])), "name": "pool_out"}]
    if draw(st.booleans()):
        head.append({"op": "dropout", "name": "drop", "rate": 0.2})
    head.append({"op": "linear", "name": "fc", "units": draw(st.integers(1, 12)), "bias": draw(st.booleans())})
    return {
        "archspec": 1,
        "name": "random_net",
        "input": {"channels": draw(st.integers(1, 4)), "size": [size, draw(st.integers(24, 72))]},
        "stem": stem,
        "stages": {"block": block, "table": rows},
        "head": head,
    }


def dump_yaml(data) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = None
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "same",
            "valid",
            "-inf",
            "conv",
            "relu",
            "bottleneck",
            "width * 4",
            "__import__('os')",
            "in_channels",
            "layer{stage}",
        ]
    ),
)
KEYS = [
    "archspec",
    "name",
    "input",
    "stem",
    "stages",
    "head",
    "blocks",
    "op",
    "filters",
    "kernel",
    "stride",
    "padding",
    "table",
    "block",
    "first_block",
    "columns",
    "params",
    "body",
    "shortcut",
    "merge",
    "extends",
    "use",
    "vars",
    "defaults",
    "when",
    "inputs",
    "size",
    "channels",
    "units",
    "args",
    "depth",
]

yaml_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=6),
    ),
    max_leaves=30,
)


@st.composite
def mutated(draw, text: str) -> str:
    """``text`` with a few random edits: lines dropped, duplicated or swapped, characters replaced."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "dup", "swap", "char", "insert"]))
        if action == "drop":
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "char" and lines[i]:
            k = draw(st.integers(0, len(lines[i]) - 1))
            ch = draw(st.sampled_from(list("0123456789:-[]{},&*!|>'\"# \tx\u00e9\u0000")))
            lines[i] = lines[i][:k] + ch + lines[i][k + 1 :]
        else:
            lines.insert(i, draw(st.text(max_size=30)))
    return "\n".join(lines) + "\n"


def budget(ci: int, dev: int) -> int:
    """Example counts by profile: ARCHSPEC_FUZZ=dev (the default: the README's test command),
    ci (``.ci/run`` runs the property tests again with it, after the suite), long (ten times
    ci, for a thorough local run)."""
    import os

    profile = os.environ.get("ARCHSPEC_FUZZ") or "dev"
    return {"dev": dev, "ci": ci, "long": ci * 10}.get(profile, dev)


# --------------------------------------------------------------------------------------------
# The whole language: specs for the gate's invariant (tests/test_invariant.py)

import keyword as _keyword  # noqa: E402

#: the op kinds the generator below draws; test_invariant checks it is the whole registry
GENERATED_OPS = (
    "conv batchnorm groupnorm layernorm evonorm_s0 frn_tlu relu relu6 leaky_relu sigmoid silu tanh softmax identity "
    "dropout elu gelu hardsigmoid hardswish mish prelu maxpool avgpool global_avg_pool global_max_pool flatten linear "
    "add multiply concat blur_pool channel_conv channel_slice radix_softmax radix_sum"
).split()
#: ops of the registry the generator does not draw yet; test_invariant checks this list, so a new
#: op must be drawn or named here
NOT_YET_DRAWN: list[str] = []
ACTIVATIONS = ["relu", "relu6", "leaky_relu", "sigmoid", "silu", "tanh", "softmax", "identity", "dropout"]
ACTIVATIONS += ["elu", "gelu", "hardsigmoid", "hardswish", "mish", "prelu"]

#: names that collide with something: keywords, builtins, nn.Module attributes, the names the
#: generated modules use (extended from the committed generated files, see generated_names())
HOSTILE_NAMES = sorted(
    set(_keyword.kwlist)
    | {"int", "float", "bool", "list", "tuple", "len", "min", "max", "print", "range", "type", "object", "super"}
    | {"isinstance", "id", "input", "sum", "abs", "round", "dict", "set", "str", "open", "exec", "eval", "vars"}
    | {"forward", "training", "eval", "to", "compile", "to_empty", "register_forward_hook", "set_submodule"}
    | {"_parameters", "_buffers", "_modules", "_version", "children", "modules", "parameters", "state_dict"}
    | {"apply", "cuda", "double", "half", "train", "zero_grad", "add_module", "get_submodule", "buffers"}
    | {"keras", "layers", "ops", "x", "inputs", "round_to", "TorchPooling2D", "nn", "torch", "F", "self"}
    | {"conv2d_same", "max_pool2d_same", "avg_pool2d_same", "Conv2dSame", "pad_same", "_pair", "out"}
    | {"shortcut", "identity", "model", "Model", "input_shape", "name", "stride", "width", "in_channels"}
)
PLAIN_NAMES = ["conv1", "bn1", "relu", "fc", "layer1", "pool", "a", "b", "c", "head", "stem", "gate", "proj"]


#: the generated modules whose names are drawn: a fixed set, so that the profiles draw the same
#: examples as the catalog grows (the modules share their helpers' names; each adds its own
#: model's); they were the first twelve files of generated/ when the ci profile was first run
NAME_SOURCES = [
    "ecaresnet50d",
    "regnetx_002",
    "regnetx_004",
    "regnety_002",
    "regnety_004",
    "res2net50_26w_4s",
    "resnest14d",
    "resnest26d",
    "resnest50d",
    "resnet101",
    "resnet101_v1",
    "resnet101_v2",
]


def generated_names() -> list[str]:
    """Every identifier the committed generated modules define or use (class, function,
    variable, attribute and argument names): what a spec name must not shadow."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "generated"
    names: set[str] = set()
    for path in (root / "keras" / f"{name}.py" for name in NAME_SOURCES):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return sorted(names)


_NAME_POOL: list[str] = []


def _name_pool() -> list[str]:
    if not _NAME_POOL:
        _NAME_POOL.extend(sorted(set(HOSTILE_NAMES) | set(generated_names())))
    return _NAME_POOL


def ident(draw, hostile: float = 0.25, plain: list[str] | None = None) -> str:
    """A name: usually plain, sometimes one that collides with something."""
    if draw.int(0, 99) < hostile * 100:
        return draw.pick(_name_pool())
    return draw.pick(plain or PLAIN_NAMES)


def _padding_for(draw, kernel: int, stride: int = 1):
    """A padding in one of the five spellings; mostly one that keeps the shape at stride 1."""
    half = (kernel - 1) // 2
    extra = (kernel - 1) - half
    return draw.pick(
        [
            half if extra == half else [[half, extra], [half, extra]],
            [half, half] if extra == half else [[extra, half], [half, extra]],
            [[half, extra], [extra, half]],
            "same",
            "same",
            "valid" if kernel == 1 else half,
            0,
            [[0, kernel - 1], [kernel - 1, 0]],
        ]
    )


def _activation(draw, name: str | None = None, when=None) -> dict:
    op = draw.pick(ACTIVATIONS)
    layer: dict = {"op": op}
    if op == "leaky_relu" and draw.flip():
        layer["negative_slope"] = draw.pick([0.01, 0.2, 0.5])
    if op == "dropout" and draw.flip():
        layer["rate"] = draw.pick([0.0, 0.1, 0.5])
    if op == "gelu" and draw.flip():
        layer["approximate"] = draw.pick(["none", "tanh"])
    if op == "elu" and draw.flip():
        layer["alpha"] = draw.pick([1.0, 0.5])
    if op == "prelu" and draw.flip():
        layer["per_channel"] = draw.flip()
    if name:
        layer["name"] = name
    if when is not None:
        layer["when"] = when
    return layer


def _pool(draw, kind: str, stride) -> dict:
    kernel = draw.pick([1, 2, 3])
    layer: dict = {"op": kind, "kernel": kernel}
    if stride != 1 or draw.flip():
        layer["stride"] = stride if stride != 1 else draw.pick([1, kernel])
    s = layer.get("stride", kernel)
    if draw.flip():
        layer["padding"] = (
            _padding_for(draw, kernel, s) if s == 1 else draw.pick([0, "same", [[0, 1], [0, 1]], kernel // 2])
        )
        if isinstance(layer["padding"], int) and layer["padding"] * 2 > kernel:
            layer["padding"] = kernel // 2
    if draw.flip():
        layer["ceil_mode"] = draw.flip()
    if kind == "maxpool" and draw.flip():
        layer["pad_value"] = draw.pick(["-inf", 0])
    if kind == "avgpool" and draw.flip():
        layer["count_include_pad"] = draw.flip()
    return layer


def _one_in(draw, n: int) -> bool:
    """True one time in n: the highest of n values, not the lowest, as Hypothesis draws zeros
    far more often than their share (its simplest examples are all zeros)."""
    return draw.int(1, n) == n


def _blur(draw, stride=1, careless: bool = False) -> dict:
    """A blur pool (timm's BlurPool2d); careless: a filter too large for a small map, or the
    default stride (2) where the block keeps its size."""
    layer: dict = {"op": "blur_pool"}
    if careless or draw.flip():
        layer["filter"] = draw.pick([7, 9, 16] if careless else [2, 3, 3, 4, 5])
    if not careless or draw.flip():
        layer["stride"] = stride
    return layer


def _eca(draw, i: int, careless: bool) -> tuple[list[dict], dict]:
    """ECA (ecaresnet): a global pool with keepdims, a channel convolution, a sigmoid gate
    multiplied in; careless: the channel convolution on the feature map or the pool without
    keepdims (a vector multiplied with a feature map)."""
    src = f"pre{i}"
    layers: list[dict] = [{"op": "conv", "filters": "width", "kernel": 1, "name": src}]
    pool = {"op": draw.pick(["global_avg_pool", "global_avg_pool", "global_max_pool"]), "name": f"eca{i}.pool"}
    how = draw.pick(["no_pool", "vector"]) if careless else "pooled"
    if how != "vector":
        pool["keepdims"] = True
    if how != "no_pool":
        layers.append(pool)
    conv: dict = {"op": "channel_conv", "name": f"eca{i}.conv"}
    kernel = draw.pick([None, "auto", 1, 3, 5, 9])
    if kernel is not None:
        conv["kernel"] = kernel
    if _one_in(draw, 4):
        conv["gamma"], conv["beta"] = draw.pick([(2.0, 1.0), (1.0, 0.5), (3.0, 2.0), (0.5, -1.0)])
    layers += [conv, {"op": "sigmoid", "name": f"eca{i}.gate"}]
    gate = {"op": "multiply", "inputs": [src, f"eca{i}.gate"]}
    if draw.flip():
        gate["inputs"] = gate["inputs"][::-1]
    return layers, gate


def _split(draw, i: int, careless: bool) -> tuple[list[dict], dict]:
    """Res2Net's channel split: parts of a 1x1 convolution's channels (channel_slice), each but
    the last through a 3x3 convolution (the later ones after adding the previous part's
    output), concatenated; or SKNet's halves of the block's input.  Careless: a part out of
    range, or parts that overlap the end for some widths."""
    if _one_in(draw, 4):
        # SKNet's split_input: the halves of the block's input
        half = "in_channels // 2"
        parts = [("input", "0", half), ("input", half, half)]
        if careless:
            parts[1] = ("input", half, draw.pick(["in_channels", "in_channels // 2 + 1"]))
        layers: list[dict] = []
        outs = []
        for j, (src, start, size) in enumerate(parts):
            layers.append(
                {"op": "channel_slice", "name": f"sk{i}.split{j}", "inputs": [src], "start": start, "size": size}
            )
            layers.append(
                {"op": "conv", "name": f"sk{i}.path{j}", "filters": "width", "kernel": 3, "padding": 1 + j}
                | ({"dilation": 2} if j else {})
            )
            outs.append(f"sk{i}.path{j}")
        return layers, {"op": draw.pick(["concat", "add"]), "inputs": outs}
    n = draw.pick([2, 2, 3])
    src = f"sp{i}.reduce"
    layers = [{"op": "conv", "filters": draw.pick(["width", f"{n} * width", "width // 2 * 2"]), "kernel": 1}]
    layers[0]["name"] = src
    channels = {"width": "width", f"{n} * width": f"{n} * width", "width // 2 * 2": "width // 2 * 2"}[
        layers[0]["filters"]
    ]
    size = f"{channels} // {n}" if channels != f"{n} * width" else "width"
    parts = [(f"{j} * ({size})" if j else 0, size) for j in range(n)]
    if careless:
        j = draw.int(0, n - 1)
        parts[j] = draw.pick([(f"{n} * ({size})", size), (parts[j][0], channels), (f"{channels} - 1", 2)])
    outs = []
    previous = None
    for j, (start, sz) in enumerate(parts):
        part = f"sp{i}.s{j}"
        layers.append({"op": "channel_slice", "name": part, "inputs": [src], "start": start, "size": sz})
        if j == n - 1 and draw.flip():
            outs.append(part)  # the last part passed on (Res2Net)
            break
        if previous is not None and draw.flip():
            layers.append({"op": "add", "name": f"sp{i}.mix{j}", "inputs": [previous, part]})
        layers.append({"op": "conv", "name": f"sp{i}.conv{j}", "filters": sz, "kernel": 3, "padding": 1})
        if _one_in(draw, 3):
            layers.append(_activation(draw, name=f"sp{i}.act{j}"))
        previous = layers[-1]["name"]
        outs.append(previous)
    return layers, {"op": "concat", "inputs": outs}


def _radix(draw, i: int, careless: bool) -> tuple[list[dict], dict]:
    """Selective kernel (SKNet: radix paths stacked with concat) or split attention (ResNeSt:
    one grouped convolution gives the radix branches): radix_sum, a pooled attention, a
    radix_softmax across the branches (per cardinality group), the weighted branches summed.
    Careless: a radix or groups that do not divide the channels, a radix_softmax of radix 1."""
    radix = draw.pick([2, 2, 3])
    groups = draw.pick([1, 1, 2])
    layers: list[dict] = [{"op": "conv", "name": f"rx{i}.conv1", "filters": "width", "kernel": 1}]
    if draw.flip():
        # SKNet: one path per radix part, stacked along the channels
        paths = []
        for j in range(radix):
            path = {"op": "conv", "name": f"rx{i}.paths.{j}", "inputs": [f"rx{i}.conv1"], "filters": "width"}
            path |= {"kernel": 3, "padding": 1 + j, "dilation": 1 + j}
            layers.append(path)
            paths.append(path["name"])
        layers.append({"op": "concat", "name": f"rx{i}.stack", "inputs": paths})
        groups = 1
    else:
        # ResNeSt: one grouped convolution, radix * groups groups
        layers[0]["filters"] = f"width * {radix * groups}"
        layers.append(
            {
                "op": "conv",
                "name": f"rx{i}.stack",
                "filters": f"width * {radix}",
                "kernel": 3,
                "padding": 1,
                "groups": radix * groups if not careless or draw.flip() else draw.pick([3, 4]),
            }
        )
    layers.append(_activation(draw, name=f"rx{i}.act0"))
    stack = layers[-1]["name"]
    sum_radix, softmax = radix, {"op": "radix_softmax", "name": f"rx{i}.softmax", "radix": radix}
    if groups > 1 or _one_in(draw, 4):
        softmax["groups"] = groups
    if careless:
        what = draw.pick(["sum", "softmax_radix", "softmax_groups"])
        if what == "sum":
            sum_radix = draw.pick([3, 4, 5])
        elif what == "softmax_radix":
            softmax["radix"] = draw.pick([1, 3, 5])
        else:
            softmax["groups"] = draw.pick([3, 5, "width"])
    layers += [
        {"op": "radix_sum", "name": f"rx{i}.gap_sum", "radix": sum_radix},
        {"op": "global_avg_pool", "name": f"rx{i}.gap", "keepdims": True},
        {"op": "conv", "name": f"rx{i}.fc1", "filters": 4 * groups, "kernel": 1, "groups": groups},
        _activation(draw),
        {"op": "conv", "name": f"rx{i}.fc2", "filters": f"width * {radix}", "kernel": 1, "groups": groups},
        softmax,
        {"op": "multiply", "name": f"rx{i}.weigh", "inputs": [stack, f"rx{i}.softmax"]},
    ]
    return layers, {"op": "radix_sum", "radix": radix}


def _family_op(draw, block: bool = True) -> dict:
    """One of the family ops with plain attributes, wherever the body (or the head: no width
    there) puts it: on a feature map a channel_conv is refused, on a vector a blur pool, and the
    others may hold or not (a radix that does not divide the channels, a slice past them)."""
    op = draw.pick(["channel_conv", "channel_slice", "radix_sum", "radix_softmax", "blur_pool"])
    if op == "blur_pool":
        return _blur(draw, draw.pick([1, 2]), _one_in(draw, 3))
    if op == "channel_conv":
        return {"op": op, "kernel": draw.pick(["auto", 3])}
    if op == "channel_slice":
        if not block:
            return {"op": op, "start": draw.pick([0, 0, 1, 2]), "size": draw.pick([1, 2, 4, 64])}
        return {"op": op, "start": draw.pick([0, 0, 1, "width // 2"]), "size": draw.pick([1, 2, "width // 2", "width"])}
    if op == "radix_sum":
        return {"op": op, "radix": draw.pick([1, 2, 3])}
    return {"op": op, "radix": draw.pick([2, 3]), "groups": draw.pick([1, 2])}


def block_defs(draw, type_name: str) -> dict:
    """A random block type: parameters, let values, a body with `when:` conditions (merges
    included), `inputs:` branches, shortcut cases, a merge op and post layers."""
    params: dict = {"width": None, "stride": 1}
    extra_param = ident(draw, 0.4, ["k", "e", "groups", "ratio"])
    if extra_param not in params:
        params[extra_param] = draw.pick([1, 2])
    let_name = ident(draw, 0.4, ["out", "mid", "o"])
    lets: dict = {}
    out_ref = "width"
    if let_name not in params:
        lets[let_name] = draw.pick(["width * 2", "width // 2 * 2", "max(width, 4)", "width", "round_to(width, 4)"])
        out_ref = let_name
    cond_pool = ["stride > 1", "stride == 1", "width > 8", "in_channels != width", "True", "False", f"{out_ref} >= 8"]
    body: list[dict] = []
    used: set[str] = set()

    def lname(default_prefix: str) -> str | None:
        if not draw.flip():
            return None
        name = ident(draw, 0.3, [f"{default_prefix}{i}" for i in range(1, 4)] + ["se.fc1", "downsample.0", "act"])
        if name in used and draw.int(0, 9) > 0:
            return None
        used.add(name)
        return name

    def when():
        return draw.pick(cond_pool) if draw.int(0, 4) == 0 else None

    strided = False
    for i in range(draw.int(1, 5)):
        kind = draw.pick(["conv", "conv", "bn", "act", "pool", "se", "branch", "concat_branch", "family"])
        if kind == "family":
            kind = draw.pick(["eca", "split", "radix", "family_op", "blur"])
        w = when()
        if kind == "conv":
            kernel = draw.pick([1, 3, [1, 3], [3, 1]])
            k = kernel if isinstance(kernel, int) else max(kernel)
            layer = {
                "op": "conv",
                "filters": draw.pick([out_ref, "width", "width // 2 * 2", "width * 1"]),
                "kernel": kernel,
            }
            if not strided and draw.flip():
                layer["stride"] = "stride"
                strided = True
                layer["padding"] = draw.pick([k // 2, "same", [[k // 2, k // 2], [k // 2, k // 2]]])
            else:
                layer["padding"] = (
                    _padding_for(draw, k)
                    if isinstance(kernel, int)
                    else draw.pick(["same", [kernel[0] // 2, kernel[1] // 2]])
                )
            if draw.int(0, 5) == 0:
                layer["dilation"] = 2
                layer["padding"] = "same" if "stride" not in layer else layer["padding"]
            if draw.int(0, 4) == 0:
                layer["groups"] = draw.pick([1, 2, "groups" if "groups" in params else 1])
            if draw.flip():
                layer["bias"] = draw.flip()
        elif kind == "bn" and draw.int(0, 4) == 0:
            layer = draw.pick(
                [
                    {"op": "groupnorm", "groups": draw.pick([1, 2])},
                    {"op": "layernorm"},
                    {"op": "evonorm_s0", "groups": draw.pick([1, 2])},
                    {"op": "frn_tlu"},
                ]
            )
        elif kind == "bn":
            layer = {"op": "batchnorm"}
            if draw.flip():
                layer["eps"] = draw.pick([1e-5, 1e-3, 1.001e-5])
                layer["momentum"] = draw.pick([0.1, 0.01, 0.0])
        elif kind == "act":
            layer = _activation(draw)
        elif kind == "blur":
            careless = _one_in(draw, 6)
            if not strided and draw.flip():
                layer = _blur(draw, "stride", careless)
                strided = True
                if draw.flip():
                    layer["when"] = "stride > 1"  # as timm's resnetblur: the stride or nothing
            else:
                layer = _blur(draw, 1, careless)
        elif kind in ("eca", "split", "radix"):
            extra, layer = {"eca": _eca, "split": _split, "radix": _radix}[kind](draw, i, _one_in(draw, 6))
            body += extra
        elif kind == "family_op":
            layer = _family_op(draw)
        elif kind == "pool":
            layer = _pool(draw, draw.pick(["maxpool", "avgpool"]), 1)
        elif kind == "se":
            src = f"pre{i}"
            body += [
                {"op": "conv", "filters": "width", "kernel": 1, "name": src},
                {"op": draw.pick(["global_avg_pool", "global_max_pool"]), "keepdims": True, "name": f"se{i}.pool"},
                {"op": "conv", "filters": draw.pick(["width", "2"]), "kernel": 1, "name": f"se{i}.fc1"},
                _activation(draw),
                {"op": "conv", "filters": "width", "kernel": 1, "name": f"se{i}.fc2"},
                {"op": "sigmoid", "name": f"se{i}.gate"},
            ]
            layer = {"op": "multiply", "inputs": [src, f"se{i}.gate"]}
            if draw.flip():
                layer["inputs"] = layer["inputs"][::-1]
        elif kind == "branch":
            a, b = f"br{i}a", f"br{i}b"
            body += [{"op": "conv", "filters": "width", "kernel": 1, "name": a}, _activation(draw, name=b)]
            layer = {"op": draw.pick(["add", "multiply"]), "inputs": [a, b]}
        else:
            a, b = f"cc{i}a", f"cc{i}b"
            body += [
                {"op": "conv", "filters": "width // 2 * 2", "kernel": 1, "name": a},
                {"op": "conv", "filters": "width // 2 * 2", "kernel": 3, "padding": 1, "name": b, "inputs": [a]},
                {"op": "concat", "inputs": [a, b], "name": f"cc{i}"},
            ]
            layer = {"op": "conv", "filters": "width", "kernel": 1}
        name = lname(layer["op"][:4])
        if name and "name" not in layer:
            layer["name"] = name
        if draw.flip():
            layer["keras"] = ident(draw, 0.3, [f"k{i}", f"{i}_x", "out", "add"])
        if w is not None:
            layer["when"] = w
        body.append(layer)
    body.append({"op": "conv", "filters": out_ref, "kernel": 1, "name": "last" if "last" not in used else None})
    if body[-1]["name"] is None:
        del body[-1]["name"]
    if draw.flip():
        body.append({"op": "batchnorm"})
    block: dict = {"params": params, "body": body}
    if lets:
        block["let"] = lets
    if draw.flip():
        block["class_name"] = ident(draw, 0.4, ["Block", "MyBlock", "Unit", type_name.title().replace("_", "")])
    cases = []
    for _ in range(draw.int(0, 2)):
        case: dict = {}
        cw = draw.pick([f"stride != 1 or in_channels != {out_ref}", "stride > 1", "in_channels != width", None, "True"])
        if cw is not None:
            case["when"] = cw
        if draw.int(0, 3) == 0 and body[0].get("name"):
            case["from"] = body[0]["name"]
        how = draw.pick(["conv", "conv", "pool_conv", "pool", "empty"] * 2 + ["blur_conv"])
        layers: list[dict] = []
        if how == "blur_conv":
            # a blur pool carries the stride (a careless one: its default stride, 2, everywhere)
            layers.append(_blur(draw, "stride", _one_in(draw, 8)))
            how = "pool_conv"
        elif how in ("pool_conv", "pool"):
            pool = _pool(draw, draw.pick(["maxpool", "avgpool"]), "stride")
            pool["kernel"] = draw.pick([1, 2])
            pool.pop("padding", None)
            if pool["kernel"] == 2:
                pool["ceil_mode"] = True
            layers.append(pool)
        if how in ("conv", "pool_conv"):
            layers.append({"op": "conv", "filters": out_ref, "kernel": 1, "stride": "stride" if how == "conv" else 1})
            if draw.flip():
                layers.append({"op": "batchnorm"})
        for j, layer in enumerate(layers):
            if draw.flip():
                layer["name"] = draw.pick([f"downsample.{j}", f"shortcut{j}", ident(draw, 0.5, ["proj", "sc"])])
            if draw.int(0, 5) == 0:
                layer["when"] = draw.pick(cond_pool)
        case["layers"] = layers
        cases.append(case)
    if cases:
        block["shortcut"] = cases
    merge = draw.pick(["add", "add", "add", "multiply", "concat", None])
    if merge is None:
        block["merge"] = None
    else:
        block["merge"] = {"op": merge}
        if draw.flip():
            block["merge"]["keras"] = ident(draw, 0.3, ["add", "merge", "out"])
        if draw.int(0, 5) == 0:
            block["merge"]["when"] = draw.pick(cond_pool)
    if draw.flip():
        block["post"] = [_activation(draw, name=draw.pick([None, "act_out", ident(draw, 0.5, ["out"])]), when=when())]
        if _one_in(draw, 12):
            block["post"].insert(0, _family_op(draw))
    return block


def _stem(draw, channels: int) -> list[dict]:
    kernel = draw.pick([1, 3, 5])
    stride = draw.pick([1, 2])
    conv = {
        "op": "conv",
        "name": ident(draw, 0.2, ["conv1", "stem_conv", "conv0"]),
        "filters": draw.pick([4, 6, 8]),
        "kernel": kernel,
        "stride": stride,
    }
    conv["padding"] = (
        _padding_for(draw, kernel)
        if stride == 1
        else draw.pick([kernel // 2, "same", [[kernel // 2, kernel // 2 + 1], [kernel // 2, kernel // 2]]])
    )
    if draw.flip():
        conv["bias"] = draw.flip()
    stem = [conv]
    if draw.flip():
        stem.append({"op": "batchnorm", "name": ident(draw, 0.2, ["bn1", "stem_bn"])})
    if draw.flip():
        stem.append(_activation(draw, name=draw.pick([None, "act1", ident(draw, 0.5)])))
    if draw.flip():
        pool = _pool(draw, draw.pick(["maxpool", "avgpool"]), draw.pick([1, 2]))
        pool["name"] = ident(draw, 0.2, ["pool", "maxpool", "stem_pool"])
        stem.append(pool)
    if _one_in(draw, 10):
        # a blur pool carries the stride (timm's resnetblur: the max pool at stride 1 before it)
        stem.append(_blur(draw, draw.pick([2, 2, 1]), _one_in(draw, 5)) | {"name": "maxpool.1"})
        for layer in stem[:-1]:
            if layer.get("name") == "maxpool" and draw.int(0, 3) > 0:
                layer["name"] = "maxpool.0"  # a group of two (else a layer and a group: AS107)
    if _one_in(draw, 12):
        # the stem convolution reads some of the input's channels (or more than there are)
        size = draw.pick([1, 2, channels, channels])
        stem.insert(0, {"op": "channel_slice", "name": "in_slice", "start": draw.pick([0, 0, 1]), "size": size})
    if draw.int(0, 5) == 0:
        # a merge in the stem through inputs:, with a `when:` that holds
        first = conv["name"]
        stem.append({"op": "conv", "name": "side", "filters": conv["filters"], "kernel": 1, "inputs": [first]})
        stem.append(
            {
                "op": draw.pick(["add", "multiply"]),
                "name": "stem_merge",
                "inputs": [first, "side"],
                "when": draw.pick([True, "1 > 0"]),
            }
        )
    return stem


def _head(draw, classes) -> list[dict]:
    head = []
    kind = draw.pick(["global_avg_pool", "global_max_pool", "global_avg_pool", "flatten", "pool_flatten"])
    if kind == "pool_flatten":
        head.append({"op": "global_avg_pool", "name": "gap", "keepdims": True})
        head.append({"op": "flatten", "name": "flat"})
    elif kind == "flatten":
        head.append({"op": "avgpool", "name": "avgpool", "kernel": 2, "ceil_mode": True})
        head.append({"op": "flatten", "name": ident(draw, 0.3, ["flatten"])})
    else:
        head.append({"op": kind, "name": ident(draw, 0.2, ["avgpool", "pool_out"])})
    if _one_in(draw, 12):
        # a family op on the pooled vector: ECA's channel convolution, a radix softmax or sum, a
        # slice; a blur pool there has the wrong rank
        op = _family_op(draw, block=False)
        op["name"] = "head_" + op["op"]
        head.append(op)
    elif _one_in(draw, 16):
        head.insert(0, _blur(draw, draw.pick([1, 2])) | {"name": "head_blur"})
    if draw.flip():
        head.append({"op": "dropout", "name": "drop", "rate": 0.2})
        if draw.flip():
            head[-1]["when"] = draw.pick([True, False, "1 > 0", "0 > 1"])
    if draw.int(0, 9) > 0:
        head.append(
            {"op": "linear", "name": ident(draw, 0.2, ["fc", "classifier"]), "units": classes, "bias": draw.flip()}
        )
    if draw.int(0, 5) == 0:
        head.append({"op": "softmax", "name": "probs"})
    return head


def language_spec(draw) -> tuple[dict, dict[str, dict]]:
    """(spec, extra files): a spec drawn from the whole language, and the files it refers to
    (an ``extends:`` base, a ``use:`` block file), to be written beside it."""
    files: dict[str, dict] = {}
    channels = draw.int(1, 3)
    size = [draw.int(9, 33), draw.int(9, 33)]
    spec: dict = {
        "archspec": 1,
        "name": ident(draw, 0.2, ["net", "tiny_resnet", "model_a"]),
        "input": {"channels": channels, "size": size},
    }
    classes_var = None
    if draw.flip():
        classes_var = ident(draw, 0.4, ["num_classes", "classes", "k"])
        spec["vars"] = {classes_var: draw.int(1, 7)}
    if draw.flip():
        defaults: dict = {}
        if draw.flip():
            defaults["conv"] = {"bias": draw.flip()}
        if draw.flip():
            defaults["batchnorm"] = {"eps": draw.pick([1e-5, 1e-3]), "momentum": 0.01}
        if draw.flip():
            defaults["maxpool"] = {"pad_value": draw.pick(["-inf", 0])}
        if draw.flip():
            defaults["avgpool"] = {"count_include_pad": draw.flip()}
        spec["defaults"] = defaults
    type_names = []
    blocks: dict = {}
    for _ in range(draw.int(1, 2)):
        tname = ident(draw, 0.3, ["unit", "res_block", "blk", "basic_x"])
        if tname in blocks:
            continue
        blocks[tname] = block_defs(draw, tname)
        type_names.append(tname)
    library = draw.pick(
        [
            None,
            None,
            "basic",
            "bottleneck",
            "bottleneck_v1",
            "bottleneck_d",
            "se_bottleneck",
            "preact_basic",
            "preact_bottleneck",
        ]
    )
    if library:
        type_names.append(library)
    if draw.int(0, 3) == 0:
        files["blocks_extra.yaml"] = {"archspec": 1, "blocks": dict(blocks)}
        spec["use"] = ["blocks_extra.yaml"]
        if draw.int(0, 3) == 0:
            # a block type defined but never used
            files["blocks_extra.yaml"]["blocks"]["unused_type"] = {"body": [{"op": "conv", "filters": 4, "kernel": 1}]}
    else:
        spec["blocks"] = blocks
        if draw.int(0, 5) == 0:
            spec["blocks"]["unused_type"] = block_defs(draw, "unused_type")
    spec["stem"] = _stem(draw, channels)
    n_stages = draw.int(1, 3)
    if draw.flip():
        columns = ["depth", "width", "stride"]
        table = {"block": draw.pick(type_names), "columns": columns}
        table["table"] = [[draw.int(1, 2), draw.pick([4, 6, 8]), draw.pick([1, 2])] for _ in range(n_stages)]
        if draw.flip():
            table["name"] = draw.pick(
                ["layer{stage}", "stage{stage}", "s{stage}", "{stage}x", ident(draw, 0.5) + "{stage}", "layer"]
            )
        if draw.flip():
            table["keras"] = draw.pick(
                [
                    "conv{stage + 1}_block{block}",
                    "s{stage}b{block}",
                    "stage{stage}/b{block}",
                    "b{block}",
                    "x{stage * 2}_{block}",
                ]
            )
        if draw.flip():
            table["stride_at"] = draw.pick(["first", "last"])
        if draw.int(0, 3) == 0:
            # each stage's first block of another type (RegNetZ's), or of a type that does not exist
            table["first_block"] = draw.pick(type_names + ["no_such_block"])
        if draw.int(0, 3) == 0:
            s = draw.int(1, n_stages)
            table["overrides"] = {f"{s}.1": {"width": draw.pick([4, 8, 12])}}
        if draw.int(0, 4) == 0:
            table["columns"] = ["depth", "width"]
            table["table"] = [row[:2] for row in table["table"]]
            table["args"] = {"stride": draw.pick([1, 2])}
        spec["stages"] = table
    else:
        stages = []
        for s in range(n_stages):
            stage: dict = {}
            if draw.flip():
                stage["name"] = ident(draw, 0.4, [f"layer{s + 1}", f"stage{s + 1}", "conv1", "fc"])
            if draw.flip():
                stage["keras"] = draw.pick(["conv{stage + 1}_block{block}", f"st{s}_{{block}}", "b{block}"])
            btype = draw.pick(type_names)
            stage["block"] = btype
            if draw.flip():
                stage["depth"] = draw.int(1, 2)
                stage["stride"] = draw.pick([1, 2])
                stage["args"] = {"width": draw.pick([4, 8])}
                if draw.flip():
                    stage["stride_at"] = draw.pick(["first", "last"])
                if draw.int(0, 3) == 0:
                    stage["overrides"] = {"1": {"width": draw.pick([4, 6, 8])}}
            else:
                entries = []
                for b in range(draw.int(1, 2)):
                    entry: dict = {"args": {"width": draw.pick([4, 8]), "stride": draw.pick([1, 2]) if b == 0 else 1}}
                    if draw.int(0, 2) == 0:
                        entry["block"] = draw.pick(type_names)
                    entries.append(entry)
                stage["blocks"] = entries
            stages.append(stage)
        spec["stages"] = stages
    spec["head"] = _head(draw, classes_var if classes_var else draw.int(1, 7))
    if draw.int(0, 3) == 0:
        # a variant: the base holds the whole spec; this file extends it and overrides a part
        base = dict(spec)
        base["name"] = "base_" + spec["name"] if draw.flip() else spec["name"]
        files["base.yaml"] = base
        variant: dict = {"archspec": 1, "extends": "base.yaml", "name": spec["name"]}
        if draw.flip() and isinstance(spec["stages"], dict):
            variant["stages"] = {"table": [[1, 8, 2]] * len(spec["stages"]["table"])}
            if spec["stages"].get("columns") == ["depth", "width"]:
                variant["stages"]["table"] = [[1, 8]] * len(spec["stages"]["table"])
        if draw.flip():
            variant["input"] = {"size": [draw.int(9, 33), draw.int(9, 33)]}
        if "use" in spec:
            # use: paths resolve against the file that names them
            variant["use"] = ["blocks_extra.yaml"]
        return variant, files
    return spec, files


class _HypothesisDraw:
    """The generator's three choices, drawn by Hypothesis (so that failures shrink)."""

    def __init__(self, draw):
        self._draw = draw

    def pick(self, values):
        return self._draw(st.sampled_from(values))

    def int(self, low: int, high: int) -> int:
        return self._draw(st.integers(low, high))

    def flip(self) -> bool:
        return self._draw(st.booleans())


class _RandomDraw:
    """The same choices from a seeded ``random.Random``: a hundred times cheaper, no shrinking."""

    def __init__(self, seed: int):
        import random

        self._random = random.Random(seed)

    def pick(self, values):
        return self._random.choice(list(values))

    def int(self, low: int, high: int) -> int:
        return self._random.randint(low, high)

    def flip(self) -> bool:
        return self._random.random() < 0.5


@st.composite
def language_specs(draw) -> tuple[dict, dict[str, dict]]:
    """(spec, extra files) drawn from the whole language (see :func:`language_spec`)."""
    return language_spec(_HypothesisDraw(draw))


def seeded_language_spec(seed: int) -> tuple[dict, dict[str, dict]]:
    """:func:`language_spec` from a seed: the same distribution, generated fast."""
    return language_spec(_RandomDraw(seed))
