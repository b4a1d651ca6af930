"""Forward time of the generated models against the frameworks' own ResNet-50s: the same batch,
the same threads, the same weights, interleaved runs, medians.

- PyTorch: archspec's ``generated`` resnet50 (the default form: activations and residual adds
  in place, as torchvision), the same out of place (``emit(network, inplace=False)``), and its
  inference form
  (``archspec build --inference``, then ``fuse_for_inference()``: BatchNorm folded,
  channels-last) against torchvision's resnet50, all in eval mode under
  ``torch.inference_mode()``.  For reference, torchvision's model with what a torchvision
  user would do by hand: channels-last, and ``torch.fx``'s conv-BatchNorm fusion plus
  channels-last.
- Keras: archspec's resnet50_v1 against ``keras.applications.ResNet50``, each called through
  one ``tf.function`` (``model(x, training=False)``), and the Keras inference form
  (``archspec build --inference --backend keras``: ``fuse_for_inference(model)`` folds
  BatchNorm); all three also compiled by XLA (``jit_compile=True``).
- ``torch.compile`` (inductor, CPU) of the inference form (``fuse_for_inference(compiled=True)``)
  and of torchvision's model, compiled before the timed rounds (``--compile``, which ``run()``
  passes).

Each framework runs in its own process (``--part torch`` / ``--part keras``), so that their
thread pools do not compete.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    PYTHON,
    ROOT,
    common_args,
    emit_result,
    fmt_s,
    goal,
    has_module,
    interleave,
    median,
    paired_ratio,
    round_ratios,
)

sys.path.insert(0, str(ROOT))


COMPILED = "archspec resnet50 (inference form), fuse_for_inference(compiled=True)"


def _torch_part(batch: int, threads: int, repeats: int, compiled: bool = False) -> dict:
    import torch

    torch.set_num_threads(threads)
    from _common import peer

    from archspec.backends import torch_backend
    from archspec.pipeline import checked_network

    network = checked_network(ROOT / "specs" / "resnet50.yaml")
    plain = torch_backend.instantiate(torch_backend.emit(network), network).eval()
    out_of_place = torch_backend.instantiate(torch_backend.emit(network, inplace=False), network).eval()
    inference = torch_backend.instantiate(torch_backend.emit(network, inference=True), network)
    torchvision = peer("torchvision")
    rows, goals = [], []
    models: dict[str, torch.nn.Module] = {}
    if torchvision is not None:
        reference = torchvision.models.resnet50().eval()
        state = reference.state_dict()
        models["torchvision resnet50"] = reference
    else:
        state = plain.state_dict()
    for model in (plain, out_of_place, inference):
        model.load_state_dict(state, strict=True)
    models["archspec resnet50 (generated)"] = plain
    models["archspec resnet50, out of place (emit(inplace=False))"] = out_of_place
    models["archspec resnet50 (inference form)"] = inference.fuse_for_inference()
    if torchvision is not None:
        channels_last = torchvision.models.resnet50().eval()
        channels_last.load_state_dict(state)
        models["torchvision resnet50, channels-last"] = channels_last.to(memory_format=torch.channels_last)
        try:
            from torch.fx.experimental.optimization import fuse

            fused = torchvision.models.resnet50().eval()
            fused.load_state_dict(state)
            models["torchvision resnet50, fx conv-bn fusion + channels-last"] = fuse(fused).to(
                memory_format=torch.channels_last
            )
        except Exception as exc:  # torch.fx cannot trace it: leave the row out
            print(f"skipped torch.fx fusion: {type(exc).__name__}: {exc}", flush=True)
    if compiled:  # torch.compile (inductor, CPU) of the inference form, and of the peer
        start = time.perf_counter()
        try:
            x_compile = torch.randn(batch, 3, 224, 224)
            again = torch_backend.instantiate(torch_backend.emit(network, inference=True), network)
            again.load_state_dict(state, strict=True)
            candidates = {
                COMPILED: again.fuse_for_inference(compiled=True),  # the shipped option
                **(
                    {"torchvision resnet50, torch.compile": torch.compile(models["torchvision resnet50"])}
                    if torchvision
                    else {}
                ),
            }
            with torch.inference_mode():
                for name, model in candidates.items():
                    model(x_compile)  # compile now, outside the timed rounds
                    models[name] = model
        except Exception as exc:  # no toolchain: leave the rows out
            print(f"skipped torch.compile: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", flush=True)
        print(f"torch.compile took {fmt_s(time.perf_counter() - start)}", flush=True)
    x = torch.randn(batch, 3, 224, 224)
    with torch.inference_mode():
        outputs = {name: model(x) for name, model in models.items()}
        first = next(iter(outputs.values()))
        agreement = {name: float((out - first).abs().max()) for name, out in outputs.items()}
        times = interleave(
            {name: (lambda m=model: m(x)) for name, model in models.items()}, repeats, warmup=2, alternate=True
        )
    base_name = "torchvision resnet50" if torchvision is not None else None
    base = median(times[base_name]) if base_name else float("nan")
    for name, values in times.items():
        rows.append(
            {
                "model": name,
                "median_s": median(values),
                "min_s": min(values),
                "runs": len(values),
                "vs_torchvision": paired_ratio(values, times[base_name]) if base_name else None,
                "round_ratios": [round(r, 4) for r in round_ratios(values, times[base_name])] if base_name else None,
                "max_abs_diff_vs_first": agreement[name],
            }
        )
    if base_name:
        ratio = paired_ratio(times["archspec resnet50 (generated)"], times[base_name])
        goals.append(
            goal(
                "zero overhead: generated torch resnet50 vs torchvision resnet50",
                "at most 3% slower",
                f"{(ratio - 1) * 100:+.1f}% ({fmt_s(median(times['archspec resnet50 (generated)']))} vs {fmt_s(base)})",
                ratio <= 1.03,
            )
        )
        speedup = 1 / paired_ratio(times["archspec resnet50 (inference form)"], times[base_name])
        goals.append(
            goal(
                "inference form vs torchvision resnet50 (torch)",
                ">= 1.3x faster",
                f"{speedup:.2f}x ({fmt_s(median(times['archspec resnet50 (inference form)']))} vs {fmt_s(base)})",
                speedup >= 1.3,
            )
        )
        compiled_name = COMPILED
        if compiled_name in times:
            gain = 1 / paired_ratio(times[compiled_name], times["archspec resnet50 (inference form)"])
            peer_gain = (
                1 / paired_ratio(times["torchvision resnet50, torch.compile"], times[base_name])
                if "torchvision resnet50, torch.compile" in times
                else float("nan")
            )
            goals.append(
                goal(
                    "torch.compile of the inference form (fuse_for_inference(compiled=True)) vs the inference form",
                    ">= 1.05x faster than the inference form",
                    f"{gain:.2f}x ({fmt_s(median(times[compiled_name]))} vs "
                    f"{fmt_s(median(times['archspec resnet50 (inference form)']))}); torchvision's own model "
                    f"compiled: {peer_gain:.2f}x faster than uncompiled",
                    gain >= 1.05,
                )
            )
    else:
        goals.append(goal("zero overhead (torch)", "at most 3% slower", "peer not installed: torchvision", None))
        goals.append(goal("inference form vs torchvision (torch)", ">= 1.3x faster", "peer not installed", None))
    return {"rows": rows, "goals": goals}


INFERENCE = "archspec resnet50_v1 (inference form, fuse_for_inference())"


def _keras_part(batch: int, threads: int, repeats: int) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    import numpy as np

    from archspec.backends import keras_backend
    from archspec.pipeline import checked_network

    network = checked_network(ROOT / "specs" / "resnet50_v1.yaml")
    source = keras_backend.emit(network, inference=True)  # the plain form's functions, plus the folding
    module = keras_backend.load_module(source, network)
    ours = keras_backend.instantiate(source, network, module)
    reference = keras.applications.ResNet50(weights=None)
    rng = np.random.default_rng(0)
    for layer in reference.layers:  # statistics that matter (the defaults make BatchNorm the identity)
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma, beta, rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 2.0, var.shape)])
    for layer in ours.layers:
        if layer.weights:
            layer.set_weights(reference.get_layer(layer.name).get_weights())
    models = {
        "keras.applications ResNet50": reference,
        "archspec resnet50_v1 (generated)": ours,
        INFERENCE: module.fuse_for_inference(ours),
    }
    x = rng.standard_normal((batch, 224, 224, 3)).astype("float32")
    calls = {name: tf.function(lambda t, m=model: m(t, training=False)) for name, model in models.items()}
    # the same three compiled by XLA (tf.function(jit_compile=True)); a TensorFlow without XLA
    # on this CPU leaves the rows out
    for name in list(models):
        xla = tf.function(lambda t, m=models[name]: m(t, training=False), jit_compile=True)
        try:
            xla(x)
        except Exception as exc:
            print(f"skipped XLA for {name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", flush=True)
            continue
        calls[f"{name}, XLA"] = xla
    outputs = {name: np.asarray(fn(x)) for name, fn in calls.items()}
    # keras.applications ends with a softmax, archspec's spec at the logits (a softmax inside the
    # model is AS302): compare logits, the peer's computed from its pooled features
    features = keras.Model(reference.inputs, reference.get_layer("avg_pool").output)(x, training=False)
    kernel, bias = reference.get_layer("predictions").get_weights()
    outputs["keras.applications ResNet50"] = np.asarray(features) @ kernel + bias
    if "keras.applications ResNet50, XLA" in outputs:
        outputs["keras.applications ResNet50, XLA"] = outputs["keras.applications ResNet50"]
    first = outputs["keras.applications ResNet50"]
    times = interleave({name: (lambda f=fn: np.asarray(f(x))) for name, fn in calls.items()}, repeats, warmup=2)
    base = median(times["keras.applications ResNet50"])
    rows = [
        {
            "model": name,
            "median_s": median(values),
            "min_s": min(values),
            "runs": len(values),
            "vs_keras_applications": paired_ratio(values, times["keras.applications ResNet50"]),
            "max_abs_diff_vs_first": float(np.abs(outputs[name] - first).max()),
        }
        for name, values in times.items()
    ]
    peer_times = times["keras.applications ResNet50"]
    ratio = paired_ratio(times["archspec resnet50_v1 (generated)"], peer_times)
    folded = 1 / paired_ratio(times[INFERENCE], peer_times)
    xla_goals = []
    if f"{INFERENCE}, XLA" in times:
        with_xla = 1 / paired_ratio(times[f"{INFERENCE}, XLA"], times[INFERENCE])
        peer_xla = 1 / paired_ratio(times["keras.applications ResNet50, XLA"], peer_times)
        xla_goals.append(
            goal(
                "XLA (jit_compile=True) for the Keras inference form: shipped if it pays",
                ">= 1.05x faster than without",
                f"{with_xla:.2f}x ({fmt_s(median(times[f'{INFERENCE}, XLA']))} vs "
                f"{fmt_s(median(times[INFERENCE]))}); keras.applications' ResNet50 with XLA: {peer_xla:.2f}x",
                with_xla >= 1.05,
            )
        )
    goals = [
        goal(
            "zero overhead: generated Keras resnet50_v1 vs keras.applications.ResNet50",
            "at most 3% slower",
            f"{(ratio - 1) * 100:+.1f}% ({fmt_s(median(times['archspec resnet50_v1 (generated)']))} vs {fmt_s(base)})",
            ratio <= 1.03,
        ),
        goal(
            "inference form vs keras.applications.ResNet50 (Keras)",
            ">= 1.3x faster",
            f"{folded:.2f}x ({fmt_s(median(times[INFERENCE]))} vs {fmt_s(base)})",
            folded >= 1.3,
        ),
        *xla_goals,
    ]
    return {"rows": rows, "goals": goals}


def _in_process(part: str, batch: int, threads: int, repeats: int, compiled: bool = False) -> dict:
    if part == "torch":
        return _torch_part(batch, threads, repeats, compiled)
    return _keras_part(batch, threads, repeats)


def run(quick: bool, batch: int = 8, threads: int = 2) -> dict:
    repeats = 4 if quick else 12
    result = {"name": "forward", "batch": batch, "threads": threads, "repeats": repeats, "parts": {}, "goals": []}
    needs = {"torch": "torch", "keras": "tensorflow"}
    for part in ("torch", "keras"):
        if not has_module(needs[part]):
            print(f"peer not installed: {needs[part]}; skipping the {part} rows", flush=True)
            continue
        out = Path(tempfile.mkdtemp(prefix="archspec-forward-")) / f"{part}.json"
        start = time.perf_counter()
        proc = subprocess.run(
            [
                PYTHON,
                __file__,
                "--part",
                part,
                "--batch",
                str(batch),
                "--threads",
                str(threads),
                "--repeats",
                str(repeats),
                "--json",
                str(out),
                *(["--compile"] if part == "torch" else []),
            ],
            cwd=ROOT / "bench",
            text=True,
            timeout=1800,
            check=False,
            env={**os.environ, "OMP_NUM_THREADS": str(threads), "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        if proc.returncode != 0 or not out.exists():
            print(f"the {part} part failed (exit {proc.returncode})", flush=True)
            continue
        data = json.loads(out.read_text())
        out.unlink()
        out.parent.rmdir()
        data["seconds"] = time.perf_counter() - start
        result["parts"][part] = data
        result["goals"] += data["goals"]
    return result


def main() -> None:
    parser = common_args(__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["torch", "keras"], help="run one framework in this process")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="torch part: add torch.compile rows")
    args = parser.parse_args()
    if args.part:
        result = _in_process(
            args.part, args.batch, args.threads, args.repeats or (4 if args.quick else 12), args.compile
        )
        for row in result["rows"]:
            print(f"{row['model']:<64} {fmt_s(row['median_s']):>9} (min {fmt_s(row['min_s'])})", flush=True)
        emit_result(result, args.json)
        return
    result = run(args.quick, args.batch, args.threads)
    for g in result["goals"]:
        print(f"goal: {g['goal']}: {g['measured']} -> {'met' if g['met'] else 'MISSED' if g['met'] is False else '-'}")
    emit_result(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
