"""The ops added for the ResNet family and its neighbours (GroupNorm, weight-standardized
convolution, ECA's channel convolution, LayerNorm over channels, EvoNorm-S0, filter response
norm with TLU, GELU, hardswish, hardsigmoid, mish, ELU, PReLU) and named blocks: their shape
rules, tensors and counts in the registry, both backends' code, and the cross-check at an odd
and an even input size.  Where timm is installed, each construct is also compared with timm's
own module."""

from __future__ import annotations

import math
import sys
import types

import pytest
from conftest import FIXTURES

import archspec
from archspec.ir import ops as O
from archspec.ir.ops import ShapeError

OPS_ALL = FIXTURES / "family" / "ops_all.yaml"


def _attrs(kind, **values):
    return O.get(kind).attrs.model_validate(values)


def _infer(kind, attrs, shapes):
    opdef = O.get(kind)
    out = opdef.shape(attrs, shapes, {})
    return out, opdef.params(attrs, shapes), opdef.macs(attrs, shapes, out)


def test_groupnorm_counts_and_divisibility():
    attrs = _attrs("groupnorm", groups=32, eps=1e-5)
    assert _infer("groupnorm", attrs, [(256, 7, 9)]) == ((256, 7, 9), 512, 512)
    with pytest.raises(ShapeError) as info:
        _infer("groupnorm", attrs, [(48, 7, 7)])
    assert info.value.kind == "channels" and "divide" in info.value.message


def test_evonorm_and_frn_counts_and_shapes():
    attrs = _attrs("evonorm_s0", groups=32, eps=1e-5)
    assert _infer("evonorm_s0", attrs, [(256, 7, 9)]) == ((256, 7, 9), 768, 768)  # weight, bias, v
    assert [t.name for t in O.get("evonorm_s0").tensors(attrs, [(256, 7, 9)])] == ["weight", "bias", "v"]
    with pytest.raises(ShapeError) as info:
        _infer("evonorm_s0", attrs, [(48, 7, 7)])
    assert info.value.kind == "channels" and "divide" in info.value.message
    attrs = _attrs("frn_tlu")
    assert attrs.eps == 1e-5  # timm's default
    assert _infer("frn_tlu", attrs, [(96, 5, 4)]) == ((96, 5, 4), 288, 288)  # weight, bias, tau
    assert [t.name for t in O.get("frn_tlu").tensors(attrs, [(96, 5, 4)])] == ["weight", "bias", "tau"]
    for kind in ("evonorm_s0", "frn_tlu"):  # statistics over the positions: a vector has none
        with pytest.raises(ShapeError):
            _infer(kind, _attrs(kind, **({"groups": 1} if kind == "evonorm_s0" else {})), [(64,)])


@pytest.mark.parametrize("channels", [64, 128, 256, 512, 1024, 2048, 3, 7])
def test_channel_conv_kernel_follows_timm_rule(channels):
    # timm's EcaModule: t = int(abs(log2(C) + beta) / gamma); k = max(t if t odd else t + 1, 3)
    t = int(abs(math.log(channels, 2) + 1) / 2)
    expected = max(t if t % 2 else t + 1, 3)
    attrs = _attrs("channel_conv")
    shape, params, macs = _infer("channel_conv", attrs, [(channels, 1, 1)])
    assert shape == (channels, 1, 1)
    assert params == expected  # one (1, 1, k) kernel
    assert macs == expected * channels  # torchinfo: a Conv1d over C positions
    assert attrs.size(channels) == expected


def test_channel_conv_needs_pooled_channels_and_an_odd_kernel():
    with pytest.raises(ShapeError) as info:
        _infer("channel_conv", _attrs("channel_conv"), [(64, 7, 7)])
    assert info.value.kind == "rank"
    with pytest.raises(ValueError, match="odd"):
        _attrs("channel_conv", kernel=4)


def test_prelu_and_layernorm_tensors():
    assert _infer("prelu", _attrs("prelu"), [(64, 5, 5)])[1] == 1
    assert _infer("prelu", _attrs("prelu", per_channel=True), [(64, 5, 5)])[1] == 64
    assert _infer("layernorm", _attrs("layernorm"), [(96, 5, 5)])[1:] == (192, 192)
    assert _infer("layernorm", _attrs("layernorm"), [(96,)])[0] == (96,)


