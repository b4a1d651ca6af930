"""archspec import: PyTorch models traced into readable specs, proven by a round trip.

The models are tests/fixtures/models/tv_resnet.py (torchvision's ResNet layout and state-dict
keys, so that no torchvision is needed) and the committed generated models.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
from conftest import FIXTURES, ROOT

torch = pytest.importorskip("torch")

from archspec.cli import main  # noqa: E402
from archspec.importer.run import import_model, resolve  # noqa: E402
from archspec.spec.load import load_spec  # noqa: E402

MODELS = FIXTURES / "models" / "tv_resnet.py"


def _fixture(name: str, **kwargs):
    model, framework, default = resolve(f"{MODELS}:{name}", None)
    return model, framework, default


def test_resnet50_imports_to_a_stage_table_with_one_block_type_and_round_trips():
    model, framework, name = _fixture("resnet50")
    result = import_model(model, framework, name, target="tv_resnet.py:resnet50", input_size=(64, 64))
    assert result.problems == []
    assert result.check.passed and result.check.max_abs_diff < 1e-9
    spec = result.network.spec.spec
    # the recovered block type is the shipped library's bottleneck (the same IR), so it is used by name
    assert spec.blocks == {} and spec.stages.block == "bottleneck"
    assert spec.stages.table == [[3, 64, 1], [4, 128, 2], [6, 256, 2], [3, 512, 2]]
    assert spec.stages.name == "layer{stage}"
    # every weighted layer, every block and the logits are compared
    kinds = [d.kind for d in result.check.layers]
    assert kinds.count("block") == 16 and kinds.count("output") == 1
    # the original's state-dict keys, exactly
    from archspec.backends import get_backend

    backend = get_backend("torch")
    regen = backend.instantiate(backend.emit(result.network), result.network)
    assert set(regen.state_dict()) == set(model.state_dict())
    assert len(result.text.splitlines()) < 2 * len((ROOT / "specs" / "resnet50.yaml").read_text().splitlines())


def test_block_parameters_are_inferred_from_what_differs():
    """Spelled out (no library blocks), ResNeXt's bottleneck type is recovered with the
    parameters that differ between blocks (its width is the grouped width)."""
    model, framework, name = _fixture("resnext50_32x4d")
    result = import_model(model, framework, name, input_size=(32, 32), library=False)
    block = result.network.spec.spec.blocks["bottleneck_imported"]
    assert block.params == {"width": None, "stride": 1}
    assert block.shortcut[0].when == "stride != 1 or in_channels != width * 2"
    assert block.shortcut[0].layers[0].attrs["stride"] == "stride"
    assert block.body[3].attrs["groups"] == 32
    assert block.body[6].attrs["filters"] == "width * 2"
    assert result.network.spec.spec.stages.table == [[3, 128, 1], [4, 256, 2], [6, 512, 2], [3, 1024, 2]]
    assert result.check.passed


def test_a_library_block_is_used_with_its_arguments_solved():
    """The same ResNeXt is the library's bottleneck with groups 32 and base width 4: the
    arguments are solved from the layers (not read off the recovered type's parameters), and the
    spec is shorter and regenerates the same model."""
    model, framework, name = _fixture("resnext50_32x4d")
    result = import_model(model, framework, name, input_size=(32, 32))
    model, framework, name = _fixture("resnext50_32x4d")  # the round trip made the first float64
    spelled = import_model(model, framework, name, input_size=(32, 32), library=False, roundtrip=False)
    spec = result.network.spec.spec
    assert spec.blocks == {} and spec.stages.block == "bottleneck"
    assert spec.stages.args == {"groups": 32, "base_width": 4}
    assert spec.stages.table == [[3, 64, 1], [4, 128, 2], [6, 256, 2], [3, 512, 2]]
    assert result.check.passed and result.check.max_abs_diff == 0.0
    assert len(result.text.splitlines()) < len(spelled.text.splitlines()) - 15


def test_resnet18_uses_the_library_basic_block():
    model, framework, name = _fixture("resnet18")
    result = import_model(model, framework, name, input_size=(32, 32))
    assert result.network.spec.spec.stages.block == "basic"
    assert result.check.passed


@pytest.mark.parametrize("spec_name", ["resnet34", "resnet50d", "seresnet50"])
def test_generated_models_import_back(spec_name, tmp_path):
    """The committed generated models (torchvision/timm layouts) import and round-trip."""
    path = ROOT / "generated" / "torch" / f"{spec_name}.py"
    source = importlib.util.spec_from_file_location(f"gen_{spec_name}", path)
    module = importlib.util.module_from_spec(source)
    sys.modules[source.name] = module
    source.loader.exec_module(module)
    cls = next(
        v
        for k, v in vars(module).items()
        if isinstance(v, type)
        and issubclass(v, torch.nn.Module)
        and v.__module__ == module.__name__
        and k.lower() == spec_name.replace("_", "")
    )
    result = import_model(cls(), "torch", spec_name, input_size=(32, 32))
    assert result.problems == []
    assert result.check.passed, result.check.first_divergence
    # the shipped specs' library blocks, found again (with the same stage table)
    spec = result.network.spec.spec
    shipped = load_spec(ROOT / "specs" / f"{spec_name}.yaml").spec
    assert spec.blocks == {} and spec.stages.block == shipped.stages.block
    assert spec.stages.table == shipped.stages.table


class _GnBlock(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.gn = torch.nn.GroupNorm(4, channels, eps=1e-4)

    def forward(self, x):
        return torch.relu(self.gn(self.conv(x)) + x)


class _PaddedGroupNormNet(torch.nn.Module):
    """A GroupNorm network with a zero padding before its max pool (timm's ResNetV2 stem)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.norm = torch.nn.GroupNorm(2, 8)
        self.pad = torch.nn.ConstantPad2d(1, 0.0)
        self.pool = torch.nn.MaxPool2d(3, stride=2)
        self.layer1 = torch.nn.Sequential(_GnBlock(8), _GnBlock(8))
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):
        x = self.pool(self.pad(torch.relu(self.norm(self.conv(x)))))
        return self.fc(torch.flatten(self.layer1(x).mean((2, 3), keepdim=True), 1))


def test_group_norm_and_a_zero_padding_before_a_pool_import():
    result = import_model(_PaddedGroupNormNet(), "torch", "padded", input_size=(16, 16))
    assert result.problems == []
    assert result.check.passed and result.check.max_abs_diff == 0.0
    assert "{op: maxpool, name: pool, kernel: 3, stride: 2, padding: 1, pad_value: 0}" in result.text
    assert "{op: groupnorm, name: gn, groups: 4, eps: 0.0001}" in result.text


def test_timm_evonorm_and_filter_response_norm_import():
    """timm's EvoNorm2dS0 and FilterResponseNormTlu2d import as one op each, their weights
    (weight, bias, v or tau) with them: equal outputs."""
    import types

    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    pytest.importorskip("timm")
    import torch
    from timm.layers import EvoNorm2dS0, FilterResponseNormTlu2d
    from torch import nn

    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(3, 8, 3, padding=1, bias=False))
    model.add_module("evo", EvoNorm2dS0(8, groups=4, eps=1e-3))
    model.add_module("conv2", nn.Conv2d(8, 8, 3, padding=1, bias=False))
    model.add_module("frn", FilterResponseNormTlu2d(8, eps=1e-6))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    result = import_model(model, "torch", "norms", input_size=(15, 15))
    assert result.problems == []
    assert result.check.passed and result.check.max_abs_diff == 0.0
    assert "{op: evonorm_s0, name: evo, groups: 4, eps: 0.001}" in result.text, result.text
    assert "{op: frn_tlu, name: frn, eps: 1.0e-6}" in result.text, result.text


