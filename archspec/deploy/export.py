"""``archspec export``: the generated model as a deployable artifact, verified by running it.

Formats:

- ``onnx``: ``torch.onnx.export`` (the ``torch.export``-based exporter), each node renamed after
  the spec's module path it comes from (``layer1.0.conv1``; helper nodes
  ``layer1.0.conv1/<op>``), so that Netron shows the spec's names.  Verified with ONNX Runtime
  against the PyTorch model: every block's output (added as extra graph outputs to a copy, never
  to the file) and the logits.  A model whose weights come near 2 GiB, the most a protobuf file
  can hold, keeps them in ``<output>.data`` beside the ``.onnx`` file (ONNX's external data,
  which ONNX Runtime, onnx.load and Netron read from the same folder): the two files are moved
  into place together.  ONNX Runtime runs the graph optimized unless that would not fit in the
  free memory (see :func:`session_note`).
- ``torch-export``: a ``torch.export`` program saved with ``torch.export.save`` (``.pt2``),
  loaded back and run.
- ``saved-model`` (a TensorFlow SavedModel folder, ``keras.Model.export``) and ``keras`` (a
  ``.keras`` file, ``keras.Model.save``): the generated Keras model with the same weights,
  loaded back and run.

Each artifact is written atomically, then compared with the PyTorch model (float32, the
deployed precision, so the tolerance grows with depth as in ``archspec check --dtype float32``)
on a random batch.  The model has random weights and measured-then-perturbed BatchNorm
statistics unless ``--weights`` gives a checkpoint, which is checked against the spec first.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from archspec.crosscheck.compare import DEFAULT_ATOL, DEFAULT_RTOL, TensorDiff, depths, diff_tensor, result_of
from archspec.deploy.checkpoint import Problem, atomic_write, file_mode, framework_of
from archspec.deploy.deps import require
from archspec.ir.graph import Network

SUFFIX = {"onnx": ".onnx", "torch-export": ".pt2", "saved-model": "_saved_model", "keras": ".keras"}


@dataclass
class ExportResult:
    spec: str
    format: str
    output: str
    written: bool = False
    problems: list[Problem] = field(default_factory=list)
    checks: list[Any] = field(default_factory=list)  # CheckResult
    files: list[str] = field(default_factory=list)  # written beside the output (an ONNX model's weights)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.written and not self.problems and all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "format": self.format,
            "output": self.output,
            "written": self.written,
            "files": self.files,
            "notes": self.notes,
            "passed": self.passed,
            "problems": [p.to_dict() for p in self.problems],
            "checks": [c.to_dict() for c in self.checks],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def default_output(network: Network, fmt: str) -> Path:
    return Path(f"{network.name}{SUFFIX[fmt]}")


# ------------------------------------------------------------------------------------------------
# the reference model


def reference_model(network: Network, weights: Path | None, seed: int):
    """The float32 PyTorch model in eval mode: with ``weights`` (checked first; returns the
    problems instead when they do not fit) or randomized."""
    import torch

    from archspec.crosscheck.weights import randomize_torch, transfer_weights
    from archspec.deploy.convert import (
        keras_model_for,
        load_keras_file,
        load_torch_file,
        set_batch_counts,
        torch_model_for,
    )

    torch.manual_seed(seed)
    model = torch_model_for(network)
    if weights is None:
        randomize_torch(model, network, seed)
        return model, []
    if framework_of(weights) == "torch":
        problems, _ = load_torch_file(model, network, weights)
        return model, problems
    keras_model = keras_model_for(network)
    problems, counts = load_keras_file(keras_model, network, weights)
    if not problems:
        transfer_weights(model, keras_model, network, "keras_to_torch")
        set_batch_counts(model, counts)
    return model, problems


def _points(network: Network, blocks: bool) -> list[tuple[str, str]]:
    out = [(b.output, "block") for b in network.blocks if blocks and b.output != network.output]
    return out + [(network.output, "output")]


def torch_outputs(model, network: Network, points, x: np.ndarray) -> dict[str, np.ndarray]:
    import torch

    from archspec.crosscheck.inference import _run

    return _run(model, network, points, torch.from_numpy(x))


def diff_outputs(
    network: Network,
    points: list[tuple[str, str]],
    reference: dict[str, np.ndarray],
    candidate: dict[str, np.ndarray],
    *,
    names: dict[str, str] | None = None,
    atol: float,
    rtol: float,
    float64: bool,
) -> list[TensorDiff]:
    """One :class:`TensorDiff` per point: ``candidate`` (NCHW) against ``reference``, with the
    tolerance of ``archspec check``.  ``names`` gives the candidate's own name of a point (for
    the report's second name column)."""
    depth = depths(network)
    diffs = []
    for node_id, kind in points:
        node = network.node(node_id)
        name = node.block_id if kind == "block" else node.torch_path
        other = (names or {}).get(node_id, node.keras_name)
        a, b = reference.get(node_id), candidate.get(node_id)
        diffs.append(diff_tensor(name, other, kind, a, b, depth[node_id], atol=atol, rtol=rtol, float64=float64))
    return diffs


