"""The spec catalog against its peers.

Every model in the reference file (torchvision / timm, measured with torchinfo) that has a
spec of the same name in ``specs/`` must give the peer's parameter count, its
multiply-accumulates at 224x224 and its whole state dict (every key and its shape).  Every
shipped spec, in the reference or not, must lower to the IR without an error.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from archspec.ir.build import build_ir
from archspec.ir.graph import Network
from archspec.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
# Measured on the peers (torchvision 0.28, timm 1.0.31, torchinfo 1.8); a copy of
# shared/reference/torch_models.json, committed so that the tests never depend on the machine.
REFERENCE_FILE = ROOT / "tests" / "reference" / "torch_models.json"


def _reference() -> dict:
    return json.loads(REFERENCE_FILE.read_text())


REFERENCE = _reference()
CATALOG = sorted(name for name in REFERENCE if (SPECS / f"{name}.yaml").is_file())
ALL_SPECS = sorted(SPECS.glob("*.yaml"))


def _batchnorm_affine(net: Network) -> int:
    return sum(node.params for node in net.ops() if node.op == "batchnorm")


def _groupnorm_affine(net: Network) -> int:
    return sum(node.params for node in net.ops() if node.op == "groupnorm")


def _evonorm_v_and_frn_tau(net: Network) -> int:
    """EvoNorm-S0's v and the filter response norm's tau: a third of each such op's parameters."""
    return sum(node.params // 3 for node in net.ops() if node.op in ("evonorm_s0", "frn_tlu"))


_V_AND_TAU = (
    "torchinfo counts a layer's parameters named weight or bias only, not EvoNorm2dS0's v nor "
    "FilterResponseNormTlu2d's tau, which the IR counts once each like every other parameter"
)

_NORM_ACT = (
    "timm's {} holds its activation as a child module, so torchinfo counts it as a container "
    "and totals only leaf modules: the norms' weights and biases are left out"
)


def _selective_kernel_norm_act(net: Network) -> int:
    """The BatchNorms timm's SelectiveKernelBasic/Bottleneck build as ConvNormAct's
    BatchNormAct2d (the selective kernel's paths, the blocks' other convolutions), not those
    of the attention or the shortcut."""
    return sum(
        node.params
        for node in net.ops()
        if node.op == "batchnorm"
        and (".paths." in node.torch_path or node.torch_path.endswith((".conv1.bn", ".conv2.bn", ".conv3.bn")))
    )


# Differences from the peer's torchinfo figure that cannot be removed, and why.
# name -> (what the IR counts on top of torchinfo, as a function of the network; the reason)
MACS_BEYOND_TORCHINFO = {
    "resnetv2_50": (
        _batchnorm_affine,
        "timm's BatchNormAct2d holds its ReLU as a child module, so torchinfo counts it as a "
        "container and totals only leaf modules: the batch norms' weights and biases are left out",
    ),
    "regnetx_002": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnety_002": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnetx_004": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnety_004": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnetx_004_tv": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnetx_006": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnetx_008": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnetx_016": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnetx_032": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnetx_040": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnety_006": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnety_008": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnety_008_tv": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnety_016": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnety_032": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnety_040": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnetx_064": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnetx_080": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnetx_120": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnety_064": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnety_080": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnety_080_tv": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnety_120": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnetx_160": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnety_160": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnetx_320": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "regnety_320": (_batchnorm_affine, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "resnetv2_50x1_bit": (_groupnorm_affine, _NORM_ACT.format("GroupNormAct")),
    "resnetv2_18": (_batchnorm_affine, _NORM_ACT.format("BatchNormAct2d")),
    "resnetv2_18d": (_batchnorm_affine, _NORM_ACT.format("BatchNormAct2d")),
    "resnetv2_34": (_batchnorm_affine, _NORM_ACT.format("BatchNormAct2d")),
    "resnetv2_34d": (_batchnorm_affine, _NORM_ACT.format("BatchNormAct2d")),
    "resnetv2_50d": (_batchnorm_affine, _NORM_ACT.format("BatchNormAct2d")),
    "resnetv2_50t": (_batchnorm_affine, _NORM_ACT.format("BatchNormAct2d")),
    "resnetv2_101": (_batchnorm_affine, _NORM_ACT.format("BatchNormAct2d")),
    "resnetv2_101d": (_batchnorm_affine, _NORM_ACT.format("BatchNormAct2d")),
    "resnetv2_152": (_batchnorm_affine, _NORM_ACT.format("BatchNormAct2d")),
    "resnetv2_152d": (_batchnorm_affine, _NORM_ACT.format("BatchNormAct2d")),
    "resnetv2_50d_gn": (_groupnorm_affine, _NORM_ACT.format("GroupNormAct")),
    "resnetv2_50d_evos": (_evonorm_v_and_frn_tau, _V_AND_TAU),
    "resnetv2_50d_frn": (_evonorm_v_and_frn_tau, _V_AND_TAU),
    "resnetv2_101x1_bit": (_groupnorm_affine, _NORM_ACT.format("GroupNormAct")),
    "resnetv2_50x3_bit": (_groupnorm_affine, _NORM_ACT.format("GroupNormAct")),
    "resnetv2_101x3_bit": (_groupnorm_affine, _NORM_ACT.format("GroupNormAct")),
    "resnetv2_152x2_bit": (_groupnorm_affine, _NORM_ACT.format("GroupNormAct")),
    "skresnet18": (_selective_kernel_norm_act, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "skresnet34": (_selective_kernel_norm_act, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "skresnet50": (_selective_kernel_norm_act, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "skresnet50d": (_selective_kernel_norm_act, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
    "skresnext50_32x4d": (_selective_kernel_norm_act, _NORM_ACT.format("ConvNormAct's BatchNormAct2d")),
}


@cache
def _network(name: str) -> Network:
    return build_ir(load_spec(SPECS / f"{name}.yaml"))


def test_catalog_covers_the_shipped_families():
    expected = set(
        "resnet18 resnet34 resnet50 resnet101 resnet152 resnext50_32x4d resnext101_32x8d "
        "wide_resnet50_2 wide_resnet101_2 resnet50d seresnet50 resnetv2_50 "
        "resnet26d resnet50t resnet101d seresnext50_32x4d resnetaa50d ecaresnet50d resnet50_gn "
        "resnetrs50 senet154 regnetx_002 regnety_002 resnetv2_50x1_bit resnetblur50 res2net50_26w_4s "
        "resnet10t resnet14t resnet18d resnet34d regnetx_004 regnety_004 ecaresnet101d ecaresnet200d "
        "ecaresnet26t ecaresnet50t ecaresnetlight ecaresnext26t_32x4d ecaresnext50t_32x4d resnet101c "
        "resnet101s resnet152c resnet152d resnet152s resnet200 resnet200d resnet26 resnet26t resnet50c "
        "resnet50s resnetaa101d resnetaa34d resnetaa50 resnetrs101 resnetrs152 resnext101_32x4d "
        "resnext50d_32x4d seresnet101 seresnet152 seresnet152d seresnet18 seresnet200d seresnet34 "
        "seresnet50t seresnetaa50d seresnext101_32x4d seresnext101_32x8d seresnext101_64x4d "
        "seresnext101d_32x8d seresnext26d_32x4d seresnext26t_32x4d "
        "regnetx_004_tv regnetx_006 regnetx_008 regnetx_016 regnetx_032 regnetx_040 regnety_006 regnety_008 "
        "regnety_008_tv regnety_016 regnety_032 regnety_040 regnetx_064 regnetx_080 regnetx_120 regnety_064 "
        "regnety_080 regnety_080_tv regnety_120 resnetv2_18 resnetv2_18d resnetv2_34 resnetv2_34d resnetv2_50d "
        "resnetv2_50t resnetv2_101 resnetv2_101d resnetv2_152 resnetv2_152d resnetv2_50d_gn resnetv2_101x1_bit "
        "resnetv2_50d_evos resnetv2_50d_frn resnetv2_50x3_bit resnetv2_101x3_bit resnetv2_152x2_bit "
        "resnetblur18 resnetblur50d resnetblur101d res2net50_26w_6s res2net50_26w_8s res2net50_14w_8s "
        "res2net50_48w_2s res2next50 res2net50d res2net101_26w_4s res2net101d "
        "resnest50d_1s4x24d resnest50d_4s2x40d resnest101e resnext101_64x4d resnext101_32x16d test_resnet "
        "resnetrs200 seresnextaa101d_32x8d regnetx_160 regnety_160 "
        "resnest200e seresnet269d ecaresnet269d "
        "resnetrs270 seresnextaa201d_32x8d "
        "resnest269e regnetx_320 regnety_320".split()
    )
    assert expected <= set(CATALOG)


@pytest.mark.parametrize("name", CATALOG)
def test_spec_name_is_its_file_name(name):
    assert load_spec(SPECS / f"{name}.yaml").spec.name == name


@pytest.mark.parametrize("name", CATALOG)
def test_params_equal_the_peer(name):
    assert _network(name).params == REFERENCE[name]["params"]


@pytest.mark.parametrize("name", CATALOG)
def test_macs_equal_torchinfo(name):
    net = _network(name)
    beyond, _reason = MACS_BEYOND_TORCHINFO.get(name, (lambda net: 0, ""))
    assert net.macs - beyond(net) == REFERENCE[name]["mult_adds_224"]


def test_known_mac_differences_are_not_zero():
    # An entry that no longer explains anything should be removed.
    for name, (beyond, _reason) in MACS_BEYOND_TORCHINFO.items():
        if name in CATALOG:
            assert beyond(_network(name)) > 0


@pytest.mark.parametrize("name", CATALOG)
def test_state_dict_equals_the_peer(name):
    ours = _network(name).state_dict_shapes()
    theirs = {key: tuple(shape) for key, shape in REFERENCE[name]["state_dict"].items()}
    missing = sorted(theirs.keys() - ours.keys())
    extra = sorted(ours.keys() - theirs.keys())
    shared = ours.keys() & theirs.keys()
    wrong = sorted((key, ours[key], theirs[key]) for key in shared if ours[key] != theirs[key])
    assert not missing, f"{len(missing)} keys missing, first: {missing[:5]}"
    assert not extra, f"{len(extra)} keys the peer lacks, first: {extra[:5]}"
    assert not wrong, f"{len(wrong)} shapes differ (key, ours, peer), first: {wrong[:5]}"


@pytest.mark.parametrize("path", ALL_SPECS, ids=[p.stem for p in ALL_SPECS])
def test_every_spec_lowers_without_errors(path):
    net = build_ir(load_spec(path))
    errors = [d for d in net.diagnostics if d.is_error]
    assert not errors, "\n".join(f"{d.code} {d.message} at {d.span}" for d in errors)
    unknown = [n.torch_path for n in net.nodes() if n.shape is None or n.error is not None]
    assert not unknown, f"shape errors or unknown shapes at: {unknown[:5]}"
    assert net.ok
