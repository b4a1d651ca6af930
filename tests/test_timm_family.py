"""The timm-layout specs against timm itself (skipped where timm is not installed): each
generated PyTorch model loads timm's state dict with strict=True and gives timm's outputs.
The offline half, which CI runs without timm, is in test_catalog's comparison with
tests/reference/torch_models.json."""

from __future__ import annotations

import sys
import types

import pytest
from conftest import SPECS

import archspec

# spec name (= timm model name) -> whether it runs only with -m slow: one model per construct
# runs by default (deep stem and average-pool shortcut, ECA, GroupNorm, named RegNet blocks with
# SE, weight standardization, Res2Net's split, blur pool); the others repeat a construct or are
# large. Every one of them is compared offline in test_catalog, and in bench/coverage.py.
# The deeper or larger timm-layout specs (resnet152d, seresnext101_32x4d, regnety_040, ...) repeat these
# constructs: they passed this test once when added (4 to 120 s each) and are compared with timm
# only by bench/coverage.py, so that the suite stays within its time.
TIMM_SPECS = {
    "resnet26d": False,
    "resnet50t": True,
    "resnet101d": True,
    "seresnext50_32x4d": True,
    "resnetaa50d": True,
    "ecaresnet50d": False,
    "resnet50_gn": False,
    "resnetrs50": True,
    "senet154": True,
    "regnetx_002": True,
    "regnety_002": False,
    "resnetv2_50x1_bit": False,
    "resnetblur50": False,
    "res2net50_26w_4s": False,
    "resnet10t": True,
    "resnet14t": True,
    "resnet18d": True,
    "resnet34d": True,
    "regnetx_004": True,
    "regnety_004": True,
    "ecaresnet26t": True,
    "resnet26": True,
    "resnet26t": True,
    "resnet50s": True,
    "resnetaa34d": True,
    "resnetaa50": True,
    "seresnet18": True,
    "regnetx_006": True,
    "regnety_008": True,
    "regnety_040_sgn": False,
    "regnetv_040": False,
    "regnetv_064": True,
    "regnetz_005": False,
    "regnetz_040": True,
    "regnetz_040_h": True,
}


def _timm():
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    return pytest.importorskip("timm")


def _params():
    for name, slow in TIMM_SPECS.items():
        marks = [pytest.mark.slow] if slow else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(_params()))
def test_spec_loads_timm_state_dict_and_gives_its_outputs(name):
    timm = _timm()
    import torch

    path = SPECS / f"{name}.yaml"
    peer = timm.create_model(name, pretrained=False).double().eval()
    model = archspec.build_model(path, backend="torch").double().eval()
    theirs = peer.state_dict()
    # random statistics, so that every norm and its eps matter
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for key, value in theirs.items():
            if value.is_floating_point():
                if key.endswith("running_var"):
                    value.copy_(torch.rand(value.shape, generator=generator, dtype=value.dtype) + 0.5)
                elif key.endswith(("weight", "bias", "running_mean")) and value.ndim == 1:
                    value.copy_(
                        torch.randn(value.shape, generator=generator, dtype=value.dtype) * 0.1
                        + 1.0 * key.endswith("weight")
                    )
    model.load_state_dict(theirs, strict=True)
    peer.load_state_dict(theirs, strict=True)
    net = archspec.load(path)
    assert net.params == sum(p.numel() for p in peer.parameters())
    for size in (65, 64):
        x = torch.randn(2, 3, size, size, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            ours, expected = model(x), peer(x)
        assert ours.shape == expected.shape
        scale = max(1.0, expected.abs().max().item())
        assert (ours - expected).abs().max().item() <= 1e-9 * scale, size
