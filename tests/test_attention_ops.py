"""Selective-kernel attention (SKNet) and split attention (ResNeSt) with any radix: the two ops
they need (``radix_sum``, ``radix_softmax``) in the registry, both backends' code, the
cross-check at an odd and an even input size, and, where timm is installed, the shipped specs
and ResNeSt blocks of other radices and cardinalities against timm's own models."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from conftest import FIXTURES, SPECS

import archspec
from archspec.ir import ops as O
from archspec.ir.ops import ShapeError

ATTENTION = FIXTURES / "family" / "attention.yaml"


def _attrs(kind, **values):
    return O.get(kind).attrs.model_validate(values)


def _infer(kind, attrs, shapes):
    opdef = O.get(kind)
    out = opdef.shape(attrs, shapes, {})
    return out, opdef.params(attrs, shapes), opdef.macs(attrs, shapes, out)


def test_radix_sum_divides_the_channels_and_has_no_tensors():
    assert _infer("radix_sum", _attrs("radix_sum", radix=2), [(64, 7, 9)]) == ((32, 7, 9), 0, 0)
    assert _infer("radix_sum", _attrs("radix_sum", radix=4), [(64,)]) == ((16,), 0, 0)
    assert _infer("radix_sum", _attrs("radix_sum", radix=1), [(64, 5, 5)])[0] == (64, 5, 5)
    with pytest.raises(ShapeError) as info:
        _infer("radix_sum", _attrs("radix_sum", radix=3), [(64, 7, 7)])
    assert info.value.kind == "channels" and "radix=3" in info.value.message


def test_radix_softmax_keeps_the_shape_and_needs_radix_times_groups_to_divide():
    assert _infer("radix_softmax", _attrs("radix_softmax", radix=4, groups=2), [(128, 1, 1)]) == ((128, 1, 1), 0, 0)
    assert _infer("radix_softmax", _attrs("radix_softmax", radix=2), [(96, 3, 5)])[0] == (96, 3, 5)
    with pytest.raises(ShapeError) as info:
        _infer("radix_softmax", _attrs("radix_softmax", radix=4, groups=5), [(96, 1, 1)])
    assert info.value.kind == "channels"
    with pytest.raises(ValueError):
        _attrs("radix_softmax", radix=1)  # a softmax over one part is constant: timm uses a sigmoid there


def _module(source: str, name: str):
    namespace: dict = {}
    exec(compile(source, "<generated>", "exec"), namespace)
    return namespace[name]


@pytest.mark.parametrize(("radix", "groups", "shape"), [(2, 1, (12, 1, 1)), (4, 2, (48, 1, 1)), (3, 2, (12, 3, 5))])
def test_helpers_compute_the_documented_layout(radix, groups, shape):
    """The generated helpers against the layout written out in numpy: input channels
    (groups, radix, rest), softmax across radix, output channels (radix, groups, rest)."""
    import torch

    source = archspec.emit(ATTENTION, backend="torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *shape))
    c, rest = shape[0], shape[0] // (radix * groups)
    parts = x.reshape(2, groups, radix, rest, *shape[1:])
    soft = np.exp(parts) / np.exp(parts).sum(axis=2, keepdims=True)
    expected = np.swapaxes(soft, 1, 2).reshape(x.shape)
    ours = _module(source, "RadixSoftmax")(radix, groups)(torch.from_numpy(x)).numpy()
    assert np.allclose(ours, expected, rtol=0, atol=1e-12)
    summed = x.reshape(2, radix, c // radix, *shape[1:]).sum(axis=1)
    ours = _module(source, "RadixSum")(radix)(torch.from_numpy(x)).numpy()
    assert np.allclose(ours, summed, rtol=0, atol=1e-12)


def test_generated_code_uses_the_helpers_and_imports_only_the_framework():
    torch_src = archspec.emit(ATTENTION, backend="torch")
    for piece in ("RadixSoftmax(radix, groups)", "RadixSum(radix)", "RadixSoftmax(2, 1)", "dilation=2", "nn.Sigmoid()"):
        assert piece in torch_src, piece
    keras_src = archspec.emit(ATTENTION, backend="keras")
    for piece in ("class RadixSoftmax(layers.Layer)", "class RadixSum(layers.Layer)", "DilatedConv2D(", "subsample="):
        assert piece in keras_src, piece
    for source, framework in ((torch_src, "torch"), (keras_src, "keras")):
        imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
        assert imports and all(line.split()[1].split(".")[0] == framework for line in imports), imports


@pytest.mark.parametrize("size", [33, 32])
def test_attention_cross_checks_at_odd_and_even_sizes(size):
    from archspec.crosscheck.compare import check_spec

    result = check_spec(ATTENTION, (size, size), batch=2)
    assert result.passed, [d for d in result.layers if not d.passed][:3]
    checked = {d.name for d in result.layers}
    assert {"sk.0.conv1.attn.softmax", "sk.1.conv1.sum", "r2.0.conv2.gap_sum", "r4.0.conv2.rsoftmax"} <= checked


def test_a_wrong_radix_layout_fails_the_check():
    """The check can fail: a Keras softmax that ignores the cardinality groups is another layer."""
    from archspec.crosscheck.compare import build_pair, compare_models

    net = archspec.load(ATTENTION)
    torch_model, keras_model = build_pair(net)
    keras_model.get_layer("r4_0_2_rsoftmax").cardinality = 1
    diffs = compare_models(torch_model, keras_model, net)
    assert next(d for d in diffs if not d.passed).name == "r4.0.conv2.rsoftmax"


# --------------------------------------------------------------------------------------------
# against timm (skipped where timm is not installed)


def _timm():
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    return pytest.importorskip("timm")


def _same_outputs(model, peer, sizes=(33, 32)) -> float:
    """Load the peer's state dict (random norms, so that every statistic matters) with
    strict=True into ``model``; the largest output difference over the sizes, in float64."""
    import torch

    model, peer = model.double().eval(), peer.double().eval()
    theirs = peer.state_dict()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for key, value in theirs.items():
            if value.is_floating_point() and value.ndim == 1:
                if key.endswith("running_var"):
                    value.copy_(torch.rand(value.shape, generator=generator, dtype=value.dtype) + 0.5)
                else:
                    value.add_(torch.randn(value.shape, generator=generator, dtype=value.dtype) * 0.1)
    model.load_state_dict(theirs, strict=True)
    peer.load_state_dict(theirs, strict=True)
    worst = 0.0
    for size in sizes:
        x = torch.randn(2, 3, size, size, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            ours, expected = model(x), peer(x)
        assert ours.shape == expected.shape
        worst = max(worst, (ours - expected).abs().max().item() / max(1.0, expected.abs().max().item()))
    return worst


@pytest.mark.parametrize("name", ["skresnet18", "resnest14d"])
def test_shipped_specs_equal_timm(name):
    timm = _timm()
    path = SPECS / f"{name}.yaml"
    peer = timm.create_model(name, pretrained=False, num_classes=10)
    model = archspec.build_model(path, backend="torch", num_classes=10)
    assert _same_outputs(model, peer) <= 1e-12


@pytest.mark.parametrize(
    ("args", "block_args"),
    [
        # resnest50d_4s2x40d's blocks (radix 4, cardinality 2, avd first), one per stage
        ({"radix": 4, "groups": 2, "base_width": 40, "avd_first": True}, {"radix": 4, "avd_first": True}),
        # resnest50d_1s4x24d's (radix 1: a sigmoid, cardinality 4)
        ({"radix": 1, "groups": 4, "base_width": 24, "avd_first": True}, {"radix": 1, "avd_first": True}),
    ],
    ids=["radix4_card2", "radix1_card4"],
)
def test_split_attention_of_any_radix_equals_timm(tmp_path, args, block_args):
    _timm()
    from timm.models.resnest import ResNestBottleneck
    from timm.models.resnet import ResNet

    text = (SPECS / "resnest14d.yaml").read_text()
    text = text.replace("name: resnest14d", "name: resnest_variant").replace(
        "  columns: [depth, width, stride]", f"  columns: [depth, width, stride]\n  args: {args!r}".replace("'", "")
    )
    path = tmp_path / "resnest_variant.yaml"
    path.write_text(text.replace("True", "true"))
    peer = ResNet(
        block=ResNestBottleneck,
        layers=[1, 1, 1, 1],
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        base_width=args["base_width"],
        cardinality=args["groups"],
        block_args={"avd": True, **block_args},
        num_classes=10,
    )
    model = archspec.build_model(path, backend="torch", num_classes=10)
    assert _same_outputs(model, peer) <= 1e-12