def random_input(network: Network, batch: int, seed: int) -> np.ndarray:
    """The input ``archspec check`` uses for this seed (float32)."""
    rng = np.random.default_rng(seed + 1)
    return rng.standard_normal((batch, *network.input_shape)).astype(np.float32)


def _nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1))) if x.ndim == 4 else x


def _nchw(y: np.ndarray) -> np.ndarray:
    return np.transpose(y, (0, 3, 1, 2)) if y.ndim == 4 else y


# ------------------------------------------------------------------------------------------------
# ONNX


@contextlib.contextmanager
def _quiet():
    """The exporter's progress lines and deprecation notices say nothing to our user."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def onnx_model(torch_model, network: Network, *, opset: int | None = None, dynamic_batch: bool = False, batch: int = 2):
    """The ONNX ``ModelProto`` of ``torch_model``, nodes named after the spec's module paths."""
    torch = require("torch", "ONNX export")
    require("onnx", "ONNX export")
    require("onnxscript", "ONNX export")
    x = torch.from_numpy(random_input(network, batch, 0)).to(next(torch_model.parameters()).dtype)
    # optimize=False: the exporter's optimizer would fold each BatchNorm into its convolution and
    # keep the convolution's weight name on the folded tensor; ONNX Runtime folds at load anyway
    options: dict[str, Any] = {"input_names": ["input"], "output_names": ["output"], "dynamo": True, "optimize": False}
    if opset is not None:
        options["opset_version"] = opset
    if dynamic_batch:
        options["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1, max=4096)},)
    with _quiet():
        program = torch.onnx.export(torch_model, (x,), verbose=False, **options)
        _fold_constants(program.model)
    proto = program.model_proto
    rename_nodes(proto, network)
    return proto


def _fold_constants(model) -> None:
    """Constant folding and dead-node removal only (the shape arithmetic of a bias-free
    convolution, for one), none of the optimizer's rewrites."""
    import onnx_ir.passes.common as common_passes
    from onnxscript.optimizer import fold_constants

    fold_constants(model)
    common_passes.RemoveUnusedNodesPass()(model)


def rename_nodes(proto, network: Network) -> None:
    """Name every node after the module it comes from (the exporter records the module scopes
    of each node).  The node that produces a spec layer's output is named exactly its module
    path (``layer1.0.conv1``); every other node ``<module path>/<op>`` (``layer1.0/add``), made
    unique with a suffix."""
    import ast

    layers = {node.torch_path for node in network.ops() if node.torch_path}
    scoped = []
    for node in proto.graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        scopes: list[str] = []
        if "pkg.torch.onnx.name_scopes" in meta:
            try:
                scopes = [str(s) for s in ast.literal_eval(meta["pkg.torch.onnx.name_scopes"])]
            except (ValueError, SyntaxError):
                scopes = []
        scoped.append((node, scopes))
    last_in_layer: dict[str, Any] = {}
    for node, scopes in scoped:
        if len(scopes) >= 2 and scopes[-2] in layers and node.op_type != "Constant":
            last_in_layer[scopes[-2]] = node
    used: dict[str, int] = {}
    for node, scopes in scoped:
        if len(scopes) < 2:
            continue
        module, op = scopes[-2], scopes[-1]
        if module.startswith("_"):  # an exporter-internal scope, not a module
            module = ""
        if last_in_layer.get(module) is node:
            name = module
        else:
            name = f"{module}/{op}" if module else op
            if node.op_type == "Constant":
                name += "/Constant"
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        node.name = name


#: protobuf cannot write a message of 2 GiB or more: an ONNX model whose weights would leave less
#: than 64 MiB of that for the graph keeps them in a file beside it instead
EXTERNAL_DATA_BYTES = 2**31 - 2**26


def weight_bytes(proto) -> int:
    """The bytes the model's weights take inside its protobuf."""
    return sum(init.ByteSize() for init in proto.graph.initializer)


def data_file(path: Path) -> Path:
    """Where the weights of an ONNX model too large for one file go: ``<path>.data``."""
    path = Path(path)
    return path.with_name(path.name + ".data")


def save_onnx(proto, path: Path) -> Path | None:
    """Write ``proto`` to ``path`` atomically, its weights in :func:`data_file` when they would
    bring the file near protobuf's 2 GiB limit.  Returns that data file, or None when the model
    is one file.  The weights' bytes move out of ``proto`` when they go to the data file.

    Both files are written into a fresh folder beside ``path``, then moved into place, the data
    file first: a failure leaves any existing model untouched and nothing behind."""
    import onnx

    path = Path(path)
    if weight_bytes(proto) < EXTERNAL_DATA_BYTES:
        atomic_write(path, lambda tmp: onnx.save_model(proto, str(tmp)), suffix=".onnx")
        return None
    data = data_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        onnx.save_model(
            proto,
            str(folder / path.name),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=data.name,  # relative to the model's folder, as the format requires
            size_threshold=1024,  # shapes and axes stay in the graph: ONNX Runtime reads them there
        )
        for written in (folder / data.name, folder / path.name):
            written.chmod(file_mode())
        os.replace(folder / data.name, data)
        os.replace(folder / path.name, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return data


#: ONNX Runtime's graph optimizations hold up to this many times the weights while a session
#: loads (measured: RegNetY 2.3, BiT 5.5, whose standardized weights it folds into new ones)
OPTIMIZED_SESSION_FACTOR = 6


def available_memory() -> int | None:
    """The memory the kernel says a new allocation can take (``MemAvailable``), or None where it
    does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def session_note(weights: int, available: int | None) -> str | None:
    """Why ONNX Runtime runs the graph as written rather than optimized, or None to optimize:
    an optimized session of a large model takes more memory than the machine has free."""
    need = OPTIMIZED_SESSION_FACTOR * weights
    if available is None or need <= available:
        return None
    return (
        f"ONNX Runtime ran the graph as written, without its graph optimizations: optimizing "
        f"{weights / 1e9:.1f} GB of weights can take {need / 1e9:.0f} GB, and {available / 1e9:.0f} GB is "
        f"free. The graph is the same; a machine with that memory runs it optimized"
    )


def _data_files(proto) -> set[str]:
    """The files beside the model that hold its weights (names relative to its folder)."""
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    return {ExternalDataInfo(init).location for init in proto.graph.initializer if uses_external_data(init)}


def block_output_values(proto, network: Network) -> dict[str, str]:
    """Per block output node id: the ONNX value holding that block's output (the output of the
    last node the exporter placed in the block's module scope)."""
    out: dict[str, str] = {}
    by_block = {b.id: b.output for b in network.blocks}
    for node in proto.graph.node:
        for prop in node.metadata_props:
            if prop.key == "pkg.torch.onnx.name_scopes" and node.op_type != "Constant":
                for block_id in by_block:
                    if f"'{block_id}'" in prop.value and node.output:
                        out[by_block[block_id]] = node.output[0]
    return out


def run_onnx(
    path: Path, network: Network, points, x: np.ndarray, notes: list[str] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Run the ONNX model in ``path`` with ONNX Runtime (CPU); the block outputs through extra
    graph outputs on a copy of its graph (beside it when its weights are a data file, which the
    copy then shares).  Returns the arrays per node id and the ONNX value names; appends to
    ``notes`` what the user should know of the run (see :func:`session_note`)."""
    onnx = require("onnx", "ONNX verification")
    ort = require("onnxruntime", "ONNX verification")
    path = Path(path)
    probe = onnx.load_model(str(path), load_external_data=False)
    values = block_output_values(probe, network)
    names = {network.output: probe.graph.output[0].name}
    existing = {o.name for o in probe.graph.output}
    for node_id, kind in points:
        if kind == "block" and node_id in values:
            names[node_id] = values[node_id]
            if values[node_id] not in existing:
                probe.graph.output.append(
                    onnx.helper.make_tensor_value_info(values[node_id], onnx.TensorProto.FLOAT, None)
                )
                existing.add(values[node_id])
    options = ort.SessionOptions()
    options.log_severity_level = 3
    data_files = _data_files(probe)
    weights = weight_bytes(probe) + sum((path.parent / name).stat().st_size for name in data_files)
    note = session_note(weights, available_memory())
    if note is not None:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        if notes is not None:
            notes.append(note)
    with contextlib.ExitStack() as cleanup:
        if data_files:
            # the data file's name is relative to the model's folder: the copy goes in the same one
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.probe.", suffix=".onnx", dir=path.parent)
            os.close(fd)
            cleanup.callback(Path(name).unlink, missing_ok=True)
            onnx.save_model(probe, name)
        else:
            # the weights go to a data file of the copy's own, out of this process's memory: ONNX
            # Runtime's is then the only copy held (the model, its bytes and the session's were three)
            name = str(Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="archspec-onnx-"))) / "probe.onnx")
            onnx.save_model(probe, name, save_as_external_data=True, location="probe.onnx.data", size_threshold=1024)
        session = ort.InferenceSession(name, options, providers=["CPUExecutionProvider"])
    wanted = [o.name for o in probe.graph.output]
    results = dict(zip(wanted, session.run(wanted, {session.get_inputs()[0].name: x})))
    del session
    arrays = {node_id: results[name] for node_id, name in names.items() if name in results}
    labels = {node_id: _node_label(probe, name) for node_id, name in names.items()}
    return arrays, labels


def _node_label(proto, value: str) -> str:
    for node in proto.graph.node:
        if value in node.output:
            return node.name
    return value


# ------------------------------------------------------------------------------------------------


def export(
    network: Network,
    fmt: str,
    out: Path,
    *,
    weights: Path | None = None,
    opset: int | None = None,
    dynamic_batch: bool = False,
    verify: bool = True,
    batch: int = 2,
    seed: int = 0,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
) -> ExportResult:
    """Export ``network``'s model to ``out`` in ``fmt`` and (unless ``verify`` is False) run it
    against the PyTorch model."""
    result = ExportResult(network.spec.display, fmt, str(out))
    start = time.perf_counter()
    if fmt in ("onnx",):  # fail before the slow part when the runtime is missing
        require("onnx", "ONNX export")
        require("onnxscript", "ONNX export")
        if verify:
            require("onnxruntime", "ONNX verification")
    model, result.problems = reference_model(network, weights, seed)
    result.timings["build"] = time.perf_counter() - start
    if result.problems:
        return result
    points = _points(network, blocks=fmt == "onnx")
    x = random_input(network, batch, seed)
    mark = time.perf_counter()
    if fmt == "onnx":
        # the PyTorch model's outputs first: it can then go before ONNX Runtime holds the
        # weights once more (each copy is 5 GB for the catalog's largest network)
        reference = torch_outputs(model, network, points, x) if verify else {}
        result.timings["reference"] = time.perf_counter() - mark
        mark = time.perf_counter()
        proto = onnx_model(
            model, network, opset=opset, dynamic_batch=dynamic_batch, batch=3 if dynamic_batch else batch
        )
        del model
        result.timings["export"] = time.perf_counter() - mark
        data = save_onnx(proto, out)
        del proto  # the file holds it now
        result.written = True
        if data is not None:
            result.files.append(str(data))
        if verify:
            mark = time.perf_counter()
            candidate, labels = run_onnx(out, network, points, x, result.notes)
            result.checks.append(_verdict(network, reference, points, candidate, labels, batch, seed, atol, rtol, mark))
            result.timings["verify"] = time.perf_counter() - mark
    elif fmt == "torch-export":
        import torch

        example = torch.from_numpy(random_input(network, 3 if dynamic_batch else batch, 0))
        shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic_batch else None
        with _quiet():
            program = torch.export.export(model, (example,), dynamic_shapes=shapes)
        result.timings["export"] = time.perf_counter() - mark
        atomic_write(out, lambda tmp: torch.export.save(program, str(tmp)), suffix=".pt2")
        result.written = True
        if verify:
            mark = time.perf_counter()
            loaded = torch.export.load(str(out)).module()
            with torch.no_grad():
                y = loaded(torch.from_numpy(x)).detach().cpu().numpy()
            candidate = {network.output: y}
            labels = {network.output: "output"}
            reference = torch_outputs(model, network, points, x)
            result.checks.append(_verdict(network, reference, points, candidate, labels, batch, seed, atol, rtol))
            result.timings["verify"] = time.perf_counter() - mark
    elif fmt in ("saved-model", "keras"):
        from archspec.crosscheck.weights import transfer_weights
        from archspec.deploy.convert import keras_model_for

        keras_model = keras_model_for(network)
        transfer_weights(model, keras_model, network)
        if fmt == "keras":
            if not str(out).endswith(".keras"):
                raise ValueError("a .keras file must end in .keras")
            atomic_write(out, lambda tmp: keras_model.save(str(tmp)), suffix=".keras")
        else:
            _atomic_dir(out, lambda tmp: _export_saved_model(keras_model, tmp))
        result.written = True
        result.timings["export"] = time.perf_counter() - mark
        if verify:
            mark = time.perf_counter()
            y = _run_keras_artifact(fmt, out, keras_model, x)
            candidate = {network.output: _nchw(y)}
            labels = {network.output: "serve" if fmt == "saved-model" else keras_model.layers[-1].name}
            reference = torch_outputs(model, network, points, x)
            result.checks.append(_verdict(network, reference, points, candidate, labels, batch, seed, atol, rtol))
            result.timings["verify"] = time.perf_counter() - mark
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    result.timings["total"] = time.perf_counter() - start
    return result


def _verdict(network, reference, points, candidate, labels, batch, seed, atol, rtol, start=None):
    """The check result of ``candidate`` against the PyTorch model's outputs ``reference``."""
    start = time.perf_counter() if start is None else start
    diffs = diff_outputs(network, points, reference, candidate, names=labels, atol=atol, rtol=rtol, float64=False)
    timings = {"run_and_compare": time.perf_counter() - start}
    return result_of(network, diffs, batch=batch, atol=atol, rtol=rtol, seed=seed, dtype="float32", timings=timings)


def _export_saved_model(keras_model, path: Path) -> None:
    with _quiet():
        keras_model.export(str(path), format="tf_saved_model", verbose=False)


def _run_keras_artifact(fmt: str, path: Path, keras_model, x: np.ndarray) -> np.ndarray:
    if fmt == "saved-model":
        tf = require("tensorflow", "running a SavedModel")
        loaded = tf.saved_model.load(str(path))
        return np.asarray(loaded.serve(tf.constant(_nhwc(x))))
    import keras

    custom = {type(layer).__name__: type(layer) for layer in keras_model.layers if "archspec" in type(layer).__module__}
    loaded = keras.saving.load_model(str(path), custom_objects=custom, compile=False)
    return np.asarray(loaded(_nhwc(x), training=False))


def _atomic_dir(path: Path, write) -> None:
    """Write a folder beside ``path`` then swap it in; an existing folder is replaced only once
    the new one is complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    old = None
    try:
        shutil.rmtree(tmp)
        write(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}.old.{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not path.exists():
            os.replace(old, path)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
