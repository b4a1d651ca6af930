"""The Keras backend on every shipped spec, and the generated files.

- Every spec in ``specs/*.yaml`` builds to a Keras model whose parameters, weight shapes and
  every layer's output shape equal the IR's (NHWC), at 224x224 and at the odd size 97x97.
- ``generated/keras/*.py`` equal a fresh emit, import only keras, are ruff-clean and
  formatted, and the emit is byte-identical whatever the hash seed.
- ``archspec.build_model(path, backend="keras")`` returns a built ``keras.Model``.
"""

from __future__ import annotations

import ast
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import archspec
from archspec.backends import BackendError, keras_backend, render
from archspec.backends.output import output_path
from archspec.diagnostics import ArchspecError
from archspec.ir.build import build_ir
from archspec.pipeline import checked_network
from archspec.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
#: the deepest networks build in a few seconds each: they are checked at the odd size only
#: here (resnet{101,152}_v{1,2} are built at 224 by test_keras_applications), as are the
#: timm-layout specs, whose blocks repeat a few constructs (ops_all in test_family_ops has them all)
DEEP = {
    "resnet101",
    "resnet152",
    "resnext101_32x8d",
    "wide_resnet101_2",
    "resnet101_v1",
    "resnet152_v1",
    "resnet101_v2",
    "resnet152_v2",
    "resnet101d",
    "senet154",
    "resnet26d",
    "resnet50t",
    "seresnext50_32x4d",
    "resnetaa50d",
    "ecaresnet50d",
    "resnet50_gn",
    "resnetrs50",
    "regnetx_002",
    "regnety_002",
    "resnetv2_50x1_bit",
    "resnetblur50",
    "res2net50_26w_4s",
    "resnet10t",
    "resnet14t",
    "resnet18d",
    "resnet34d",
    "regnetx_004",
    "regnety_004",
    "resnetv2_50d_evos",
}
#: variants of the specs above, differing from their base only in depth, widths, stem or a
#: block option the base already builds: their Keras build repeats their base's constructs, so
#: it is left to the catalog cross-check of .ci/run (`archspec check specs/*.yaml`, every spec
#: built, run and compared with its PyTorch model) and kept out of the README's test command
VARIANTS = {
    "ecaresnet101d",
    "ecaresnet200d",
    "ecaresnet26t",
    "ecaresnet50t",
    "ecaresnetlight",
    "ecaresnext26t_32x4d",
    "ecaresnext50t_32x4d",
    "resnet101c",
    "resnet101s",
    "resnet152c",
    "resnet152d",
    "resnet152s",
    "resnet200",
    "resnet200d",
    "resnet26",
    "resnet26t",
    "resnet50c",
    "resnet50s",
    "resnetaa101d",
    "resnetaa34d",
    "resnetaa50",
    "resnetrs101",
    "resnetrs152",
    "resnext101_32x4d",
    "resnext50d_32x4d",
    "seresnet101",
    "seresnet152",
    "seresnet152d",
    "seresnet18",
    "seresnet200d",
    "seresnet34",
    "seresnet50t",
    "seresnetaa50d",
    "seresnext101_32x4d",
    "seresnext101_32x8d",
    "seresnext101_64x4d",
    "seresnext101d_32x8d",
    "seresnext26d_32x4d",
    "seresnext26t_32x4d",
    "regnetx_004_tv",
    "regnetx_006",
    "regnetx_008",
    "regnetx_016",
    "regnetx_032",
    "regnetx_040",
    "regnety_006",
    "regnety_008",
    "regnety_008_tv",
    "regnety_016",
    "regnety_032",
    "regnety_040",
    "regnetx_064",
    "regnetx_080",
    "regnetx_120",
    "regnety_064",
    "regnety_080",
    "regnety_080_tv",
    "regnety_120",
    "resnetblur18",
    "resnetblur50d",
    "resnetblur101d",
    "res2net50_26w_6s",
    "res2net50_26w_8s",
    "res2net50_14w_8s",
    "res2net50_48w_2s",
    "res2next50",
    "res2net50d",
    "res2net101_26w_4s",
    "res2net101d",
    "resnest50d_1s4x24d",
    "resnest50d_4s2x40d",
    "resnest101e",
    "resnext101_64x4d",
    "resnext101_32x16d",
    "test_resnet",
    "resnetrs200",
    "seresnextaa101d_32x8d",
    "regnetx_160",
    "regnety_160",
    "resnest200e",
    "seresnet269d",
    "ecaresnet269d",
    "resnetrs270",
    "seresnextaa201d_32x8d",
    "resnest269e",
    "regnetx_320",
    "regnety_320",
    "resnetv2_18",
    "resnetv2_18d",
    "resnetv2_34",
    "resnetv2_34d",
    "resnetv2_50d",
    "resnetv2_50t",
    "resnetv2_101",
    "resnetv2_101d",
    "resnetv2_152",
    "resnetv2_152d",
    "resnetv2_50d_gn",
    "resnetv2_101x1_bit",
    "resnetv2_50d_frn",
    "resnetv2_50x3_bit",
    "resnetv2_101x3_bit",
    "resnetv2_152x2_bit",
    "resnetrs350",
    "resnetrs420",
    "resnext101_32x32d",
    "resnetv2_152x4_bit",
    "regnety_640",
    "regnety_1280",
    "regnety_2560",
}