FAMILY_BLOCKS = FIXTURES / "models" / "family_blocks.py"


@pytest.mark.parametrize(
    ("factory", "ops"),
    [
        ("eca_net", ["{op: global_avg_pool, keepdims: true}", "{op: channel_conv, name: eca.conv, kernel: 5}"]),
        (
            "res2_net",
            ["{op: channel_slice, start: 0, size: 4}", "{op: channel_slice, inputs: [input], start: 8, size: 4}"],
        ),
        (
            "sk_net",
            ["{op: concat, inputs: [paths.0, paths.1]}", "{op: radix_softmax, radix: 2}", "{op: radix_sum, radix: 2}"],
        ),
        ("split_attention_net", ["{op: radix_sum, radix: 2}", "{op: radix_softmax, radix: 2}"]),
    ],
)
def test_family_constructs_import_from_hand_written_code(factory, ops):
    """ECA's 1-D convolution on the pooled channels (with the views around it), Res2Net's
    torch.split, selective-kernel and split attention in their 5-D form (stack, sum and
    softmax over dim 1): each maps to the registry's ops and round-trips exactly."""
    model, framework, name = resolve(f"{FAMILY_BLOCKS}:{factory}", None)
    result = import_model(model, framework, name, input_size=(16, 16))
    assert result.problems == []
    assert result.check.passed and result.check.max_abs_diff == 0.0, result.check.first_divergence
    for op in ops:
        assert op in result.text


