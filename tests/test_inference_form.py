"""The inference forms (``archspec build --inference``): PyTorch's, the same model with BatchNorm
folded into the convolutions and channels-last memory, and Keras', a copy of a built model with
BatchNorm folded; each numerically equal to its plain form."""

from __future__ import annotations

import textwrap

import pytest

torch = pytest.importorskip("torch")

from conftest import ROOT, SPECS  # noqa: E402

from archspec.backends import torch_backend  # noqa: E402
from archspec.cli import main  # noqa: E402
from archspec.crosscheck.inference import build_inference_pair, check_torch_inference, compare_inference  # noqa: E402
from archspec.pipeline import checked_network  # noqa: E402


@pytest.mark.parametrize(
    "name",
    ["resnet18", "resnet50", "resnet50_v1", "resnet50_v2", "resnet50d", "seresnet50", "resnext50_32x4d", "resnetv2_50"],
)
def test_inference_form_matches_the_plain_model(name):
    result = check_torch_inference(SPECS / f"{name}.yaml", (64, 64), batch=2)
    assert result.passed, result.first_divergence
    assert result.max_rel_diff < 1e-9  # float64: folding changes the rounding only
    assert {d.kind for d in result.layers} >= {"block", "output"}


def test_inference_form_in_float32_as_deployed():
    result = check_torch_inference(SPECS / "resnet101.yaml", (96, 96), dtype="float32")
    assert result.passed, result.first_divergence
    assert result.max_rel_diff > 1e-7  # float32 rounding, really


def test_resnet50_folds_every_batchnorm_and_runs_channels_last():
    network = checked_network(SPECS / "resnet50.yaml", (64, 64))
    plain, fused = build_inference_pair(network)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules()) == 53
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert not fused.training
    assert fused.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(m.bias is not None for m in fused.modules() if isinstance(m, torch.nn.Conv2d))
    # the state dict before fusing is the plain form's: torchvision-layout checkpoints load as they are
    fresh = torch_backend.instantiate(torch_backend.emit(network, inference=True), network)
    assert fresh.state_dict().keys() == plain.state_dict().keys()


def test_a_wrong_fold_is_caught_where_it_happens():
    network = checked_network(SPECS / "resnet18.yaml", (64, 64))
    plain, fused = build_inference_pair(network)
    with torch.no_grad():
        fused.layer2[1].conv2.weight.mul_(1.001)
    diffs = compare_inference(plain, fused, network)
    first = next(d for d in diffs if not d.passed)
    assert first.name == "layer2.1.bn2"


def test_default_form_is_unchanged_and_inference_form_differs_only_by_the_folding():
    network = checked_network(SPECS / "resnet50.yaml")
    plain = torch_backend.emit(network)
    assert plain == (ROOT / "generated" / "torch" / "resnet50.py").read_text()
    inference = torch_backend.emit(network, inference=True)
    assert "(torch backend, inference form)" in inference.splitlines()[0]
    assert 'bn_folds = (\n        ("conv1", "bn1"),' in inference
    assert ("downsample.0", "downsample.1") in _folds(inference, "Bottleneck")
    assert "def fuse_for_inference(self, compiled: bool = False)" in inference and "fuse_for_inference" not in plain
    compile(inference, "resnet50_inference.py", "exec")


SHARED = """
archspec: 1
name: shared
input: {channels: 3, size: [16, 16]}
blocks:
  tap:
    params: {width: null, tap: false}
    body:
      - {op: conv, name: conv1, filters: width, kernel: 3, padding: 1}
      - {op: batchnorm, name: bn1}
      - {op: relu}
      - {op: conv, name: conv2, filters: width, kernel: 3, padding: 1}
      - {op: batchnorm, name: bn2}
      - {op: conv, name: side, filters: width, kernel: 1, inputs: [conv2], when: tap}  # noqa: AS303
    merge: {op: add}
stem:
  - {op: conv, name: conv1, filters: 8, kernel: 3, padding: 1}
  - {op: batchnorm, name: bn1}
  - {op: relu, name: relu}
stages:
  - {name: layer1, blocks: [{block: tap, args: {width: 8}}, {block: tap, args: {width: 8, tap: true}}]}
head:
  - {op: global_avg_pool, name: avgpool}
  - {op: linear, name: fc, units: 4}
"""


def test_the_compiled_inference_form_computes_the_same(tmp_path):
    """fuse_for_inference(compiled=True): torch.compile() of the fused model, the same outputs
    (float32, as deployed)."""
    spec = tmp_path / "shared.yaml"
    spec.write_text(textwrap.dedent(SHARED))
    network = checked_network(spec)
    plain = torch_backend.instantiate(torch_backend.emit(network), network).eval()
    fused = torch_backend.instantiate(torch_backend.emit(network, inference=True), network)
    fused.load_state_dict(plain.state_dict())
    compiled = fused.fuse_for_inference(compiled=True)
    assert compiled is not fused and isinstance(compiled, torch.nn.Module)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(compiled(x), plain(x), atol=1e-5)


