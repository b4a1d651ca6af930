"""archspec convert: PyTorch checkpoints <-> Keras weights files, checked against the IR first.

- A round trip torch -> keras -> torch gives back every tensor bit for bit, BatchNorm's
  num_batches_tracked too (it travels in the Keras file's metadata, which Keras ignores).
- A checkpoint laid out as torchvision's (the key list recorded in tests/reference, values
  random) converts and verifies; keras.applications' ResNet50 / ResNet50V2 weights files
  convert to PyTorch, and the PyTorch model then computes what keras.applications computes.
- A missing, extra or mis-shaped tensor, a truncated or corrupted file, a checkpoint with
  Python objects or with NaNs: exit 1, every problem named, no output file.
- A missing optional dependency: exit 2, naming the extra.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from archspec.cli import main

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
REFERENCE = json.loads((ROOT / "tests" / "reference" / "torch_models.json").read_text(encoding="utf-8"))
SIZE = ["--input-size", "32"]


def reference_state(name: str, seed: int = 0) -> dict:
    """A random state dict with exactly the keys and shapes recorded from the peer model."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in REFERENCE[name]["state_dict"].items():
        if key.endswith("num_batches_tracked"):  # a count a training run left
            state[key] = torch.tensor(int(rng.integers(1, 10**6)))
            continue
        if key.endswith("running_var"):
            value = rng.uniform(0.5, 2.0, shape)
        elif key.endswith("running_mean"):
            value = rng.normal(0.0, 0.1, shape)
        elif len(shape) > 1:
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
        elif key.endswith("weight"):
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0.0, 0.1, shape)
        state[key] = torch.from_numpy(value.astype(np.float32))
    return state


def convert(spec, source, checkpoint, target, out, *extra):
    return main(
        ["convert", str(SPECS / spec), "--from", source, str(checkpoint), "--to", target, str(out), *SIZE, *extra]
    )


def test_torch_to_keras_to_torch_is_bit_exact(tmp_path, capsys):
    checkpoint = tmp_path / "resnet18.pth"
    original = reference_state("resnet18")
    torch.save(original, checkpoint)
    keras_file = tmp_path / "resnet18.weights.h5"
    assert convert("resnet18.yaml", "torch", checkpoint, "keras", keras_file) == 0
    out = capsys.readouterr().out
    assert f"wrote   {keras_file}" in out and "PASS  resnet18" in out
    for back in (tmp_path / "back.pt", tmp_path / "back.safetensors"):
        assert convert("resnet18.yaml", "keras", keras_file, "torch", back, "--no-verify") == 0
        assert "num_batches_tracked" not in capsys.readouterr().err  # carried: nothing to say
        from archspec.deploy.checkpoint import read_torch

        state, _ = read_torch(back)
        assert set(state) == set(original)
        for key, value in original.items():
            assert state[key].dtype == value.numpy().dtype, key
            assert np.array_equal(state[key], value.numpy()), key
    assert oct(os.stat(keras_file).st_mode & 0o777) == oct(0o666 & ~_umask())


#: specs whose layers hold, between them, every op with tensors: the fixture of the family's
#: ops (channel convolution, PReLU, GroupNorm, LayerNorm, EvoNorm, FRN, standardized
#: convolutions) and a plain ResNet (BatchNorm)
LAYOUT_SPECS = [ROOT / "tests" / "fixtures" / "family" / "ops_all.yaml", SPECS / "resnet18.yaml"]


