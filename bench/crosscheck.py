"""Cross-check time for resnet50 at 224x224, and where it goes: the whole
``archspec check`` process, and inside one process each step of ``check_spec`` timed apart
(imports, load and lint, emitting and instantiating each model, randomizing the weights
and measuring the BatchNorm statistics, the transfer, the comparison run), in float64 (the
default) and float32.

Batch (``--only-batch`` runs this part alone): six catalog specs at 64x64 checked by one
``archspec check SPEC...`` (worker processes, ``--jobs`` the cores available) against one
``archspec check SPEC`` process per spec, in alternating order round by round, with the ratio
per round; and the per-spec cost after start-up (ResNet-50 at 64x64, float64) in a process that
has already checked another spec."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from _common import (
    PYTHON,
    ROOT,
    common_args,
    compile_package,
    emit_result,
    fmt_s,
    goal,
    has_module,
    median,
    run_process,
)

sys.path.insert(0, str(ROOT))

SPEC = ROOT / "specs" / "resnet50.yaml"


def _steps(dtype: str) -> dict:
    """One cross-check, step by step, in this process (as ``check_spec`` and ``build_pair`` do)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    steps: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        steps[name] = now - mark
        mark = now

    import keras
    import torch

    from archspec.backends import get_backend
    from archspec.crosscheck.compare import compare_models, quiet_tensorflow
    from archspec.crosscheck.weights import DeferredKerasVariables, randomize_torch, transfer_weights
    from archspec.pipeline import checked_network

    quiet_tensorflow()
    lap("import torch, tensorflow/keras, archspec")
    network = checked_network(SPEC, (224, 224))
    lap("load and lint")
    torch_backend, keras_backend = get_backend("torch"), get_backend("keras")
    torch_source = torch_backend.emit(network)
    lap("emit PyTorch source (with ruff format)")
    torch.manual_seed(0)
    model = torch_backend.instantiate(torch_source, network)
    if dtype == "float64":
        model = model.double()
    model.eval()
    lap("instantiate the PyTorch model")
    randomize_torch(model, network, 0)
    lap("randomize weights, measure BatchNorm statistics (a forward pass)")
    keras_source = keras_backend.emit(network)
    lap("emit Keras source (with ruff format)")
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    deferred = DeferredKerasVariables(keras)  # as build_pair: the transfer sets the values
    try:
        with deferred:
            keras_model = keras_backend.instantiate(keras_source, network)
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)
    lap("instantiate and build the Keras model (no initializers)")
    transfer_weights(model, keras_model, network)
    deferred.finish()
    lap("transfer the weights to Keras")
    diffs = compare_models(model, keras_model, network, batch=2, seed=0)
    lap("run both models (batch 2) with probes and compare")
    passed = all(d.passed for d in diffs)
    return {"steps": steps, "passed": passed, "tensors": len(diffs)}


BATCH_SPECS = ["resnet18", "resnet50", "resnet50_v1", "resnet50_v2", "resnet50d", "seresnet50"]


def _per_spec() -> dict:
    """ResNet-50 at 64x64 in float64, checked in a process that has checked another spec."""
    from archspec.crosscheck.batch import check_one

    # every option, as the command passes them; paths from the root (this runs in bench/)
    options = {"input_size": (64, 64), "batch": 2, "seed": 0, "atol": 1e-4, "rtol": 1e-4, "dtype": "float64"}
    check_one(str(ROOT / "specs" / "resnet18.yaml"), options)  # start-up: imports, first calls
    totals = []
    for _ in range(2):
        start = time.perf_counter()
        outcome = check_one(str(ROOT / "specs" / "resnet50.yaml"), options)
        totals.append(time.perf_counter() - start)
    return {"per_spec_s": median(totals), "runs": totals, "passed": outcome.status == 0}


