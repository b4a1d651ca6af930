"""The safe expression evaluator: what it computes, and what it refuses."""

from __future__ import annotations

import pytest

from archspec.spec.expr import ExprError, evaluate, format_pattern, parse


@pytest.mark.parametrize(
    "text, env, expected",
    [
        ("width * 4", {"width": 64}, 256),
        ("width * base_width // 64 * groups", {"width": 64, "base_width": 4, "groups": 32}, 128),
        ("filters[1]", {"filters": [64, 265, 256]}, 265),
        ("filters[-1]", {"filters": [64, 265, 256]}, 256),
        ("stride != 1 or in_channels != out", {"stride": 1, "in_channels": 256, "out": 256}, False),
        ("stride != 1 or in_channels != out", {"stride": 2, "in_channels": 256, "out": 256}, True),
        ("1 if stride > 1 else 0", {"stride": 2}, 1),
        ("max(8, width // 16)", {"width": 64}, 8),
        ("round_to(256 // 16, 8)", {}, 16),
        # timm's round(in_chs * se_ratio): halves go to even, as Python's round in the generated code
        ("round(in_channels * 0.25)", {"in_channels": 4103}, 1026),
        ("round(in_channels * 0.25)", {"in_channels": 746}, 186),
        ("round(in_channels * 0.25)", {"in_channels": 750}, 188),
        ("12 / 4", {}, 3),
        ("-(3) + +2", {}, -1),
        ("not flag", {"flag": False}, True),
        ("1 < x <= 3", {"x": 3}, True),
    ],
)
def test_evaluates(text, env, expected):
    assert evaluate(text, env) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("__import__('os')", "not allowed"),
        ("open('x')", "function calls are not allowed"),
        ("width.__class__", "not allowed"),
        ("'a' * 3", "not allowed"),
        ("lambda: 1", "not allowed"),
        ("[x for x in y]", "not allowed"),
        ("2 ** 10", "not allowed"),
        ("10 ** 12", "not allowed"),
        ("99999999999999999999", "out of range"),
        ("width * 99999999", "out of range"),
        ("1 // 0", "division by zero"),
        ("7 / 2", "not a whole number"),
        ("missing + 1", "unknown name"),
        ("filters[5]", "out of range"),
        ("filters[width]", "whole-number constant"),
        ("_private", "not allowed"),
        ("(" * 300, "longer than"),
        ("", "empty"),
        ("1 +", "cannot parse"),
        ("round(1, 2)", "round takes one argument"),
    ],
)
def test_refuses(text, message):
    with pytest.raises(ExprError) as info:
        evaluate(text, {"width": 64, "filters": [1, 2]})
    assert message in info.value.message


def test_round_is_pythons_round_which_the_generated_code_calls():
    """The IR's widths and the generated code's must agree: the code calls Python's round."""
    for n in range(1, 400):
        for ratio in (0.25, 0.5, 1 / 16):
            assert evaluate("round(n * r)", {"n": n, "r": ratio}) == round(n * ratio)


def test_deep_nesting_is_refused_not_a_recursion_error():
    with pytest.raises(ExprError):
        evaluate("-" * 200 + "1", {})


def test_python_rendering_round_trips():
    expr = parse("width * base_width // 64 * groups")
    assert expr.to_python() == "width * base_width // 64 * groups"
    assert expr.names == {"width", "base_width", "groups"}


def test_naming_patterns():
    assert format_pattern("conv{stage + 1}_block{block}", {"stage": 1, "block": 3}) == "conv2_block3"
    assert format_pattern("layer{stage}", {"stage": 4}) == "layer4"
    assert format_pattern("x{{y}}", {}) == "x{y}"
    with pytest.raises(ExprError):
        format_pattern("layer{stage", {"stage": 1})