def _ir_state(network, seed: int = 0) -> dict:
    """A random state dict with the IR's keys and shapes."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in network.state_dict_shapes().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(int(rng.integers(1, 10**6)))
        elif key.endswith("running_var"):
            state[key] = torch.from_numpy(rng.uniform(0.5, 2.0, shape).astype(np.float32))
        else:
            state[key] = torch.from_numpy(rng.normal(0.0, 0.3, shape).astype(np.float32))
    return state


def test_every_op_with_tensors_is_in_a_layout_spec():
    """A new op with tensors is converted by the test below: some spec of LAYOUT_SPECS uses it."""
    from test_export import ONNX_FAMILY, ONNX_FIXTURES, ONNX_LAYOUTS

    import archspec
    from archspec.ir.ops import REGISTRY

    used = set()
    for spec in LAYOUT_SPECS:
        used |= {node.op for node in archspec.load(spec).ops() if node.tensors()}
    # the specs the ONNX test exports hold every op of the registry (a test there checks it)
    nodes = [node for spec in ONNX_LAYOUTS + ONNX_FAMILY + ONNX_FIXTURES for node in archspec.load(SPECS / spec).ops()]
    assert {node.op for node in nodes} == set(REGISTRY)
    with_tensors = {node.op for node in nodes if node.tensors()}
    assert with_tensors - used == set(), "ops with tensors that no spec of LAYOUT_SPECS converts"


@pytest.mark.parametrize("spec", LAYOUT_SPECS, ids=[p.stem for p in LAYOUT_SPECS])
def test_every_layout_converts_both_ways_bit_exactly(tmp_path, capsys, spec):
    """Each op's tensors go to the Keras file in Keras' layout (checked against the IR when the
    file is read back and verified) and come back unchanged."""
    import archspec
    from archspec.deploy.checkpoint import read_torch

    original = _ir_state(archspec.load(spec))
    checkpoint = tmp_path / "model.pth"
    torch.save(original, checkpoint)
    keras_file = tmp_path / "model.weights.h5"
    code = main(["convert", str(spec), "--from", "torch", str(checkpoint), "--to", "keras", str(keras_file), *SIZE])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    back = tmp_path / "back.pt"
    assert main(["convert", str(spec), "--from", "keras", str(keras_file), "--to", "torch", str(back), *SIZE]) == 0
    state, _ = read_torch(back)
    assert set(state) == set(original)
    for key, value in original.items():
        assert np.array_equal(state[key], value.numpy()), key


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def test_json_report_has_the_check_format(tmp_path, capsys):
    checkpoint = tmp_path / "resnet18.pth"
    torch.save(reference_state("resnet18", seed=3), checkpoint)
    out = tmp_path / "resnet18.weights.h5"
    assert convert("resnet18.yaml", "torch", checkpoint, "keras", out, "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True and report["written"] is True and report["problems"] == []
    assert report["tensors"] == sum(not k.endswith("num_batches_tracked") for k in REFERENCE["resnet18"]["state_dict"])
    check = report["check"]
    assert check["passed"] is True and check["dtype"] == "float64"
    assert {layer["kind"] for layer in check["layers"]} == {"layer", "block", "output"}
    assert check["max_rel_diff"] < 1e-10  # float64: the two frameworks agree to rounding


@pytest.mark.parametrize("spec", ["resnet50d.yaml", "resnetv2_50.yaml"])
def test_timm_layout_checkpoints_convert_and_come_back(tmp_path, capsys, spec):
    name = spec.removesuffix(".yaml")
    checkpoint = tmp_path / f"{name}.safetensors"
    from safetensors.torch import save_file

    original = {k: v for k, v in reference_state(name).items() if not k.endswith("num_batches_tracked")}
    save_file(original, str(checkpoint))
    keras_file = tmp_path / f"{name}.weights.h5"
    assert convert(spec, "torch", checkpoint, "keras", keras_file) == 0, capsys.readouterr().err
    back = tmp_path / f"{name}.pt"
    assert convert(spec, "keras", keras_file, "torch", back) == 0
    state = torch.load(back, weights_only=True)
    for key, value in original.items():
        assert torch.equal(state[key], value), key


def _keras_applications_model(name: str, seed: int):
    """keras.applications' model (built offline, weights=None) with random weights and BatchNorm
    statistics, logits out."""
    model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classifier_activation=None)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for w in layer.weights:
            shape = tuple(w.shape)
            if "moving_variance" in w.path:
                values.append(rng.uniform(0.5, 2.0, shape))
            elif "moving_mean" in w.path or "beta" in w.path or "bias" in w.path:
                values.append(rng.normal(0.0, 0.1, shape))
            elif "gamma" in w.path:
                values.append(rng.uniform(0.5, 1.5, shape))
            else:
                values.append(rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape))
        if values:
            layer.set_weights([v.astype(np.float32) for v in values])
    return model


@pytest.mark.parametrize(
    ("spec", "application"), [("resnet50_v1.yaml", "ResNet50"), ("resnet50_v2.yaml", "ResNet50V2")]
)
def test_keras_applications_weights_convert_to_torch(tmp_path, capsys, spec, application):
    reference = _keras_applications_model(application, seed=5)
    weights = tmp_path / f"{application}.weights.h5"
    reference.save_weights(str(weights))
    out = tmp_path / f"{application}.pth"
    assert convert(spec, "keras", weights, "torch", out) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    assert "PASS" in captured.out
    # Keras keeps no count of training batches: said, and every count is a fresh model's 0
    assert "records no num_batches_tracked" in captured.err
    counts = {k: v for k, v in torch.load(out, weights_only=True).items() if k.endswith("num_batches_tracked")}
    assert counts and all(int(v) == 0 for v in counts.values())

    import archspec

    model = archspec.build_model(SPECS / spec, "torch", input_size=(32, 32)).eval()
    model.load_state_dict(torch.load(out, weights_only=True), strict=True)
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype(np.float32)
    theirs = np.asarray(reference(x, training=False))
    with torch.no_grad():
        ours = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    scale = np.abs(theirs).max()
    assert np.abs(ours - theirs).max() <= 1e-4 * max(1.0, scale)

    # and the other way: a converted file loads into keras.applications' own model
    keras_file = tmp_path / "again.weights.h5"
    assert convert(spec, "torch", out, "keras", keras_file, "--no-verify") == 0
    fresh = getattr(keras.applications, application)(weights=None, input_shape=(32, 32, 3), classifier_activation=None)
    fresh.load_weights(str(keras_file))
    for a, b in zip(fresh.weights, reference.weights):
        assert np.array_equal(np.asarray(a), np.asarray(b)), a.path


# ------------------------------------------------------------------------------------------------
# nothing written for a bad checkpoint


def _refused(capsys, code, out: Path, *needles: str):
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")], "a temporary file was left"
    for needle in needles:
        assert needle in captured.err, captured.err
    return captured.err


def test_missing_extra_and_misshaped_tensors_are_named(tmp_path, capsys):
    state = reference_state("resnet18")
    del state["layer2.0.downsample.1.running_var"]
    state["layer5.0.conv1.weight"] = torch.zeros(3, 3)
    state["layer1.0.conv2.weight"] = torch.zeros(64, 32, 3, 3)
    checkpoint = tmp_path / "bad.pt"
    torch.save(state, checkpoint)
    out = tmp_path / "bad.weights.h5"
    err = _refused(
        capsys,
        convert("resnet18.yaml", "torch", checkpoint, "keras", out),
        out,
        "layer2.0.downsample.1.running_var: missing from the checkpoint (the spec expects shape (128))",
        "layer5.0.conv1.weight: in the checkpoint with shape (3, 3), but the spec has no such tensor",
        "layer1.0.conv2.weight: the checkpoint has shape (64, 32, 3, 3), the spec expects (64, 64, 3, 3)",
        "3 problems; nothing was written",
    )
    assert err.count("error:") == 3


def test_a_checkpoint_of_another_network_is_refused(tmp_path, capsys):
    checkpoint = tmp_path / "resnet34.pth"
    torch.save(reference_state("resnet34"), checkpoint)
    out = tmp_path / "x.weights.h5"
    _refused(capsys, convert("resnet18.yaml", "torch", checkpoint, "keras", out), out, "layer1.2.conv1.weight")


def test_an_existing_output_is_left_untouched(tmp_path, capsys):
    checkpoint = tmp_path / "bad.pt"
    state = reference_state("resnet18")
    state["fc.weight"] = torch.zeros(10, 512)
    torch.save(state, checkpoint)
    out = tmp_path / "keep.weights.h5"
    out.write_bytes(b"previous")
    code = convert("resnet18.yaml", "torch", checkpoint, "keras", out)
    assert code == 1 and out.read_bytes() == b"previous"
    assert "fc.weight: the checkpoint has shape (10, 512), the spec expects (1000, 512)" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupted_torch_checkpoints_write_nothing(tmp_path, capsys, damage):
    good = tmp_path / "good.pt"
    torch.save(reference_state("resnet18"), good)
    data = good.read_bytes()
    checkpoint = tmp_path / "damaged.pt"
    checkpoint.write_bytes({"truncated": data[: len(data) // 2], "garbage": os.urandom(4096), "empty": b""}[damage])
    out = tmp_path / "out.weights.h5"
    _refused(
        capsys, convert("resnet18.yaml", "torch", checkpoint, "keras", out), out, "not a readable PyTorch checkpoint"
    )


def test_truncated_safetensors_writes_nothing(tmp_path, capsys):
    from safetensors.torch import save_file

    good = tmp_path / "good.safetensors"
    save_file({k: v for k, v in reference_state("resnet18").items()}, str(good))
    checkpoint = tmp_path / "damaged.safetensors"
    checkpoint.write_bytes(good.read_bytes()[:-1000])
    out = tmp_path / "out.weights.h5"
    _refused(
        capsys, convert("resnet18.yaml", "torch", checkpoint, "keras", out), out, "not a readable safetensors file"
    )


def test_a_checkpoint_with_python_objects_is_not_unpickled(tmp_path, capsys):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    checkpoint = tmp_path / "evil.pt"
    torch.save({"state_dict": reference_state("resnet18"), "payload": Payload()}, checkpoint)
    out = tmp_path / "out.weights.h5"
    _refused(capsys, convert("resnet18.yaml", "torch", checkpoint, "keras", out), out, "weights_only")


def test_a_checkpoint_in_the_format_before_pytorch_1_6_converts(tmp_path, capsys):
    """Checkpoints are mapped from the file rather than read into memory, which torch.load can
    do only for the zip format of PyTorch 1.6 on: an older file is read, and converts."""
    from archspec.deploy.checkpoint import read_torch

    original = reference_state("resnet18", seed=4)
    checkpoint = tmp_path / "old.pth"
    torch.save(original, checkpoint, _use_new_zipfile_serialization=False)
    keras_file, back = tmp_path / "old.weights.h5", tmp_path / "back.pt"
    assert convert("resnet18.yaml", "torch", checkpoint, "keras", keras_file) == 0, capsys.readouterr().err
    assert "PASS  resnet18" in capsys.readouterr().out
    assert convert("resnet18.yaml", "keras", keras_file, "torch", back, "--no-verify") == 0
    state, _ = read_torch(back)
    assert set(state) == set(original)
    assert all(np.array_equal(state[k], v.numpy()) for k, v in original.items())


def test_nan_weights_are_refused(tmp_path, capsys):
    state = reference_state("resnet18")
    state["layer3.1.bn2.weight"][7] = float("nan")
    checkpoint = tmp_path / "nan.pt"
    torch.save(state, checkpoint)
    out = tmp_path / "out.weights.h5"
    _refused(
        capsys,
        convert("resnet18.yaml", "torch", checkpoint, "keras", out),
        out,
        "layer3.1.bn2.weight: 1 of its 256 values are NaN or infinite",
    )


def test_a_training_checkpoint_is_unwrapped_and_said_so(tmp_path, capsys):
    state = {f"module.{k}": v for k, v in reference_state("resnet18").items()}
    checkpoint = tmp_path / "train.pth"
    torch.save({"epoch": 90, "state_dict": state, "best_acc1": torch.tensor(69.7)}, checkpoint)
    out = tmp_path / "out.weights.h5"
    assert convert("resnet18.yaml", "torch", checkpoint, "keras", out, "--no-verify") == 0
    err = capsys.readouterr().err
    assert "took the state dict under the checkpoint's 'state_dict' entry" in err
    assert "dropped the 'module.' prefix" in err
    assert out.is_file()


def test_damaged_and_misshaped_keras_files_write_nothing(tmp_path, capsys):
    checkpoint = tmp_path / "r18.pth"
    torch.save(reference_state("resnet18"), checkpoint)
    weights = tmp_path / "r18.weights.h5"
    assert convert("resnet18.yaml", "torch", checkpoint, "keras", weights, "--no-verify") == 0
    capsys.readouterr()

    truncated = tmp_path / "truncated.weights.h5"
    truncated.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    out = tmp_path / "out.pt"
    _refused(capsys, convert("resnet18.yaml", "keras", truncated, "torch", out), out, str(truncated))

    # the weights of another network: ResNet-34 has more layers of each class, and wider ones
    other = tmp_path / "r34.pth"
    torch.save(reference_state("resnet34"), other)
    r34 = tmp_path / "r34.weights.h5"
    assert (
        main(
            [
                "convert",
                str(SPECS / "resnet34.yaml"),
                "--from",
                "torch",
                str(other),
                "--to",
                "keras",
                str(r34),
                *SIZE,
                "--no-verify",
            ]
        )
        == 0
    )
    capsys.readouterr()
    _refused(
        capsys,
        convert("resnet18.yaml", "keras", r34, "torch", out),
        out,
        "layer2_0_1_conv.kernel (layers/conv2d_5/vars/0): the checkpoint has shape (3, 3, 64, 64), "
        "the spec expects (3, 3, 64, 128)",
        "does not match",
    )

    # one kernel transposed in the file
    import h5py

    damaged = tmp_path / "damaged.weights.h5"
    damaged.write_bytes(weights.read_bytes())
    with h5py.File(damaged, "r+") as f:
        kernel = np.asarray(f["layers/conv2d_1/vars/0"])
        del f["layers/conv2d_1/vars/0"]
        f["layers/conv2d_1/vars/0"] = kernel[:, :, :, :32]
    _refused(
        capsys,
        convert("resnet18.yaml", "keras", damaged, "torch", out),
        out,
        "layer1_0_1_conv.kernel (layers/conv2d_1/vars/0): the checkpoint has shape (3, 3, 64, 32), "
        "the spec expects (3, 3, 64, 64)",
    )


def test_batch_counts_in_a_keras_file_are_checked(tmp_path, capsys):
    """The counts travel as a root attribute of the Keras file: one for a BatchNorm the spec
    lacks (the file belongs to another network), or a damaged attribute, writes nothing."""
    import h5py

    from archspec.deploy.checkpoint import COUNTS_ATTR

    checkpoint = tmp_path / "r18.pth"
    original = reference_state("resnet18", seed=4)
    torch.save(original, checkpoint)
    weights = tmp_path / "r18.weights.h5"
    assert convert("resnet18.yaml", "torch", checkpoint, "keras", weights, "--no-verify") == 0
    capsys.readouterr()
    with h5py.File(weights, "r") as f:
        carried = json.loads(f.attrs[COUNTS_ATTR])
    assert carried == {k: int(v) for k, v in original.items() if k.endswith("num_batches_tracked")}
    # the generated Keras model loads the file as Keras writes it
    import archspec

    archspec.build_model(SPECS / "resnet18.yaml", "keras", input_size=(32, 32)).load_weights(str(weights))

    out = tmp_path / "out.pt"
    for value, needle in [
        (json.dumps({**carried, "layer9.0.bn1.num_batches_tracked": 3}), "layer9.0.bn1.num_batches_tracked: in the"),
        ("{not json", "attribute is not a mapping of key to count"),
        (json.dumps({"bn1.num_batches_tracked": -1}), "attribute is not a mapping of key to count"),
    ]:
        damaged = tmp_path / "damaged.weights.h5"
        damaged.write_bytes(weights.read_bytes())
        with h5py.File(damaged, "r+") as f:
            f.attrs[COUNTS_ATTR] = value
        _refused(capsys, convert("resnet18.yaml", "keras", damaged, "torch", out), out, needle)


def test_usage_errors_exit_2(tmp_path, capsys):
    checkpoint = tmp_path / "r18.pth"
    torch.save(reference_state("resnet18"), checkpoint)
    assert convert("resnet18.yaml", "torch", tmp_path / "none.pt", "keras", tmp_path / "o.weights.h5") == 2
    assert convert("resnet18.yaml", "torch", checkpoint, "keras", tmp_path / "o.h5") == 2
    assert convert("resnet18.yaml", "torch", checkpoint, "torch", tmp_path / "o.pt") == 2
    assert convert("resnet18.yaml", "jax", checkpoint, "keras", tmp_path / "o.weights.h5") == 2
    err = capsys.readouterr().err
    assert "no such file" in err and ".weights.h5" in err and "jax" in err
    assert not list(tmp_path.glob("o*"))


def test_a_missing_extra_is_named_with_exit_2(tmp_path, capsys, monkeypatch):
    checkpoint = tmp_path / "r18.pth"
    torch.save(reference_state("resnet18"), checkpoint)
    out = tmp_path / "out.safetensors"
    weights = tmp_path / "r18.weights.h5"
    assert convert("resnet18.yaml", "torch", checkpoint, "keras", weights, "--no-verify") == 0
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "safetensors", None)
    assert convert("resnet18.yaml", "keras", weights, "torch", out, "--no-verify") == 2
    assert "pip install 'archspec-nn[safetensors]'" in capsys.readouterr().err
    assert not out.exists()


def test_lint_and_summary_import_nothing_of_deployment():
    code = (
        "import sys\nfrom archspec.cli import main\n"
        "main(['lint', 'specs/resnet50.yaml']); main(['summary', 'specs/resnet50.yaml'])\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'torch', 'tensorflow', 'keras', 'onnx', 'onnxruntime', 'onnxscript', 'safetensors', 'h5py', 'numpy'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_keras2_h5_weights_file_converts(tmp_path, capsys):
    """keras.applications' downloads are Keras 2 HDF5 files (one group per layer name)."""
    import h5py
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    import archspec
    from archspec.crosscheck.weights import transfer_weights

    original = reference_state("resnet18", seed=9)
    network = archspec.load(SPECS / "resnet18.yaml", (32, 32))
    torch_model = archspec.build_model(SPECS / "resnet18.yaml", "torch", input_size=(32, 32))
    torch_model.load_state_dict(original)
    keras_model = archspec.build_model(SPECS / "resnet18.yaml", "keras", input_size=(32, 32))
    transfer_weights(torch_model, keras_model, network)
    legacy = tmp_path / "resnet18_keras2.h5"
    with h5py.File(legacy, "w") as f:
        save_weights_to_hdf5_group(f, keras_model)
    out = tmp_path / "resnet18.pth"
    assert convert("resnet18.yaml", "keras", legacy, "torch", out) == 0, capsys.readouterr().err
    assert "PASS" in capsys.readouterr().out
    state = torch.load(out, weights_only=True)
    for key, value in original.items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(state[key], value), key