def test_channel_slice_takes_a_part_and_checks_the_range():
    attrs = _attrs("channel_slice", start=26, size=26)
    assert _infer("channel_slice", attrs, [(104, 9, 7)]) == ((26, 9, 7), 0, 0)
    with pytest.raises(ShapeError) as info:
        _infer("channel_slice", _attrs("channel_slice", start=90, size=26), [(104, 9, 7)])
    assert info.value.kind == "channels"


@pytest.mark.parametrize(("size", "out"), [(56, 28), (7, 4), (2, 1)])
def test_blur_pool_shape_has_no_tensors(size, out):
    # timm's BlurPool2d: reflect padding (stride - 1 + filter - 1) // 2, then the filter with the stride
    assert _infer("blur_pool", _attrs("blur_pool"), [(64, size, size)]) == ((64, out, out), 0, 0)
    with pytest.raises(ShapeError) as info:
        _infer("blur_pool", _attrs("blur_pool"), [(64, 1, 1)])
    assert info.value.kind == "collapse"


def test_standardized_conv_has_a_plain_convs_tensors():
    plain = _attrs("conv", filters=64, kernel=3, bias=False)
    std = _attrs("conv", filters=64, kernel=3, bias=False, standardize=True, std_eps=1e-8)
    assert _infer("conv", plain, [(32, 9, 9)]) == _infer("conv", std, [(32, 9, 9)])


def test_named_blocks_give_the_module_paths(tmp_path):
    net = archspec.load(OPS_ALL)
    assert [b.id for b in net.blocks] == ["s1.b1", "s1.b2", "s2.b1"]
    keys = {f"{n.torch_path}.{t.name}" for n in net.ops() for t in n.tensors()}
    assert {"s1.b1.conv1.weight", "s1.b2.se.conv.weight", "s2.b1.act.weight"} <= keys


def test_a_bad_block_name_pattern_is_reported(tmp_path):
    text = OPS_ALL.read_text().replace("block_name: b{block}", "block_name: b{blk}")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    found = archspec.lint_spec(path)
    assert any(d.code == "AS104" and "block name pattern" in d.message for d in found)
    text = OPS_ALL.read_text().replace("block_name: b{block}", "block_name: b-{block}")
    path.write_text(text)
    found = archspec.lint_spec(path)
    assert any(d.code == "AS101" and "block name" in d.message for d in found)


def test_generated_code_uses_the_frameworks_layers():
    torch_src = archspec.emit(OPS_ALL, backend="torch")
    for piece in (
        "StdConv2d(",
        "StdConv2dSame(",
        "eps=1e-08",
        "nn.GroupNorm(4, width, eps=1e-05)",
        "LayerNorm2d(width, eps=1e-06)",
        "nn.LayerNorm(32, eps=1e-05)",
        "ChannelConv.from_channels(width, gamma=2.0, beta=1.0)",
        'nn.GELU(approximate="tanh")',
        "nn.Hardswish(",
        "nn.Mish(",
        "nn.ELU(alpha=0.7",
        "nn.PReLU(num_parameters=width, init=0.25)",
        '("b1", EcaBlock(16, width=16))',
        "BlurPool2d(16, filt_size=3, stride=2)",
        "EvoNorm2dS0(16, groups=4, eps=0.001)",
        "FilterResponseNormTlu2d(16, eps=1e-06)",
    ):
        assert piece in torch_src, piece
    keras_src = archspec.emit(OPS_ALL, backend="keras")
    for piece in (
        "class StdConv2D(layers.Conv2D)",
        "layers.GroupNormalization(groups=4, axis=-1, epsilon=1e-05",
        "layers.LayerNormalization(axis=-1, epsilon=1e-06",
        "ChannelConv(eca_kernel_size(",
        "layers.Activation(gelu_tanh",
        'layers.Activation("hard_swish"',
        'layers.Activation("hard_sigmoid"',
        'layers.Activation("mish"',
        "shared_axes=[1, 2]",
        "shared_axes=[1, 2, 3]",
        "BlurPool2D(filt_size=3, stride=2",
        "EvoNormS0(groups=4, epsilon=0.001",
        "FilterResponseNormTlu(epsilon=1e-06",
    ):
        assert piece in keras_src, piece


