"""The IR: shape inference rules, counts, names, and odd input sizes."""

from __future__ import annotations

import textwrap

import pytest
from conftest import SPECS

import archspec
from archspec.ir import ops as O
from archspec.ir.ops import ShapeError, resolve_padding


@pytest.mark.parametrize(
    "size, kernel, stride, expected",
    [
        ((224, 224), (7, 7), (2, 2), (2, 3, 2, 3)),  # TF 'same' at stride 2: the extra pad goes bottom/right
        ((225, 225), (7, 7), (2, 2), (3, 3, 3, 3)),
        ((112, 112), (3, 3), (2, 2), (0, 1, 0, 1)),
        ((56, 56), (3, 3), (1, 1), (1, 1, 1, 1)),
        ((7, 9), (1, 1), (2, 2), (0, 0, 0, 0)),
    ],
)
def test_same_padding_follows_tensorflow(size, kernel, stride, expected):
    assert resolve_padding("same", size, kernel, stride, (1, 1)) == expected


def _shape(kind, attrs, shapes):
    op = O.REGISTRY[kind]
    return op.shape(op.attrs.model_validate(attrs), shapes, {})


def test_conv_and_pool_shapes():
    assert _shape("conv", {"filters": 64, "kernel": 7, "stride": 2, "padding": 3}, [(3, 224, 224)]) == (64, 112, 112)
    assert _shape("conv", {"filters": 64, "kernel": 7, "stride": 2, "padding": "same"}, [(3, 97, 97)]) == (64, 49, 49)
    assert _shape("maxpool", {"kernel": 3, "stride": 2, "padding": 1}, [(64, 112, 112)]) == (64, 56, 56)
    # ceil_mode as PyTorch: a 2x2/2 average pool over 7 rows gives 4 with ceil_mode, 3 without
    assert _shape("avgpool", {"kernel": 2, "stride": 2, "ceil_mode": True}, [(8, 7, 7)]) == (8, 4, 4)
    assert _shape("avgpool", {"kernel": 2, "stride": 2}, [(8, 7, 7)]) == (8, 3, 3)
    assert _shape("conv", {"filters": 8, "kernel": [1, 3], "padding": [[0, 0], [1, 1]]}, [(4, 5, 5)]) == (8, 5, 5)


def test_shape_errors_have_kinds():
    with pytest.raises(ShapeError) as info:
        _shape("add", {}, [(64, 56, 56), (256, 56, 56)])
    assert info.value.kind == "mismatch" and "channels differ" in info.value.message
    with pytest.raises(ShapeError) as info:
        _shape("conv", {"filters": 64, "kernel": 7}, [(3, 4, 4)])
    assert info.value.kind == "collapse"
    with pytest.raises(ShapeError) as info:
        _shape("conv", {"filters": 64, "kernel": 3, "groups": 32}, [(48, 8, 8)])
    assert info.value.kind == "channels"
    with pytest.raises(ShapeError) as info:
        _shape("linear", {"units": 10}, [(64, 7, 7)])
    assert info.value.kind == "rank"
    assert _shape("multiply", {}, [(64, 7, 7), (64, 1, 1)]) == (64, 7, 7)
    assert _shape("concat", {}, [(64, 7, 7), (32, 7, 7)]) == (96, 7, 7)


def test_counts_follow_torchinfo():
    net = archspec.load(SPECS / "resnet50.yaml")
    conv1 = net.node("conv1")
    assert conv1.params == 64 * 3 * 7 * 7
    assert conv1.macs == conv1.params * 112 * 112  # each weight once per output position
    assert net.node("bn1").macs == 128  # weight and bias, once
    assert net.node("fc").macs == 2048 * 1000 + 1000
    assert net.node("relu").macs == 0


@pytest.mark.parametrize(
    "size, expected",
    [((224, 224), (2048, 7, 7)), ((97, 97), (2048, 4, 4)), ((225, 225), (2048, 8, 8)), ((64, 128), (2048, 2, 4))],
)
def test_any_input_size(size, expected):
    net = archspec.load(SPECS / "resnet50.yaml", input_size=size)
    assert net.block("layer4.2").out_shape == expected
    assert net.output_shape == (1000,)
    assert net.params == 25_557_032  # independent of the input size


def test_names_and_hierarchy():
    net = archspec.load(SPECS / "resnet50.yaml")
    node = net.node("layer1.0.downsample.0")
    assert (node.stage, node.block, node.block_id, node.part) == (1, 1, "layer1.0", "shortcut")
    assert node.keras_name == "layer1_0_0_conv"
    assert net.node("layer2.0.conv2").attrs.stride == (2, 2)  # v1.5: the stride on the 3x3
    assert net.node("layer2.0.conv1").attrs.stride == (1, 1)
    assert [b.id for b in net.blocks][:4] == ["layer1.0", "layer1.1", "layer1.2", "layer2.0"]
    assert net.block("layer3.5").shortcut_case is None  # identity shortcut
    assert net.block("layer3.0").shortcut_case == 0
    assert net.graph.number_of_edges() >= net.graph.number_of_nodes() - 1


def test_overrides_and_vars(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        archspec: 1
        extends: {SPECS / "resnet18.yaml"}
        name: v
        vars: {{num_classes: 10}}
        stages:
          overrides:
            "2.1": {{width: 96}}
    """)
    )
    net = archspec.load(path)
    assert net.output_shape == (10,)
    assert net.node("layer2.0.conv1").attrs.filters == 96
    assert net.node("layer2.1.conv1").attrs.filters == 128
