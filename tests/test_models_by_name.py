"""Models as people take them: catalog names, overrides without editing, generated models that
take their configuration, backbones (forward_features / forward_head / forward_stages in
PyTorch, include_top / pooling in Keras)."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, SPECS
from test_keras_backend import VARIANTS

import archspec
from archspec.backends import get_backend
from archspec.diagnostics import ArchspecError
from archspec.lint import lint_path
from archspec.spec import overrides

CATALOG = sorted(p.stem for p in SPECS.glob("*.yaml"))


def _run(*args, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "archspec", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600
    )


# -- catalog by name ---------------------------------------------------------------------------


def test_list_specs_is_the_shipped_catalog():
    assert archspec.list_specs() == CATALOG
    assert archspec.list_specs("resnet5*") == [n for n in CATALOG if n.startswith("resnet5")]
    assert archspec.list_specs("no-such-*") == []


def test_list_command_prints_name_params_macs_and_peer(tmp_path):
    result = _run("list", "resnet50", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("resnet50 "))
    assert "25,557,032" in row and "4,089,238,376" in row and "torchvision.models.resnet50" in row
    data = json.loads(_run("list", "--format", "json", cwd=tmp_path).stdout)
    assert [d["name"] for d in data] == CATALOG
    assert _run("list", "nothing*", cwd=tmp_path).returncode == 1


def test_a_catalog_name_works_from_any_folder_and_a_local_file_wins(tmp_path):
    assert archspec.load("resnet18").params == 11_689_512
    result = _run("summary", "resnet18", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["params"] == 11_689_512
    # a file called resnet18.yaml in the working directory is what the user means
    local = (SPECS / "resnet50.yaml").read_text().replace("vars: {num_classes: 1000}", "vars: {num_classes: 7}")
    assert "num_classes: 7" in local
    (tmp_path / "resnet18.yaml").write_text(local)
    script = (
        "import archspec\nprint(archspec.load('resnet18.yaml').output_shape, archspec.load('resnet18').output_shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    # the file in the working directory when named as a file; the catalog's for the bare name
    assert result.stdout.split() == ["(7,)", "(1000,)"]


# -- overrides ---------------------------------------------------------------------------------


def test_overrides_change_the_spec_without_editing_it():
    network = archspec.load("resnet50", overrides=["input.size=[160,160]", "stages.table=[[1,64,1],[1,128,2]]"])
    assert network.input_shape == (3, 160, 160)
    assert [len(s.block_ids) for s in network.stages] == [1, 1]
    assert archspec.load("resnet50", num_classes=10).output_shape == (10,)
    assert archspec.load("resnet50", overrides={"vars.num_classes": 3}).output_shape == (3,)
    assert archspec.load("resnet50").output_shape == (1000,)  # nothing leaks out of the call


def test_a_bad_override_is_reported_at_the_override():
    with overrides.using(["vars.num_classes=10", "head.7.units=3"]):
        diagnostics = lint_path("resnet50")
    assert [(d.code, str(d.span)) for d in diagnostics] == [("AS119", "--set[2]:1:8")]
    with overrides.using(["stages.tabel=3"]):
        (finding,) = lint_path("resnet50")
    assert (finding.code, str(finding.span), finding.hint) == ("AS101", "--set[1]:1:8", "did you mean 'table'?")
    with overrides.using(["input.size=[0, 0]"]):
        findings = lint_path("resnet50")
    assert findings and all(str(d.span).startswith("--set[1]:1:") for d in findings if d.is_error)
    with pytest.raises(ArchspecError):
        archspec.load("resnet50", overrides=["not an override"])


def test_set_on_the_command_line_shows_the_override_under_the_caret(tmp_path):
    result = _run("lint", "resnet50", "--set", "vars.num_classes=10", "--set", "stages.tabel=1", cwd=tmp_path)
    assert result.returncode == 1
    assert "--> --set[2]:1:8" in result.stdout and "stages.tabel=1" in result.stdout
    assert "^^^^^" in result.stdout
    ok = _run("summary", "resnet18", "--set", "vars.num_classes=10", "--format", "json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["output_shape"] == [10]


# -- generated models take their configuration --------------------------------------------------


def test_the_generated_pytorch_model_takes_the_spec_vars():
    torch = pytest.importorskip("torch")
    network = archspec.load("resnet18")
    backend = get_backend("torch")
    namespace: dict = {}
    exec(compile(backend.emit(network), "resnet18.py", "exec"), namespace)
    cls = namespace["Resnet18"]
    params = inspect.signature(cls).parameters
    assert [(p.name, p.kind, p.default) for p in params.values()] == [
        ("num_classes", inspect.Parameter.KEYWORD_ONLY, 1000)
    ]
    model = cls(num_classes=10).eval()
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 10)


def test_a_ten_class_model_loads_a_thousand_class_checkpoint_but_its_head():
    torch = pytest.importorskip("torch")
    base = archspec.build_model("resnet18")
    ten = archspec.build_model("resnet18", num_classes=10)
    state = {k: v for k, v in base.state_dict().items() if not k.startswith("fc.")}
    result = ten.load_state_dict(state, strict=False)
    assert sorted(result.missing_keys) == ["fc.bias", "fc.weight"] and not result.unexpected_keys
    assert torch.equal(ten.conv1.weight, base.conv1.weight)
    assert ten.fc.out_features == 10


#: one spec of each kind of stem, block, stage and head in the catalog: the backbone methods'
#: values are compared on these (real weights, a real forward pass), their shapes on every spec
BACKBONE_LAYOUTS = [
    "resnet18",  # torchvision, basic blocks
    "resnet50_v1",  # keras.applications, biased convolutions
    "resnet50_v2",  # pre-activation, a final norm before the head
    "resnetv2_50",  # timm's pre-activation
    "resnet50d",  # deep stem, average-pool shortcut
    "seresnet50",  # squeeze-and-excitation
    "resnext50_32x4d",  # grouped convolutions
    "regnety_002",  # RegNet stages and head
    "resnest14d",  # split attention
    "res2net50_26w_4s",  # channel slices, a stage-wide first block
]


@pytest.mark.parametrize("name", [n for n in CATALOG if n not in VARIANTS])
def test_pytorch_backbone_methods_give_the_irs_shapes(name):
    """Every spec's forward_features / forward_stages / forward_head, on the meta device
    (shapes only: nothing is computed or allocated).  The family's variants (test_keras_backend's
    VARIANTS: a base spec's layout at another depth, width or option) are left out: their
    backbone methods come from the same templates as their base's, and generating and building
    each deep variant costs 2-13 s."""
    torch = pytest.importorskip("torch")
    network = archspec.load(name, input_size=(64, 64))
    with torch.device("meta"):
        model = get_backend("torch").instantiate(get_backend("torch").emit(network), network).eval()
    x = torch.empty(2, 3, 64, 64, device="meta")
    features = model.forward_features(x)
    assert tuple(features.shape) == (2, *network.blocks[-1].out_shape)
    assert tuple(model.forward_head(features).shape[1:]) == network.output_shape == tuple(model(x).shape[1:])
    stages = model.forward_stages(x)
    assert [tuple(t.shape[1:]) for t in stages] == [network.block(s.block_ids[-1]).out_shape for s in network.stages]
    picked = model.forward_stages(x, out_indices=[0, -1])
    assert [tuple(t.shape) for t in picked] == [tuple(stages[0].shape), tuple(stages[-1].shape)]
    # pre_logits stops before the classifier, the head's last layer with parameters: its input
    # (the features themselves, or wider where the head convolves first, as RegNetZ's final_conv)
    classifier = [n for n in network.ops() if n.part == "head" and n.params][-1]
    assert model.forward_head(features, pre_logits=True).shape[1] == classifier.in_shapes[0][0]


@pytest.mark.parametrize("name", BACKBONE_LAYOUTS)
def test_pytorch_backbone_methods(name):
    torch = pytest.importorskip("torch")
    network = archspec.load(name, input_size=(64, 64))
    model = get_backend("torch").instantiate(get_backend("torch").emit(network), network).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = model.forward_features(x)
        last = network.blocks[-1].out_shape
        assert tuple(features.shape) == (2, *last)
        assert torch.equal(model.forward_head(features), model(x))
        stages = model.forward_stages(x)
        assert [tuple(t.shape[1:]) for t in stages] == [
            network.block(s.block_ids[-1]).out_shape for s in network.stages
        ]
        assert torch.equal(stages[-1], features)
        picked = model.forward_stages(x, out_indices=[0, -1])
        assert len(picked) == 2 and torch.equal(picked[0], stages[0]) and torch.equal(picked[1], stages[-1])
        pre = model.forward_head(features, pre_logits=True)
        assert pre.shape[1] == features.shape[1]  # the classifier is not applied


def test_backbone_layouts_are_shipped_specs():
    assert set(BACKBONE_LAYOUTS) <= set(CATALOG)


@pytest.mark.parametrize("name", ["resnet18", "resnet50_v1"])
def test_keras_include_top_pooling_and_classifier_activation(name):
    keras = pytest.importorskip("keras")
    import numpy as np

    network = archspec.load(name, input_size=(64, 64))
    source = get_backend("keras").emit(network)
    namespace: dict = {}
    exec(compile(source, f"{name}.py", "exec"), namespace)
    factory = namespace[name]
    signature = inspect.signature(factory)
    assert list(signature.parameters) == [
        "include_top",
        "input_shape",
        "pooling",
        "num_classes",
        "classifier_activation",
    ]
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    full = factory(input_shape=(64, 64, 3))
    assert full.output_shape == (None, 1000)
    bare = factory(include_top=False, input_shape=(64, 64, 3))
    last = network.blocks[-1].out_shape
    assert bare.output_shape == (None, last[1], last[2], last[0])
    pooled = factory(include_top=False, input_shape=(64, 64, 3), pooling="avg")
    assert pooled.output_shape == (None, last[0])
    assert factory(include_top=False, input_shape=(64, 64, 3), pooling="max").output_shape == (None, last[0])
    probs = factory(input_shape=(64, 64, 3), num_classes=5, classifier_activation="softmax")
    out = np.asarray(probs(x))
    assert out.shape == (2, 5) and np.allclose(out.sum(axis=1), 1.0, atol=1e-5)
    # the layer names of the full model do not change (weights load by name)
    assert {layer.name for layer in full.layers} >= {layer.name for layer in bare.layers} - {"input"}
    keras.backend.clear_session()


def test_the_shipped_wheel_carries_the_catalog():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"specs" = "archspec/specs"' in text


# -- summary as torchinfo users read it ---------------------------------------------------------


def test_summary_depth_one_rolls_up_into_stem_stages_and_head():
    summary = archspec.summary("resnet152", depth=1)
    rows = list(summary.rows())
    assert [r.name for r in rows] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert sum(r.params for r in rows) == summary.params == 60_192_808
    assert sum(r.macs for r in rows) == summary.macs == 11_513_779_048
    network = archspec.load("resnet152")
    per_layer = {}
    for node in network.ops():
        if node.block_id is not None:
            per_layer.setdefault(network.block(node.block_id).id.split(".")[0], []).append(node.params)
    assert {r.name: r.params for r in rows[1:5]} == {k: sum(v) for k, v in per_layer.items()}
    assert rows[4].output_shape == [2048, 7, 7] and rows[-1].output_shape == [1000]
    text = summary.text()
    assert len(text.splitlines()) <= 30  # one screen
    assert "layer3               stage    1024x14x14  40,613,888  8,015,427,584" in text


def test_summary_depth_two_lists_blocks_with_their_sums():
    network = archspec.load("resnet18")
    rows = list(archspec.summary(network, depth=2).rows())
    blocks = {r.name: r for r in rows if r.op.startswith("block")}
    assert list(blocks) == [b.id for b in network.blocks]
    for block in network.blocks:
        nodes = [n for n in network.ops() if n.block_id == block.id]
        assert blocks[block.id].params == sum(n.params for n in nodes)
        assert blocks[block.id].macs == sum(n.macs for n in nodes)
        assert blocks[block.id].keras_name == block.keras_name
    assert sum(r.params for r in rows) == network.params
    assert [r.name for r in rows if not r.op.startswith("block")] == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "avgpool",
        "fc",
    ]


def test_summary_memory_estimate_follows_batch_and_dtype():
    one = archspec.summary("resnet50")
    many = archspec.summary("resnet50", batch=8, dtype="float16")
    assert many.memory_mb["forward_activations"] == pytest.approx(one.memory_mb["forward_activations"] * 4, rel=1e-3)
    assert many.memory_mb["params"] == pytest.approx(one.memory_mb["params"] / 2, rel=1e-3)
    with pytest.raises(ValueError):
        archspec.summary("resnet50", dtype="int7")


def test_summary_command_depth_columns_and_json_rows(tmp_path):
    result = _run("summary", "resnet50", "--depth", "1", "--columns", "params,keras_name", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Mult-adds" not in result.stdout and "Keras name" in result.stdout
    assert "layer4" in result.stdout and "layer4.0" not in result.stdout
    data = json.loads(_run("summary", "resnet50", "--depth", "2", "--format", "json", cwd=tmp_path).stdout)
    assert sum(r["params"] for r in data["rows"]) == data["params"] and len(data["layers"]) > len(data["rows"])
    assert _run("summary", "resnet50", "--columns", "bogus", cwd=tmp_path).returncode == 2
    assert _run("summary", "resnet50", "--depth", "0", cwd=tmp_path).returncode == 2
