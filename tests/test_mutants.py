"""Tests written for the mutants the suite once let through (see tools/mutate.py): each fails
when the mutation it names is applied to the package."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest

from archspec.ir.build import build_ir
from archspec.lint import lint_network
from archspec.lint.rules_widths import typo_kind
from archspec.spec import expr as E
from archspec.spec.load import load_spec


def _spec(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# AS204: the one-digit-changed branch (126 among 128s), not only the swapped-digits one (265/256)


def test_typo_kinds():
    assert typo_kind(126, 128) == "one digit changed"
    assert typo_kind(138, 128) == "one digit changed"
    assert typo_kind(182, 128) == "two digits swapped"
    assert typo_kind(180, 128) is None  # two digits changed
    assert typo_kind(1280, 128) == "a factor of ten"
    assert typo_kind(128, 128) is None


WIDTHS = """\
    archspec: 1
    name: widths
    input: {{channels: 3, size: [32, 32]}}
    stem:
      - {{op: conv, name: conv1, filters: 16, kernel: 3, padding: 1}}
    stages:
      - name: layer1
        blocks:
          - {{block: basic, args: {{width: 128}}}}
          - {{block: basic, args: {{width: {odd}}}}}
          - {{block: basic, args: {{width: 128}}}}
    head:
      - {{op: global_avg_pool, name: avgpool}}
      - {{op: linear, name: fc, units: 10}}