def test_a_convolution_read_twice_is_not_folded(tmp_path):
    """conv2 feeds bn2 and, in the second block only, another layer (which then replaces bn2
    as the body's output): the class cannot fold it."""
    spec = tmp_path / "shared.yaml"
    spec.write_text(textwrap.dedent(SHARED))
    network = checked_network(spec)
    source = torch_backend.emit(network, inference=True)
    assert _folds(source, "Tap") == [("conv1", "bn1")]
    assert _folds(source, "Shared") == [("conv1", "bn1")]
    assert check_torch_inference(spec).passed


def _folds(source: str, class_name: str) -> list[tuple[str, str]]:
    import ast

    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and stmt.targets[0].id == "bn_folds":
                    return [tuple(pair) for pair in ast.literal_eval(stmt.value)]
    return []


def test_cli_build_inference_and_check(tmp_path, capsys):
    spec = str(SPECS / "resnet18.yaml")
    assert main(["build", spec, "--inference", "-o", str(tmp_path)]) == 0
    written = (tmp_path / "resnet18.py").read_text()
    assert "def fuse_for_inference(self, compiled: bool = False)" in written
    assert main(["build", spec, "--inference", "-o", str(tmp_path), "--check"]) == 0
    capsys.readouterr()
    assert main(["check", spec, "--torch-inference", "--input-size", "64", "--batch", "1"]) == 0
    assert capsys.readouterr().out.startswith("PASS  resnet18")


def test_the_inference_forms_own_names_are_refused_as_layer_names(tmp_path):
    from archspec import lint_spec

    spec = tmp_path / "clash.yaml"
    spec.write_text(
        "archspec: 1\nname: clash\ninput: {channels: 3, size: [32, 32]}\n"
        "stem: [{op: conv, name: fuse_for_inference, filters: 8, kernel: 3}]\n"
        "stages: {block: basic, columns: [depth, width], table: [[1, 8]]}\n"
        "head: [{op: global_avg_pool, name: pool}, {op: linear, name: bn_folds, units: 10}]\n"
    )
    found = {d.message for d in lint_spec(spec) if d.code == "AS108"}
    assert any("fuse_for_inference" in m for m in found) and any("bn_folds" in m for m in found)


# ---------------------------------------------------------------------------------------------
# Keras: archspec build --inference --backend keras, fuse_for_inference(model)

KERAS_SPECS = ["resnet18", "resnet50_v1", "resnext50_32x4d", "resnetv2_50", "seresnet50"]


@pytest.mark.parametrize("name", KERAS_SPECS)
def test_keras_inference_form_matches_the_plain_model(name):
    pytest.importorskip("keras")
    from archspec.crosscheck.inference import check_keras_inference

    result = check_keras_inference(SPECS / f"{name}.yaml", (64, 64), batch=2)
    assert result.passed, result.first_divergence
    assert result.max_rel_diff < 1e-9  # float64: folding changes the rounding only
    assert {d.kind for d in result.layers} >= {"block", "output", "layer"}


def test_keras_inference_form_in_float32_as_deployed():
    pytest.importorskip("keras")
    from archspec.crosscheck.inference import check_keras_inference

    result = check_keras_inference(SPECS / "resnet50_v1.yaml", (96, 96), dtype="float32")
    assert result.passed, result.first_divergence
    assert result.max_rel_diff > 1e-7  # float32 rounding, really


def test_keras_resnet50_v1_folds_every_batchnorm_into_a_copy():
    keras = pytest.importorskip("keras")
    from archspec.crosscheck.inference import build_keras_inference_pair

    network = checked_network(SPECS / "resnet50_v1.yaml", (64, 64))
    plain, fused = build_keras_inference_pair(network)
    norms = [layer.name for layer in plain.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 53
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in fused.layers)
    # every name is kept (a plain weights file's layer names, probes by name), the BatchNorms as pass-throughs
    assert [layer.name for layer in fused.layers] == [layer.name for layer in plain.layers]
    assert {type(fused.get_layer(n)).__name__ for n in norms} == {"FoldedBatchNorm"}
    assert all(layer.use_bias for layer in fused.layers if isinstance(layer, keras.layers.Conv2D))
    assert {v.dtype for v in fused.weights} == {"float64"}
    # a copy: the plain model keeps its BatchNorms and their statistics, to train on
    assert plain.get_layer("conv1_bn").moving_variance.numpy().min() > 0
    assert isinstance(plain.get_layer("conv1_bn"), keras.layers.BatchNormalization)


