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
    """Example counts by profile: ARCHSPEC_FUZZ=dev (local default), ci (default when CI is set),
    long (ten times ci, for a thorough local run)."""
    import os

    profile = os.environ.get("ARCHSPEC_FUZZ") or ("ci" if os.environ.get("CI") else "dev")
    return {"dev": dev, "ci": ci, "long": ci * 10}.get(profile, dev)