"""


@pytest.mark.parametrize(("odd", "reported"), [(126, True), (138, True), (182, True), (180, False), (128, False)])
def test_suspicious_width_reports_a_one_digit_typo(tmp_path, odd, reported):
    network = build_ir(load_spec(_spec(tmp_path, WIDTHS.format(odd=odd))))
    found = [d for d in lint_network(network) if d.code == "AS204"]
    if reported:
        assert found, f"width {odd} among 128s was not reported"
        assert found[0].hint == "did you mean 128?"
        assert found[0].span.line == 10
    else:
        assert not found


# --------------------------------------------------------------------------------------------
# `//` is floor division with an int result, never true division


@pytest.mark.parametrize(
    ("text", "value"),
    [("7 // 2", 3), ("-7 // 2", -4), ("256 * 4 // 64", 16), ("width * 64 // 64 * 1", 7), ("width // 2 * 2", 6)],
)
def test_floor_division_is_exact_and_integral(text, value):
    result = E.evaluate(text, {"width": 7})
    assert type(result) is int and result == value, (text, result)


def test_true_division_must_be_whole(tmp_path):
    assert type(E.evaluate("8 / 2", {})) is int and E.evaluate("8 / 2", {}) == 4
    with pytest.raises(E.ExprError):
        E.evaluate("7 / 2", {})


def test_floor_division_reaches_the_ir_as_an_int(tmp_path):
    path = _spec(
        tmp_path,
        """\
        archspec: 1
        name: floors
        input: {channels: 3, size: [16, 16]}
        vars: {w: 7}
        stem:
          - {op: conv, name: conv1, filters: w // 2, kernel: 1}
        head:
          - {op: global_avg_pool, name: pool}
          - {op: linear, name: fc, units: w * 3 // 2}
        """,
    )
    network = build_ir(load_spec(path))
    assert not [d for d in lint_network(network) if d.is_error]
    conv = network.node("conv1")
    assert type(conv.attrs.filters) is int and conv.attrs.filters == 3
    assert network.output_shape == (10,) and all(type(d) is int for d in network.output_shape)
    assert network.params == (3 * 3 + 3) + (3 * 10 + 10)


# --------------------------------------------------------------------------------------------
# `stride_at: last` in the list form (not only in the table form)


@pytest.mark.parametrize("form", ["list", "table"])
@pytest.mark.parametrize(("stride_at", "expected"), [("first", [2, 1, 1]), ("last", [1, 1, 2])])
def test_stride_at_places_the_stride(tmp_path, form, stride_at, expected):
    if form == "list":
        stages = (
            "stages:\n"
            f"  - {{name: layer1, block: basic, depth: 3, stride: 2, stride_at: {stride_at}, args: {{width: 8}}}}\n"
        )
    else:
        stages = f"stages:\n  block: basic\n  stride_at: {stride_at}\n  table: [[3, 8, 2]]\n"
    text = (
        "archspec: 1\nname: strides\ninput: {channels: 3, size: [16, 16]}\n"
        "stem:\n  - {op: conv, name: conv1, filters: 8, kernel: 3, padding: 1}\n"
        + stages
        + "head:\n  - {op: global_avg_pool, name: avgpool}\n"
    )
    path = _spec(tmp_path, text)
    network = build_ir(load_spec(path))
    assert not [d for d in lint_network(network) if d.is_error]
    assert [b.args["stride"] for b in network.blocks] == expected
    sizes = [network.node(b.output).shape[1] for b in network.blocks]
    assert sizes == [16 // s for s in itertools_accumulate(expected)]


def itertools_accumulate(strides: list[int]) -> list[int]:
    out, total = [], 1
    for s in strides:
        total *= s
        out.append(total)
    return out


# --------------------------------------------------------------------------------------------
# the generated models, run: max-pool padding with -inf (PyTorch), ceil-mode pooling at 3x3/3 (Keras)


POOL_SPEC = """\
    archspec: 1
    name: {name}
    input: {{channels: 2, size: [{h}, {w}]}}
    stem:
      - {{op: conv, name: conv1, filters: 3, kernel: 1, bias: true}}
      - {{op: {op}, name: pool, kernel: {k}, stride: {s}, padding: {padding}, ceil_mode: {ceil}}}
    head:
      - {{op: flatten, name: flat}}
"""


def _reference_max_pool(x, k: int, s: int, pads: tuple[int, int, int, int]):
    """Max pooling in plain numpy, padding with -inf (PyTorch's semantics), floor mode."""
    import numpy as np

    top, bottom, left, right = pads
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=-np.inf)
    n, c, h, w = padded.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = padded[:, :, i * s : i * s + k, j * s : j * s + k].max(axis=(2, 3))
    return out


@pytest.mark.parametrize("padding", ["[[0, 1], [1, 0]]", "[[1, 0], [0, 1]]", "[[1, 1], [0, 1]]"])
def test_torch_max_pool_with_asymmetric_padding_pads_with_minus_infinity(tmp_path, padding):
    torch = pytest.importorskip("torch")
    import numpy as np

    from archspec.backends import torch_backend

    path = _spec(
        tmp_path, POOL_SPEC.format(name="maxpad", h=7, w=6, op="maxpool", k=2, s=2, padding=padding, ceil="false")
    )
    network = build_ir(load_spec(path))
    assert not [d for d in lint_network(network) if d.is_error]
    model = torch_backend.instantiate(torch_backend.emit(network), network).double().eval()
    with torch.no_grad():
        model.conv1.weight.copy_(torch.randn_like(model.conv1.weight))
        model.conv1.bias.fill_(-100.0)  # the pooled map is negative: a zero pad would win the max
    x = torch.rand(2, 2, 7, 6, dtype=torch.float64)
    with torch.no_grad():
        features = model.conv1(x)
        out = model(x).numpy()
    assert float(features.max()) < 0
    (top, bottom), (left, right) = json.loads(padding)
    reference = _reference_max_pool(features.numpy(), 2, 2, (top, bottom, left, right)).reshape(2, -1)
    assert out.shape == reference.shape == (2, math.prod(network.output_shape))
    np.testing.assert_array_equal(out, reference)


@pytest.mark.parametrize(("op", "size"), [("maxpool", (10, 11)), ("avgpool", (10, 11)), ("maxpool", (9, 13))])
def test_keras_ceil_mode_pooling_matches_pytorch_at_kernel_and_stride_three(tmp_path, op, size):
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from archspec.crosscheck.compare import check_spec

    path = _spec(
        tmp_path, POOL_SPEC.format(name="ceil3", h=size[0], w=size[1], op=op, k=3, s=3, padding=0, ceil="true")
    )
    result = check_spec(path, dtype="float64")
    assert result.passed, (result.first_divergence, result.max_abs_diff)
    assert result.layers[-1].shape == [3 * math.ceil((size[0] - 3) / 3 + 1) * math.ceil((size[1] - 3) / 3 + 1)]


# --------------------------------------------------------------------------------------------
# limits and formulas the documentation states


def test_expression_values_are_bounded_at_two_to_the_31():
    assert E.evaluate("65536 * 32768", {}) == 2**31
    with pytest.raises(E.ExprError):
        E.evaluate("65536 * 65536", {})
    with pytest.raises(E.ExprError):
        E.evaluate("0 - 65536 * 65536", {})


def test_yaml_nesting_deeper_than_the_limit_is_refused(tmp_path):
    from archspec.diagnostics import ArchspecError
    from archspec.spec.yamlsrc import MAX_DEPTH

    path = tmp_path / "deep.yaml"
    path.write_text("archspec: 1\nname: deep\nvars: {x: " + "[" * (MAX_DEPTH + 5) + "1" + "]" * (MAX_DEPTH + 5) + "}\n")
    with pytest.raises(ArchspecError) as info:
        load_spec(path)
    assert [d.code for d in info.value.diagnostics] == ["AS109"]
    assert "nested deeper" in info.value.diagnostics[0].message


def test_float32_tolerance_grows_quadratically_with_depth():
    from archspec.crosscheck.compare import growth

    assert [growth(d, False) for d in (1, 16, 32, 48, 160)] == [1.0, 1.0, 4.0, 9.0, 100.0]
    assert growth(160, True) == 1.0


@pytest.mark.parametrize(("keepdims", "shape"), [(True, (8, 1, 1)), (False, (8,))])
def test_global_pooling_keepdims(tmp_path, keepdims, shape):
    text = (
        "archspec: 1\nname: gp\ninput: {channels: 3, size: [9, 9]}\n"
        "stem:\n  - {op: conv, name: conv1, filters: 8, kernel: 3}\n"
        f"head:\n  - {{op: global_max_pool, name: pool, keepdims: {str(keepdims).lower()}}}\n"
    )
    network = build_ir(load_spec(_spec(tmp_path, text)))
    assert network.node("pool").shape == shape and network.output_shape == shape


def test_pooling_output_sizes_match_pytorch():
    """The IR's pooling windows (floor and ceil mode, symmetric padding) against PyTorch's
    own pooling, over every small case: the ceil-mode rule that drops a last window starting
    in the padding included."""
    torch = pytest.importorskip("torch")
    from archspec.ir import ops as O

    checked = 0
    for n in range(1, 12):
        for k in (1, 2, 3, 4):
            for s in (1, 2, 3):
                for p in range(k // 2 + 1):
                    for ceil in (False, True):
                        attrs = O.AvgPoolAttrs(kernel=k, stride=s, padding=p, ceil_mode=ceil)
                        try:
                            ours = O.get("avgpool").shape(attrs, [(1, n, n)], {})[1]
                        except O.ShapeError:
                            ours = None
                        try:
                            pool = torch.nn.AvgPool2d(k, s, p, ceil_mode=ceil)
                            theirs = pool(torch.zeros(1, 1, n, n)).shape[-1]
                        except RuntimeError:
                            theirs = None
                        if ours is None:
                            # the IR refuses a window larger than the input (AS203), even where
                            # PyTorch's ceil mode would still give one partial window
                            assert n + 2 * p < k, (n, k, s, p, ceil, theirs)
                            continue
                        assert ours == theirs, (n, k, s, p, ceil, ours, theirs)
                        checked += 1
    assert checked > 400


def test_dilated_window_sizes_match_pytorch():
    """The IR's output size of a dilated convolution and max pooling against PyTorch's own,
    over every small case (a dilation of 2 or 3 widens the window to (k - 1) * d + 1)."""
    torch = pytest.importorskip("torch")
    from archspec.ir import ops as O

    checked = 0
    for n in range(1, 14):
        for k in (1, 2, 3):
            for d in (1, 2, 3):
                for s in (1, 2):
                    for p in (0, 1, 2):
                        attrs = O.ConvAttrs(filters=1, kernel=k, stride=s, padding=p, dilation=d)
                        try:
                            ours = O.get("conv").shape(attrs, [(1, n, n)], {})[1]
                        except O.ShapeError:
                            ours = None
                        try:
                            conv = torch.nn.Conv2d(1, 1, k, s, p, dilation=d)
                            theirs = conv(torch.zeros(1, 1, n, n)).shape[-1]
                        except RuntimeError:
                            theirs = None
                        assert ours == theirs, (n, k, d, s, p, ours, theirs)
                        checked += ours is not None
    assert checked > 300


def test_pooling_padding_limit_is_pytorchs():
    """A pooling padding above half the window is refused as PyTorch refuses it, and the
    largest padding PyTorch accepts is accepted (the limit is k // 2, not one more)."""
    torch = pytest.importorskip("torch")
    from archspec.ir import ops as O

    for op, module in (("maxpool", torch.nn.MaxPool2d), ("avgpool", torch.nn.AvgPool2d)):
        for k in (1, 2, 3, 4, 5):
            for p in range(k // 2 + 2):
                attrs = O.get(op).attrs.model_validate({"kernel": k, "stride": 1, "padding": p})
                try:
                    O.get(op).shape(attrs, [(1, 9, 9)], {})
                    ours = True
                except O.ShapeError:
                    ours = False
                try:
                    module(k, 1, p)(torch.zeros(1, 1, 9, 9))
                    theirs = True
                except RuntimeError:
                    theirs = False
                assert ours == theirs == (p <= k // 2), (op, k, p, ours, theirs)


def test_a_check_that_compared_nothing_does_not_pass():
    """The verdict on no compared tensors is a failure, never a vacuous pass."""
    from archspec.crosscheck.compare import result_of

    network = build_ir(load_spec(Path(__file__).resolve().parent.parent / "specs" / "resnet18.yaml"))
    options = {"batch": 1, "atol": 1e-6, "rtol": 1e-6, "seed": 0, "dtype": "float64", "timings": {}}
    assert result_of(network, [], **options).passed is False