class _BiasedConv1d(torch.nn.Module):
    """A 1-D convolution with a bias across the pooled channels: not ECA's, no op computes it."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, bias=False)
        self.mix = torch.nn.Conv1d(1, 1, 3, padding=1, bias=True)

    def forward(self, x):
        y = self.conv(x)
        gate = torch.sigmoid(self.mix(y.mean((2, 3)).view(y.shape[0], 1, -1))).view(y.shape[0], -1, 1, 1)
        return y * gate


def test_a_channel_convolution_that_is_not_ecas_is_reported():
    result = import_model(_BiasedConv1d(), "torch", "biased", input_size=(16, 16))
    assert any(p.startswith("mix: nn.Conv1d has no archspec op") for p in result.problems), result.problems


#: timm's ResNet-family models through import: one of each construct
TIMM_FAMILY = [
    "resnet26d",
    "seresnext50_32x4d",
    "resnet50_gn",
    "regnetx_002",
    "resnetv2_50x1_bit",
    "ecaresnet26t",
    "resnetblur50",
    "skresnet18",
    "resnest14d",
    "res2net50_26w_4s",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", TIMM_FAMILY)
def test_timm_family_models_round_trip(name):
    """timm's ResNet-family models: timm's GroupNorm, StdConv2d, BlurPool2d and RadixSoftmax
    map to ops, ECA, Res2Net, selective kernels and split attention trace to them; equal
    outputs, and every block type is a library block (Res2Net's too, whose scales trace in
    another order than the library block writes them)."""
    import types

    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    timm = pytest.importorskip("timm")
    result = import_model(timm.create_model(name), "torch", name, input_size=(32, 32))
    assert result.problems == []
    assert result.check.passed and result.check.max_abs_diff == 0.0, result.check.first_divergence
    assert result.network.spec.spec.blocks == {}


def test_unmapped_layer_is_reported_with_its_module_path_and_line(tmp_path, capsys):
    out = tmp_path / "g.yaml"
    code = main(["import", f"{MODELS}:WithGelu", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert "act: nn.GELU has no archspec op" in err and "tv_resnet.py:115" in err
    code = main(["import", f"{MODELS}:WithGelu", "-o", str(out), "--partial"])
    assert code == 1 and out.exists()
    assert "op: unmapped" in out.read_text()
    from archspec.lint import lint_path

    assert [d.code for d in lint_path(out) if d.is_error] == ["AS103"]


def test_cli_import_writes_a_spec_that_loads(tmp_path, capsys):
    out = tmp_path / "r18.yaml"
    assert (
        main(["import", f"{MODELS}:resnet18", "-o", str(out), "--input-size", "32", "--args", '{"num_classes": 7}'])
        == 0
    )
    assert "PASS" in capsys.readouterr().out
    spec = load_spec(out).spec
    assert spec.vars == {"num_classes": 7}


def test_bad_targets_are_usage_errors(tmp_path, capsys):
    assert main(["import", f"{MODELS}:NoSuchThing"]) == 2
    assert main(["import", "no/such/file.py:Model"]) == 2
    assert main(["import", f"{MODELS}:resnet18", "--args", "{not json"]) == 2
    err = capsys.readouterr().err
    assert "has no attribute 'NoSuchThing'" in err and "no such file" in err


def test_lint_accepts_an_import_target(capsys):
    code = main(["lint", f"{MODELS}:WithGelu"])
    out = capsys.readouterr().out
    assert code == 1
    assert "AS103" in out and "WithGelu (imported)" in out and "tv_resnet.py:115" in out


SEEDS = FIXTURES / "seeds"


@pytest.mark.parametrize(
    "target, transcription, size",
    [
        ("seed000_torch.py:ResNet_50", "seed000_torch.yaml", None),
        ("seed004_keras.py:model", "seed004_keras.yaml", None),
        ("seed003_keras.py:ResNet50", "seed003_keras.yaml", None),
        ("seed003_keras.py:ResNet50", "seed003_keras.yaml", (256, 256)),
        pytest.param("seed000_keras.py:ResNet50", "seed000_keras.yaml", None, marks=pytest.mark.slow),
    ],
)
def test_seed_networks_import_and_lint_with_their_known_bugs(target, transcription, size):
    """The seed documents' code, made runnable, imported and linted: the same rules fire as on
    the hand transcriptions (the importer may merge two block classes into one type, so a
    block-type finding can appear once instead of once per class)."""
    if "keras" in target:
        _keras()
    from archspec.diagnostics import SourceCache
    from archspec.importer.command import lint_target
    from archspec.lint import lint_path

    if "keras" in target:
        imported = lint_target(str(SEEDS / target), size, SourceCache())
    else:
        # the seed's "pooling" is a 7x7 Conv2d(8192, 8192): 3.3 G parameters, 13 GB in float32.
        # Linting needs shapes only, so the model is made and traced on the meta device (no memory)
        with torch.device("meta"):
            imported = lint_target(str(SEEDS / target), size, SourceCache())
    by_hand = lint_path(SEEDS / transcription, size)
    assert by_hand
    assert {d.code for d in imported} == {d.code for d in by_hand}
    assert [d.code for d in imported].count("AS401") == [d.code for d in by_hand].count("AS401")
    assert all("(imported)" in d.span.file for d in imported)


def test_seed_network_without_bugs_imports_to_the_library_bottleneck_and_lints_clean(capsys, tmp_path):
    """The document's torchvision-style ResNet-50 (it prints the model when imported: that goes
    to standard error, not into archspec's output)."""
    from archspec.lint import lint_path

    model, framework, name = resolve(str(SEEDS / "seed001_torch.py:resnet50"))
    assert capsys.readouterr().out == ""
    result = import_model(model, framework, name, input_size=(32, 32))
    assert result.problems == [] and result.check.passed and result.check.max_abs_diff == 0.0
    spec = result.network.spec.spec
    assert spec.blocks == {} and spec.stages.block == "bottleneck"
    assert spec.stages.table == [[3, 64, 1], [4, 128, 2], [6, 256, 2], [3, 512, 2]]
    (tmp_path / "seed001.yaml").write_text(result.text, encoding="utf-8")
    assert lint_path(tmp_path / "seed001.yaml") == []


