"""``archspec check --targets torch,keras,onnx``: every selected pair on one input and one set
of weights.

- torch vs keras: the comparison of ``archspec check`` (every layer with weights, every block's
  output, the logits), in ``--dtype``.
- pairs with onnx: the PyTorch model (float32, ONNX's precision) exported to a temporary file
  (its weights in a second one past protobuf's 2 GiB) and run with ONNX Runtime; compared:
  every block's output and the logits, with the float32 tolerance (it grows with depth, see
  :mod:`archspec.crosscheck.compare`).
"""

from __future__ import annotations

import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from archspec.crosscheck.compare import DEFAULT_ATOL, DEFAULT_RTOL, keras_values, result_of
from archspec.deploy.deps import require
from archspec.deploy.export import _points, diff_outputs, onnx_model, run_onnx, save_onnx, torch_outputs


def check_targets(
    spec,
    targets: list[str],
    input_size=None,
    *,
    batch: int = 2,
    seed: int = 0,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    dtype: str = "float64",
):
    """[((a, b), CheckResult)] for every pair of ``targets`` in the order given."""
    from archspec.crosscheck.compare import build_pair, compare_models
    from archspec.crosscheck.weights import randomize_torch
    from archspec.deploy.convert import torch_model_for
    from archspec.pipeline import checked_network

    torch = require("torch", "archspec check")
    if "onnx" in targets:
        require("onnx", "checking the ONNX model")
        require("onnxscript", "checking the ONNX model")
        require("onnxruntime", "checking the ONNX model")
    start = time.perf_counter()
    network = checked_network(spec, input_size)
    torch.manual_seed(seed)
    if "keras" in targets:
        require("keras", "checking the Keras model")
        require("tensorflow", "checking the Keras model")
        torch_model, keras_model = build_pair(network, seed, dtype)
    else:
        torch_model, keras_model = torch_model_for(network, dtype), None
        randomize_torch(torch_model, network, seed)
    built = time.perf_counter() - start
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((batch, *network.input_shape))  # as compare_models draws it
    x = x.astype(np.float64 if dtype == "float64" else np.float32)
    points = _points(network, blocks=True)
    values: dict[str, tuple[dict, dict]] = {}
    timings: dict[str, dict[str, float]] = {}
    if "onnx" in targets:
        mark = time.perf_counter()
        proto = onnx_model(copy.deepcopy(torch_model).float(), network, batch=batch)
        exported = time.perf_counter() - mark
        with tempfile.TemporaryDirectory(prefix="archspec-onnx-") as folder:  # ONNX Runtime reads a file
            path = Path(folder) / "model.onnx"  # never a name from the spec in a path
            save_onnx(proto, path)
            del proto
            notes: list[str] = []
            arrays, labels = run_onnx(path, network, points, x.astype(np.float32), notes)
            for note in notes:
                sys.stderr.write(f"note: {network.spec.display}: {note}\n")
        values["onnx"] = (arrays, labels)
        timings["onnx"] = {"export": exported, "run": time.perf_counter() - mark - exported}
    results = []
    for i, a in enumerate(targets):
        for b in targets[i + 1 :]:
            mark = time.perf_counter()
            if {a, b} == {"torch", "keras"}:
                diffs = compare_models(torch_model, keras_model, network, batch=batch, seed=seed, atol=atol, rtol=rtol)
                pair_dtype = dtype
            else:
                for target in (a, b):
                    if target not in values:
                        if target == "torch":
                            values["torch"] = (torch_outputs(torch_model, network, points, x), {})
                        else:
                            values["keras"] = (keras_values(keras_model, network, points, x), {})
                (ref, _), (cand, labels) = values[a], values[b]
                diffs = diff_outputs(network, points, ref, cand, names=labels, atol=atol, rtol=rtol, float64=False)
                pair_dtype = "float32"
            pair_timings = {"build_and_transfer": built, **timings.get(b, {}), "compare": time.perf_counter() - mark}
            results.append(
                (
                    (a, b),
                    result_of(
                        network,
                        diffs,
                        batch=batch,
                        atol=atol,
                        rtol=rtol,
                        seed=seed,
                        dtype=pair_dtype,
                        timings=pair_timings,
                    ),
                )
            )
    return results