def run_batch(quick: bool) -> dict:
    from archspec.crosscheck.batch import available_cores

    specs = [f"specs/{name}.yaml" for name in BATCH_SPECS]
    rounds = 1 if quick else 2
    separate_s, batch_s = [], []
    for round_ in range(rounds):

        def separate() -> float:
            return sum(
                run_process([PYTHON, "-m", "archspec", "check", spec, "--input-size", "64"])[0] for spec in specs
            )

        def batch() -> float:
            return run_process([PYTHON, "-m", "archspec", "check", *specs, "--input-size", "64"])[0]

        if round_ % 2:
            batch_s.append(batch())
            separate_s.append(separate())
        else:
            separate_s.append(separate())
            batch_s.append(batch())
        print(f"round {round_ + 1}: separate {fmt_s(separate_s[-1])}, batch {fmt_s(batch_s[-1])}", flush=True)
    ratios = [a / b for a, b in zip(separate_s, batch_s)]
    proc = subprocess.run(
        [PYTHON, __file__, "--per-spec"], cwd=ROOT / "bench", capture_output=True, text=True, timeout=1800, check=True
    )
    per_spec = json.loads(proc.stdout.strip().splitlines()[-1])
    speedup = median(ratios)
    print(f"batch of {len(specs)} specs at 64x64: {speedup:.2f}x faster than one process per spec")
    print(f"per-spec cost after start-up, resnet50 at 64x64 float64: {fmt_s(per_spec['per_spec_s'])}")
    return {
        "specs": BATCH_SPECS,
        "jobs": available_cores(),
        "separate_s": separate_s,
        "batch_s": batch_s,
        "round_ratios": ratios,
        "speedup": speedup,
        "per_spec": per_spec,
        "goals": [
            goal(
                "batch cross-check vs one process per spec (six catalog specs at 64x64)",
                ">= 5x faster",
                f"{speedup:.2f}x ({fmt_s(median(batch_s))} vs {fmt_s(median(separate_s))}, "
                f"{available_cores()} jobs, {rounds} rounds)",
                speedup >= 5,
            ),
            goal(
                "per-spec cross-check cost after start-up (resnet50 at 64x64, float64)",
                "under 1 s",
                fmt_s(per_spec["per_spec_s"]),
                per_spec["per_spec_s"] < 1,
            ),
        ],
    }


def run(quick: bool, batch_only: bool = False) -> dict:
    if not (has_module("torch") and has_module("keras")):
        print("peer not installed: torch and tensorflow-cpu are needed for the cross-check", flush=True)
        return {"name": "crosscheck", "skipped": True, "goals": []}
    compile_package()
    result = {"name": "crosscheck", "spec": "specs/resnet50.yaml", "input": [224, 224], "dtypes": {}, "goals": []}
    result["batch"] = run_batch(quick)
    result["goals"] += result["batch"]["goals"]
    if batch_only:
        return result
    repeats = 1 if quick else 2
    for dtype in ("float64", "float32"):
        walls = []
        for _ in range(repeats):
            wall, out = run_process(
                [PYTHON, "-m", "archspec", "check", "specs/resnet50.yaml", "--input-size", "224", "--dtype", dtype]
            )
            walls.append(wall)
        samples = []
        for _ in range(repeats):
            proc = subprocess.run(
                [PYTHON, __file__, "--steps", dtype],
                cwd=ROOT / "bench",
                capture_output=True,
                text=True,
                timeout=1800,
                check=True,
            )
            samples.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        steps = {name: median([s["steps"][name] for s in samples]) for name in samples[0]["steps"]}
        result["dtypes"][dtype] = {
            "process_s": median(walls),
            "report": out.strip().splitlines()[0],
            "steps": steps,
            "passed": all(s["passed"] for s in samples),
            "tensors": samples[0]["tensors"],
        }
        print(f"archspec check resnet50 at 224, {dtype}: {fmt_s(median(walls))} ({out.strip().splitlines()[0]})")
        for name, seconds in steps.items():
            print(f"    {name:<66} {fmt_s(seconds):>9}")
    return result


def main() -> None:
    parser = common_args(__doc__.splitlines()[0])
    parser.add_argument("--steps", choices=["float64", "float32"], help="time the steps in this process")
    parser.add_argument("--per-spec", action="store_true", help="time one spec after start-up in this process")
    parser.add_argument("--only-batch", action="store_true", help="only the batch part")
    args = parser.parse_args()
    if args.steps:
        print(json.dumps(_steps(args.steps)))
        return
    if args.per_spec:
        print(json.dumps(_per_spec()))
        return
    emit_result(run(args.quick, args.only_batch), args.json)


if __name__ == "__main__":
    sys.exit(main())
