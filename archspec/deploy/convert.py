"""``archspec convert``: a checkpoint file of one framework to the other's, through the IR.

1. Read the checkpoint and check every key and shape against the spec's IR.  Any problem: stop,
   write nothing.
2. Load it into the generated model of its framework, copy every tensor to the other
   framework's generated model with :func:`archspec.crosscheck.weights.transfer_weights` (the
   IR's mapping, never names), write the other framework's file atomically.
3. Unless told not to, read both files back into fresh models (float64 by default, as
   ``archspec check``) and compare them on a random batch: every layer with weights, every
   block's output and the logits, in the ``check`` format.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archspec.deploy.checkpoint import (
    CheckpointError,
    Problem,
    check_counts,
    check_keras,
    check_torch,
    keras_expected,
    load_keras,
    read_keras,
    read_torch,
    write_keras,
    write_torch,
)
from archspec.ir.graph import Network


@dataclass
class Conversion:
    spec: str
    source: str  # framework
    checkpoint: str
    target: str
    output: str
    tensors: int = 0
    written: bool = False
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    check: Any = None  # CheckResult, or None with --no-verify
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.written and not self.problems and (self.check is None or self.check.passed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "from": self.source,
            "checkpoint": self.checkpoint,
            "to": self.target,
            "output": self.output,
            "written": self.written,
            "tensors": self.tensors,
            "passed": self.passed,
            "notes": self.notes,
            "problems": [p.to_dict() for p in self.problems],
            "check": self.check.to_dict() if self.check is not None else None,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def torch_model_for(network: Network, dtype: str = "float32"):
    from archspec.backends import torch_backend
    from archspec.deploy.deps import require

    require("torch", "the PyTorch model")
    model = torch_backend.instantiate(torch_backend.emit(network), network)
    if dtype == "float64":
        model = model.double()
    return model.eval()


def keras_model_for(network: Network, dtype: str = "float32"):
    from archspec.backends import keras_backend
    from archspec.crosscheck.compare import keras_dtype, quiet_tensorflow
    from archspec.deploy.deps import require

    quiet_tensorflow()
    require("keras", "the Keras model")
    require("tensorflow", "the Keras model")
    with keras_dtype(dtype):
        return keras_backend.instantiate(keras_backend.emit(network), network)


def load_torch_file(model, network: Network, path: Path) -> tuple[list[Problem], list[str]]:
    """Read, check and (only when it is clean) load a PyTorch checkpoint into ``model``."""
    import torch

    state, notes = read_torch(path)
    problems = check_torch(state, network)
    if not problems:
        current = model.state_dict()
        with torch.no_grad():
            for key, value in state.items():
                current[key].copy_(torch.from_numpy(value.copy()).to(current[key].dtype))
    return problems, notes


def load_keras_file(model, network: Network, path: Path) -> tuple[list[Problem], dict[str, int] | None]:
    """Read, check and (only when it is clean) load a Keras weights file into ``model``.  Also
    returns the PyTorch BatchNorm counts the file carries (None when it carries none)."""
    weights = read_keras(path)
    slots = keras_expected(network, model)
    problems = check_keras(weights, slots) + check_counts(weights.counts, network)
    if not problems:
        load_keras(model, weights, slots)
    return problems, weights.counts


def batch_counts(torch_model) -> dict[str, int]:
    """Every BatchNorm's ``num_batches_tracked`` of ``torch_model``, by state-dict key."""
    return {k: int(v) for k, v in torch_model.state_dict().items() if k.endswith(".num_batches_tracked")}


def set_batch_counts(torch_model, counts: dict[str, int] | None) -> list[str]:
    """Set the BatchNorm counts a Keras file carried; without any, every count is 0 (a fresh
    model's).  Returns the note to show when the file carried none."""
    import torch

    state = torch_model.state_dict()
    keys = [k for k in state if k.endswith(".num_batches_tracked")]
    with torch.no_grad():
        for key in keys:
            state[key].fill_((counts or {}).get(key, 0))
    if counts is None and keys:
        return [
            "the file records no num_batches_tracked (PyTorch's count of BatchNorm training batches, "
            "which Keras does not keep): every BatchNorm's is 0, as in a freshly built model; it matters "
            "only to training with momentum=None"
        ]
    return []