def test_seed_network_with_its_undefined_names_supplied_lints_as_transcribed(capsys):
    """The TensorFlow ResNet-50 whose document never defines convolutional_block nor
    num_classes: as published it cannot be made (a usage error naming the NameError); with the
    two names supplied it imports, and linting it reports the transcription's findings except
    the undefined num_classes (AS104), which the runnable file must define."""
    _keras()
    from archspec.diagnostics import SourceCache
    from archspec.importer.command import lint_target
    from archspec.lint import lint_path

    assert main(["import", str(SEEDS / "seed002_tf_as_published.py:resnet50")]) == 2
    err = capsys.readouterr().err
    assert "resnet50() failed: NameError: name 'convolutional_block' is not defined" in err
    imported = lint_target(str(SEEDS / "seed002_tf.py:resnet50"), None, SourceCache())
    by_hand = lint_path(SEEDS / "seed002_tf.yaml")
    assert "AS104" in {d.code for d in by_hand}
    assert sorted(d.code for d in imported) == sorted(d.code for d in by_hand if d.code != "AS104")
    assert sorted(d.code for d in imported) == ["AS302", "AS401", "AS401"]


def _keras():
    from archspec.crosscheck.compare import quiet_tensorflow

    quiet_tensorflow()
    return pytest.importorskip("keras")


