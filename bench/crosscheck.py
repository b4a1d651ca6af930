"""Cross-check time for resnet50 at 224x224, and where it goes: the whole
``archspec check`` process, and inside one process each step of ``check_spec`` timed apart
(imports, load and lint, emitting and instantiating each model, randomizing the weights
and measuring the BatchNorm statistics, the transfer, the comparison run), in float64 (the
default) and float32."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from _common import PYTHON, ROOT, common_args, compile_package, emit_result, fmt_s, has_module, median, run_process

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
    from archspec.crosscheck.weights import randomize_torch, transfer_weights
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
    try:
        keras_model = keras_backend.instantiate(keras_source, network)
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)
    lap("instantiate and build the Keras model")
    transfer_weights(model, keras_model, network)
    lap("transfer the weights to Keras")
    diffs = compare_models(model, keras_model, network, batch=2, seed=0)
    lap("run both models (batch 2) with probes and compare")
    passed = all(d.passed for d in diffs)
    return {"steps": steps, "passed": passed, "tensors": len(diffs)}


def run(quick: bool) -> dict:
    if not (has_module("torch") and has_module("keras")):
        print("peer not installed: torch and tensorflow-cpu are needed for the cross-check", flush=True)
        return {"name": "crosscheck", "skipped": True, "goals": []}
    compile_package()
    result = {"name": "crosscheck", "spec": "specs/resnet50.yaml", "input": [224, 224], "dtypes": {}, "goals": []}
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
    args = parser.parse_args()
    if args.steps:
        print(json.dumps(_steps(args.steps)))
        return
    emit_result(run(args.quick), args.json)


if __name__ == "__main__":
    sys.exit(main())