def convert(
    network: Network,
    source: str,
    checkpoint: Path,
    output: Path,
    *,
    verify: bool = True,
    batch: int = 2,
    seed: int = 0,
    atol: float | None = None,
    rtol: float | None = None,
    dtype: str = "float64",
) -> Conversion:
    """Convert ``checkpoint`` (of framework ``source``: ``torch`` or ``keras``) to the other
    framework's file ``output``.  Raises :class:`CheckpointError` for an unreadable file."""
    from archspec.crosscheck.compare import DEFAULT_ATOL, DEFAULT_RTOL
    from archspec.crosscheck.weights import transfer_weights

    target = "keras" if source == "torch" else "torch"
    result = Conversion(network.spec.display, source, str(checkpoint), target, str(output))
    start = time.perf_counter()
    torch_model = torch_model_for(network)
    keras_model = keras_model_for(network)
    result.timings["build_models"] = time.perf_counter() - start
    mark = time.perf_counter()
    counts = None
    if source == "torch":
        result.problems, result.notes = load_torch_file(torch_model, network, checkpoint)
    else:
        result.problems, counts = load_keras_file(keras_model, network, checkpoint)
    result.timings["read_and_validate"] = time.perf_counter() - mark
    if result.problems:
        return result
    mark = time.perf_counter()
    direction = "torch_to_keras" if source == "torch" else "keras_to_torch"
    result.tensors = transfer_weights(torch_model, keras_model, network, direction)
    if target == "keras":
        write_keras(keras_model, output, batch_counts(torch_model))
    else:
        result.notes += set_batch_counts(torch_model, counts)
        write_torch(torch_model.state_dict(), output)
    result.written = True
    result.timings["convert_and_write"] = time.perf_counter() - mark
    # the verification reads both files into fresh models: these two go first, or a model of a
    # billion parameters is in memory four times over (six in float64)
    del torch_model, keras_model
    gc.collect()
    if verify:
        mark = time.perf_counter()
        torch_file, keras_file = (checkpoint, output) if source == "torch" else (output, checkpoint)
        result.check = verify_files(
            network,
            torch_file,
            keras_file,
            batch=batch,
            seed=seed,
            atol=DEFAULT_ATOL if atol is None else atol,
            rtol=DEFAULT_RTOL if rtol is None else rtol,
            dtype=dtype,
        )
        result.timings["verify"] = time.perf_counter() - mark
    result.timings["total"] = time.perf_counter() - start
    return result


def verify_files(
    network: Network, torch_file: Path, keras_file: Path, *, batch: int, seed: int, atol: float, rtol: float, dtype: str
):
    """Both files read into fresh models of ``dtype`` and compared on a random batch (the
    comparison of ``archspec check``)."""
    from archspec.crosscheck.compare import compare_models, result_of

    start = time.perf_counter()
    torch_model = torch_model_for(network, dtype)
    keras_model = keras_model_for(network, dtype)
    problems, _ = load_torch_file(torch_model, network, torch_file)
    problems += load_keras_file(keras_model, network, keras_file)[0]
    if problems:  # a file that changed under us, or a writer bug: never report a pass
        raise CheckpointError("re-reading the files failed: " + "; ".join(p.message() for p in problems[:3]))
    loaded = time.perf_counter()
    diffs = compare_models(torch_model, keras_model, network, batch=batch, seed=seed, atol=atol, rtol=rtol)
    timings = {"load": loaded - start, "run_and_compare": time.perf_counter() - loaded}
    timings["total"] = time.perf_counter() - start
    return result_of(network, diffs, batch=batch, atol=atol, rtol=rtol, seed=seed, dtype=dtype, timings=timings)