def test_keras_resnet50_imports_with_its_layer_names_and_round_trips():
    keras = _keras()
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3))
    result = import_model(model, "keras", "resnet50", input_size=None)
    assert result.problems == []
    assert result.check.passed, result.check.first_divergence
    spec = result.network.spec.spec
    assert spec.blocks == {} and spec.stages.block == "bottleneck_v1"  # the library's, as specs/resnet50_v1.yaml
    assert spec.stages.keras == "conv{stage + 1}_block{block}"
    assert spec.stages.table == [[3, 64, 1], [4, 128, 2], [6, 256, 2], [3, 512, 2]]
    assert spec.defaults["batchnorm"] == {"eps": 1.001e-5, "momentum": 0.01}
    # keras.applications' weighted layer names, every one
    weighted = {layer.name for layer in model.layers if layer.weights}
    assert weighted <= {n.keras_name for n in result.network.nodes()}
    # the classifier's fused softmax is its own op
    assert [layer.op for layer in spec.head] == ["global_avg_pool", "linear", "softmax"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "application, shipped",
    [
        ("ResNet152", "resnet152_v1"),
        ("ResNet50V2", "resnet50_v2"),
        ("ResNet101V2", "resnet101_v2"),
        ("ResNet152V2", "resnet152_v2"),
    ],
)
def test_keras_applications_import_to_the_shipped_specs_layout(application, shipped):
    """keras.applications' deeper ResNets and the pre-activation ones: equal outputs, and the
    shipped spec's block and stage table (V2: the stride on each stage's last block, whose
    1x1 max-pool shortcut the library block's second case makes)."""
    keras = _keras()
    model = getattr(keras.applications, application)(weights=None, input_shape=(32, 32, 3))
    result = import_model(model, "keras", shipped, input_size=None)
    assert result.problems == []
    assert result.check.passed and result.check.max_abs_diff == 0.0, result.check.first_divergence
    spec, want = result.network.spec.spec, load_spec(ROOT / "specs" / f"{shipped}.yaml").spec
    assert spec.blocks == {} and spec.stages.block == want.stages.block
    assert spec.stages.table == want.stages.table and spec.stages.stride_at == want.stages.stride_at
    assert spec.stages.keras == want.stages.keras


def test_keras_file_target_round_trips(tmp_path, capsys):
    keras = _keras()
    from keras import layers

    inputs = keras.Input((16, 16, 3))
    x = layers.ZeroPadding2D(1, name="pad")(inputs)
    x = layers.Conv2D(8, 3, strides=2, name="stem_conv", activation="relu")(x)
    for i in range(2):
        y = layers.Conv2D(8, 3, padding="same", name=f"b{i}_conv")(x)
        y = layers.BatchNormalization(epsilon=1e-3, name=f"b{i}_bn")(y)
        x = layers.Activation("relu", name=f"b{i}_out")(layers.Add(name=f"b{i}_add")([x, y]))
    outputs = layers.Dense(5, name="fc")(layers.GlobalAveragePooling2D(name="gap")(x))
    path = tmp_path / "small.keras"
    keras.Model(inputs, outputs).save(path)
    out = tmp_path / "small.yaml"
    assert main(["import", str(path), "-o", str(out)]) == 0
    text = out.read_text()
    assert "keras: stem_conv" in text and "padding: 1" in text and "momentum: 0.01" in text
    assert "PASS" in capsys.readouterr().out


def test_a_catalog_name_imports_its_peer():
    """``archspec import resnet18``: the catalog spec's peer (torchvision, an oracle only)."""
    import types

    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    pytest.importorskip("torchvision")
    model, framework, name = resolve("resnet18")
    assert (framework, name) == ("torch", "resnet18")
    result = import_model(model, framework, name, input_size=(32, 32))
    assert result.check.passed
    assert result.network.spec.spec.stages.block == "basic"