@pytest.mark.parametrize("size", [33, 32])
def test_every_new_op_cross_checks_at_odd_and_even_sizes(size):
    from archspec.crosscheck.compare import check_spec

    result = check_spec(OPS_ALL, (size, size), batch=2)
    assert result.passed, [d for d in result.layers if not d.passed][:3]
    checked = {d.name.rsplit(".", 1)[-1] for d in result.layers}
    assert {"gn1", "ln", "conv", "conv2", "pr", "norm", "b1", "b2", "evo", "frn"} <= checked


def test_a_wrong_groupnorm_grouping_fails_the_check(tmp_path):
    """The check can fail: Keras' GroupNormalization with other groups is a different layer."""
    from archspec.crosscheck.compare import build_pair, compare_models

    net = archspec.load(OPS_ALL)
    torch_model, keras_model = build_pair(net)
    for layer in keras_model.layers:
        if layer.name.endswith("gn1"):
            layer.groups = 2
    diffs = compare_models(torch_model, keras_model, net)
    assert not all(d.passed for d in diffs)
    assert next(d for d in diffs if not d.passed).name == "s1.b1.gn1"


def test_a_wrong_evonorm_grouping_fails_the_check():
    """The check can fail: EvoNorm-S0 with other groups, or a filter response norm with another
    eps, is a different layer."""
    from archspec.crosscheck.compare import build_pair, compare_models

    net = archspec.load(OPS_ALL)
    torch_model, keras_model = build_pair(net)
    keras_model.get_layer("evo").groups = 2
    diffs = compare_models(torch_model, keras_model, net)
    assert next(d for d in diffs if not d.passed).name == "evo"
    keras_model.get_layer("evo").groups = 4
    keras_model.get_layer("frn").epsilon = 1.0
    diffs = compare_models(torch_model, keras_model, net)
    assert next(d for d in diffs if not d.passed).name == "frn"


def test_inference_form_does_not_fold_into_a_standardized_conv(tmp_path):
    from archspec.backends.folding import foldable_batchnorms

    text = """
    archspec: 1
    name: ws
    input: {channels: 3, size: [16, 16]}
    stem:
      - {op: conv, name: a, filters: 8, kernel: 3, standardize: true}
      - {op: batchnorm, name: a_bn}
      - {op: conv, name: b, filters: 8, kernel: 3}
      - {op: batchnorm, name: b_bn}
    """
    import textwrap

    path = tmp_path / "ws.yaml"
    path.write_text(textwrap.dedent(text))
    net = archspec.load(path)
    assert list(foldable_batchnorms(net)) == ["b_bn"]


# --------------------------------------------------------------------------------------------
# against timm's modules (skipped where timm is not installed)