def test_keras_a_wrong_fold_is_caught_where_it_happens():
    pytest.importorskip("keras")
    from archspec.crosscheck.inference import build_keras_inference_pair, compare_keras_inference

    network = checked_network(SPECS / "resnet18.yaml", (64, 64))
    plain, fused = build_keras_inference_pair(network)
    name = network.node(network.block("layer2.1").nodes[0]).keras_name  # the block's first convolution
    conv = fused.get_layer(name)
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel * 1.001, bias])
    diffs = compare_keras_inference(plain, fused, network)
    first = next(d for d in diffs if not d.passed)
    assert first.name == name.replace("conv", "bn")  # the folded BatchNorm after it: the first tensor compared


def test_keras_default_form_is_unchanged_and_inference_form_only_adds():
    from archspec.backends import keras_backend

    network = checked_network(SPECS / "resnet50_v1.yaml")
    plain = keras_backend.emit(network)
    assert plain == (ROOT / "generated" / "keras" / "resnet50_v1.py").read_text()
    inference = keras_backend.emit(network, inference=True)
    assert "(keras backend, inference form)" in inference
    assert '    "conv2_block1_0_bn": "conv2_block1_0_conv",\n' in inference
    assert "def fuse_for_inference(model)" in inference and "fuse_for_inference" not in plain
    # the functions that build the model are the plain form's, byte for byte
    body = plain[plain.index("import keras") :]
    assert inference[inference.index("import keras") :].startswith(body.rstrip("\n"))
    compile(inference, "resnet50_v1_inference.py", "exec")


def _keras_folds(source: str) -> dict[str, str]:
    import ast

    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "BATCHNORM_FOLDS":
            return ast.literal_eval(node.value)
    return {}


def test_keras_a_convolution_read_twice_is_not_folded(tmp_path):
    """Each instance is listed by its own layer names: block 1's conv2 folds, block 2's (read by
    bn2 and a side branch) does not."""
    pytest.importorskip("keras")
    from archspec.backends import keras_backend
    from archspec.crosscheck.inference import check_keras_inference

    spec = tmp_path / "shared.yaml"
    spec.write_text(textwrap.dedent(SHARED))
    network = checked_network(spec)
    folds = _keras_folds(keras_backend.emit(network, inference=True))
    bn2 = [network.node(n).keras_name for b in network.blocks for n in b.nodes if network.node(n).local_name == "bn2"]
    assert len(bn2) == 2 and bn2[0] in folds and bn2[1] not in folds
    assert check_keras_inference(spec).passed


STRIDED_DILATED = """
archspec: 1
name: strided_dilated
input: {channels: 3, size: [17, 17]}
stem:
  - {op: conv, name: conv1, filters: 8, kernel: 3, stride: 2, dilation: 2, padding: 2}
  - {op: batchnorm, name: bn1}
  - {op: relu}
  - {op: conv, name: conv2, filters: 8, kernel: 3, padding: 1}
  - {op: batchnorm, name: bn2}
stages: []
head:
  - {op: global_avg_pool, name: avgpool}
  - {op: linear, name: fc, units: 4}
"""


def test_keras_a_strided_dilated_convolution_is_left_alone(tmp_path):
    """Keras writes it as DilatedConv2D (a stride-1 convolution, then every other row and
    column), not a Conv2D: the form folds only the plain convolution."""
    pytest.importorskip("keras")
    from archspec.backends import keras_backend
    from archspec.crosscheck.inference import check_keras_inference

    spec = tmp_path / "strided_dilated.yaml"
    spec.write_text(textwrap.dedent(STRIDED_DILATED))
    network = checked_network(spec)
    source = keras_backend.emit(network, inference=True)
    assert "DilatedConv2D(" in source
    assert _keras_folds(source) == {"bn2": "conv2"}
    assert check_keras_inference(spec).passed


def test_cli_build_keras_inference_and_check(tmp_path, capsys):
    pytest.importorskip("keras")
    spec = str(SPECS / "resnet18.yaml")
    assert main(["build", spec, "--inference", "--backend", "keras", "-o", str(tmp_path)]) == 0
    written = (tmp_path / "resnet18.py").read_text()
    assert "def fuse_for_inference(model)" in written
    assert main(["build", spec, "--inference", "--backend", "keras", "-o", str(tmp_path), "--check"]) == 0
    capsys.readouterr()
    assert main(["check", spec, "--keras-inference", "--input-size", "64", "--batch", "1", "--jobs", "1"]) == 0
    assert capsys.readouterr().out.startswith("PASS  resnet18")
    assert main(["check", spec, "--keras-inference", "--torch-inference"]) == 2