#: variants too large for the catalog cross-check of .ci/run (over 150 million parameters):
#: cross-checked by bench/coverage.py --keras, where timm's model is compared too
LARGE = {
    "resnetv2_50x3_bit",
    "resnetv2_101x3_bit",
    "resnetv2_152x2_bit",
    "resnext101_32x16d",
    "resnetrs350",
    "resnetrs420",
    "resnext101_32x32d",
    "resnetv2_152x4_bit",
    "regnety_640",
    "regnety_1280",
    "regnety_2560",
}


@pytest.fixture
def in_root(monkeypatch):
    """Paths in headers are relative to the working directory: emit from the repository root."""
    monkeypatch.chdir(ROOT)


def _cases():
    for spec in SPECS:
        if spec.stem in VARIANTS:
            continue
        for size in (224, 97):
            if size == 224 and spec.stem in DEEP:
                continue
            yield pytest.param(spec, size, id=f"{spec.stem}-{size}")


def test_variants_are_shipped_specs_checked_by_ci():
    """Every variant is built in Keras somewhere: by the catalog cross-check of .ci/run, which
    takes the shipped specs up to its parameter limit (the larger ones are cross-checked by
    bench/coverage.py --keras)."""
    import re

    from archspec.catalog import entries

    names = {spec.stem for spec in SPECS}
    assert VARIANTS <= names and not VARIANTS & DEEP
    ci = (ROOT / ".ci" / "run").read_text()
    limit = re.search(r'e\["params"\] <= ([\d_]+)', ci)
    assert limit is not None and "archspec check $CI_SPECS" in ci
    params = {e.name: e.params for e in entries()}
    large = {name for name in VARIANTS if params[name] > int(limit.group(1).replace("_", ""))}
    assert large <= LARGE, (
        f"variants above the limit of .ci/run's catalog check that no one checks: {sorted(large - LARGE)}"
    )


def _nhwc(shape):
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else tuple(shape)


def _keras_shapes(node, tensor_shapes):
    """The IR's PyTorch tensor shapes in Keras' layout (conv OIHW -> HWIO, ECA's 1-D conv OIK ->
    KIO, dense transposed, PReLU's alpha over the spatial axes), as the weight transfer and the
    checkpoint reader lay them out."""
    from archspec.crosscheck.weights import keras_shape

    return [keras_shape(node, name, shape) for name, shape in tensor_shapes]


@pytest.mark.parametrize(("spec", "size"), list(_cases()))
def test_spec_builds_with_the_irs_figures(spec, size):
    keras = pytest.importorskip("keras")
    network = checked_network(spec, (size, size))
    # shapes only: in a stateless scope that does not initialize them, Keras creates the
    # variables without ever running their initializers (random numbers for every weight, 40% of
    # a build); the layers, weights and shapes are the same
    with keras.StatelessScope(initialize_variables=False):
        model = keras_backend.instantiate(keras_backend.emit(network), network)
    try:
        assert isinstance(model, keras.Model) and model.built
        assert model.output_shape[1:] == _nhwc(network.output_shape)
        statistics = sum(
            math.prod(t.shape) for n in network.ops() for t in n.tensors() if t.name in ("running_mean", "running_var")
        )
        assert sum(math.prod(w.shape) for w in model.trainable_weights) == network.params
        assert model.count_params() == network.params + statistics
        for node in network.ops():
            layer = model.get_layer(node.keras_name)
            assert tuple(layer.output.shape[1:]) == _nhwc(node.shape), node.keras_name
            tensors = [(t.name, t.shape) for t in node.tensors() if t.name != "num_batches_tracked"]
            assert [tuple(w.shape) for w in layer.weights] == _keras_shapes(node, tensors), node.keras_name
    finally:
        keras.backend.clear_session()


# ---------------------------------------------------------------------------------------------
# the generated files


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_generated_file_is_fresh(in_root, spec):
    network = checked_network(spec.relative_to(ROOT))
    path = output_path(network.name, "keras", None)
    assert path.is_file(), f"{path} is missing: run archspec build {spec.relative_to(ROOT)} --backend keras"
    assert path.read_text(encoding="utf-8") == keras_backend.emit(network), (
        f"{path} is stale: run archspec build {spec.relative_to(ROOT)} --backend keras"
    )