def test_generated_helpers_import_the_framework_only_and_are_ruff_clean(tmp_path):
    """Every helper at once (the fixture uses them all): the modules import only the framework
    (``F`` only where a helper calls it), and ruff finds no unused or undefined name."""
    import subprocess

    from archspec.backends import render

    files = []
    for backend in ("torch", "keras"):
        path = tmp_path / f"ops_all_{backend}.py"
        path.write_text(archspec.emit(OPS_ALL, backend=backend))
        files.append(str(path))
        imports = [line for line in path.read_text().splitlines() if line.startswith(("import ", "from "))]
        assert {line.split()[1].split(".")[0] for line in imports} == {backend}, imports
    check = subprocess.run(
        [render.ruff_binary(), "check", "--isolated", "--select", "F", *files], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_generated_eca_kernel_size_follows_the_irs_rule():
    """The generated code computes ECA's kernel size with the framework's log2; it gives the
    IR's size (timm's rule, ``math.log``) for every channel count tried, at several gamma and beta."""
    keras = pytest.importorskip("keras")
    channel_conv = _module(archspec.emit(OPS_ALL, backend="torch"), "ChannelConv")
    eca_kernel_size = _module(archspec.emit(OPS_ALL, backend="keras"), "eca_kernel_size")
    # around every power of two (where the rule's steps fall at gamma 2, beta 1) and a few others
    counts = sorted({c for k in range(1, 21) for c in (2**k - 1, 2**k, 2**k + 1)} | {3, 5, 7, 24, 48, 999_983})
    for gamma, beta in ((2.0, 1.0), (1.0, 0.0), (1.5, 0.5), (2.0, -1.0)):
        attrs = _attrs("channel_conv", gamma=gamma, beta=beta)
        for channels in counts:
            expected = attrs.size(channels)
            assert channel_conv.from_channels(channels, gamma=gamma, beta=beta).kernel_size == (expected,)
            if gamma == 2.0 and beta == 1.0 or channels in (7, 2048, 999_983):  # keras' eager ops are slower
                assert eca_kernel_size(channels, gamma=gamma, beta=beta) == expected, (channels, gamma, beta)
    keras.backend.clear_session()


def _timm():
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    return pytest.importorskip("timm")


def _module(source: str, name: str):
    namespace: dict = {}
    exec(compile(source, "<generated>", "exec"), namespace)
    return namespace[name]


@pytest.mark.parametrize("size", [15, 16])
def test_helpers_equal_timm_modules(size):
    _timm()
    import torch
    from timm.layers import BlurPool2d, EcaModule, LayerNorm2d, StdConv2d, StdConv2dSame

    source = archspec.emit(OPS_ALL, backend="torch")
    torch.manual_seed(0)
    x = torch.randn(2, 64, size, size, dtype=torch.float64)
    ours = _module(source, "StdConv2d")(64, 32, kernel_size=3, stride=2, padding=1, bias=False, eps=1e-8).double()
    theirs = StdConv2d(64, 32, 3, stride=2, eps=1e-8).double()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert torch.allclose(ours(x), theirs(x), rtol=0, atol=1e-12)
    ours = _module(source, "StdConv2dSame")(64, 32, kernel_size=3, stride=2, bias=False, eps=1e-6).double()
    theirs = StdConv2dSame(64, 32, 3, stride=2, padding="same", eps=1e-6).double()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert torch.allclose(ours(x), theirs(x), rtol=0, atol=1e-12)
    ours = _module(source, "LayerNorm2d")(64, eps=1e-6).double()
    theirs = LayerNorm2d(64, eps=1e-6).double()
    with torch.no_grad():
        theirs.weight.normal_()
        theirs.bias.normal_()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert torch.allclose(ours(x), theirs(x), rtol=0, atol=1e-12)
    blur = _module(source, "BlurPool2d")(64, filt_size=3, stride=2).double()
    theirs = BlurPool2d(64, filt_size=3, stride=2).double()
    assert torch.allclose(blur(x), theirs(x), rtol=0, atol=1e-12)
    # ECA: pooling, our channel convolution, gate, multiply == timm's EcaModule
    for channels in (64, 256, 2048):
        eca = EcaModule(channels).double()
        conv = _module(source, "ChannelConv").from_channels(channels).double()
        conv.load_state_dict(eca.conv.state_dict(), strict=True)
        y = torch.randn(2, channels, size, size, dtype=torch.float64)
        ours = y * torch.sigmoid(conv(y.mean((2, 3), keepdim=True)))
        assert torch.allclose(ours, eca(y), rtol=0, atol=1e-12)


@pytest.mark.parametrize("size", [15, 16])
@pytest.mark.parametrize("groups", [32, 8])
def test_evonorm_and_frn_equal_timm_modules(size, groups):
    """The generated EvoNorm2dS0 and FilterResponseNormTlu2d load timm's modules' state dicts
    (weight, bias, v or tau) and give their outputs in float64, with random parameters."""
    _timm()
    import torch
    from timm.layers import EvoNorm2dS0, FilterResponseNormTlu2d

    source = archspec.emit(OPS_ALL, backend="torch")
    generator = torch.Generator().manual_seed(size + groups)
    x = torch.randn(2, 64, size, size, generator=generator, dtype=torch.float64) * 2 + 0.5
    pairs = [
        (_module(source, "EvoNorm2dS0")(64, groups=groups, eps=1e-3), EvoNorm2dS0(64, groups=groups, eps=1e-3)),
        (_module(source, "FilterResponseNormTlu2d")(64, eps=1e-6), FilterResponseNormTlu2d(64, eps=1e-6)),
    ]
    for ours, theirs in pairs:
        ours, theirs = ours.double(), theirs.double()
        with torch.no_grad():
            for p in theirs.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64) * 0.5 + 0.5)
        ours.load_state_dict(theirs.state_dict(), strict=True)
        a, b = ours(x), theirs(x)
        assert a.dtype == b.dtype == torch.float64
        assert torch.equal(a, b), (a - b).abs().max()