def test_every_generated_file_has_a_spec():
    names = {s.stem for s in SPECS}
    assert {p.stem for p in (ROOT / "generated" / "keras").glob("*.py")} == names


GENERATED = sorted((ROOT / "generated" / "keras").glob("*.py"))


@pytest.mark.parametrize("path", GENERATED, ids=[p.stem for p in GENERATED])
def test_generated_file_imports_only_keras(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert imported == {"keras"}
    # no dynamic imports, no eval, and a docstring header naming the spec
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not names & {"__import__", "eval", "exec", "importlib"}
    docstring = ast.get_docstring(tree)
    assert docstring is not None and "Generated by archspec" in docstring and "sha256" in docstring


def test_generated_files_are_ruff_clean():
    ruff = render.ruff_binary()
    files = [str(p) for p in GENERATED]
    common = ["--isolated", f"--line-length={render.LINE_LENGTH}"]
    check = subprocess.run(
        [ruff, "check", *common, "--select", "E,F,W,I,B,UP,C4,SIM", *files], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run([ruff, "format", "--check", *common, *files], capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_emit_is_deterministic_across_hash_seeds(in_root):
    script = textwrap.dedent(
        """
        import sys
        from archspec.backends import keras_backend
        from archspec.pipeline import checked_network
        for spec in sys.argv[1:]:
            sys.stdout.write(keras_backend.emit(checked_network(spec)))
        """
    )
    specs = [
        "specs/resnet50_v2.yaml",
        "specs/seresnet50.yaml",
        "specs/resnet50d.yaml",
        "specs/resnetv2_50.yaml",
    ]
    outputs = []
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        result = subprocess.run(
            [sys.executable, "-c", script, *specs],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=True,
        )
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0].count("Generated by archspec") == len(specs)


# ---------------------------------------------------------------------------------------------
# the public API and the generated code's interface


def test_build_model_returns_a_built_keras_model(in_root):
    keras = pytest.importorskip("keras")
    model = archspec.build_model("specs/resnet18.yaml", backend="keras")
    assert isinstance(model, keras.Model) and model.built
    assert model.name == "resnet18"
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 1000)
    smaller = archspec.build_model("specs/resnet18.yaml", backend="keras", input_size=(65, 65))
    assert smaller.input_shape == (None, 65, 65, 3)
    keras.backend.clear_session()


def test_generated_model_function_takes_the_spec_variables(in_root):
    """The module is standalone: its model function takes the input shape and the spec's
    variables (here num_classes), like keras.applications' functions."""
    keras = pytest.importorskip("keras")
    source = (ROOT / "generated" / "keras" / "resnet50_v1.py").read_text(encoding="utf-8")
    namespace: dict = {"__name__": "generated_resnet50_v1"}
    exec(compile(source, "resnet50_v1.py", "exec"), namespace)
    model = namespace["resnet50_v1"](input_shape=(64, 80, 3), num_classes=10)
    assert model.output_shape == (None, 10)
    assert model.get_layer("predictions").kernel.shape == (2048, 10)
    keras.backend.clear_session()


def test_unsupported_combination_is_a_clear_error(tmp_path):
    spec = tmp_path / "dilated.yaml"
    spec.write_text(
        "archspec: 1\nname: dilated\ninput: {channels: 3, size: [32, 32]}\n"
        "stem:\n  - {op: conv, filters: 4, kernel: 3, stride: 2, dilation: 2, padding: same}\n",
        encoding="utf-8",
    )
    # lint refuses it at its line (the gate), and the backend itself refuses it clearly too
    with pytest.raises(ArchspecError) as refused:
        checked_network(spec)
    assert [d.code for d in refused.value.diagnostics] == ["AS406"]
    with pytest.raises(BackendError, match="stride and a dilation"):
        keras_backend.emit(build_ir(load_spec(spec)))


def test_helper_layer_names_never_collide(tmp_path):
    """ZeroPadding2D takes the name ``<layer>_pad``; when a spec layer already has that name,
    the padding takes another one, instead of a Keras error at build time."""
    spec = tmp_path / "clash.yaml"
    spec.write_text(
        "archspec: 1\nname: clash\ninput: {channels: 3, size: [32, 32]}\n"
        "stem:\n"
        "  - {op: conv, name: conv1, keras: conv1_conv, filters: 4, kernel: 3, stride: 2, padding: 1}\n"
        "  - {op: relu, keras: conv1_pad}\n",
        encoding="utf-8",
    )
    # the padding takes another name instead: every layer name in the module is distinct
    source = keras_backend.emit(checked_network(spec))
    names = re.findall(r'name="([^"]+)"', source)
    assert "conv1_pad" in names and len(names) == len(set(names)), names
