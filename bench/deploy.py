"""Deployment over the whole catalog: peer checkpoints converted and exported, with timings.

For every shipped spec (each has a peer):

1. The peer model itself (torchvision, timm, or keras.applications, built offline without
   pretrained weights) gets random weights and BatchNorm statistics, set here without archspec,
   and its own ``state_dict()`` (or ``save_weights``) is saved to a file.
2. ``archspec convert`` (the API behind the command) converts it to the other framework, checks
   every key and shape first and verifies the two files as ``archspec check`` does (float64).
3. The converted file is converted back (``--no-verify``) and every tensor compared bit for bit
   with the peer's checkpoint (``num_batches_tracked`` included: it travels in the Keras file's
   metadata).
4. The peer model and the other framework's generated model, loaded from the converted file, run
   on one random batch in float32: the worst difference in the logits, against the float32
   tolerance of ``archspec check`` at the logits' depth.
5. ``archspec export --format onnx`` with the peer's weights at two input sizes, verified with
   ONNX Runtime (every block's output and the logits).

The weights do not depend on the input size (every shipped spec ends in a global pool), so the
sweep runs at a small size by default (``--size 64``, ONNX at 64 and 97, an odd size) to finish
on a shared machine; ``--size 224 --sizes 224 160`` measures the ImageNet size.

Prints a Markdown table and, with ``--json``, writes the figures; ``--doc docs/deploying.md``
writes the page.  Nothing here asserts a time.

    python bench/deploy.py [--specs resnet50 resnet152] [--size 64] [--sizes 64 97] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import textwrap
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, PeakRss, machine, peer  # noqa: E402

TORCHVISION = {
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "wide_resnet50_2",
    "wide_resnet101_2",
}
#: every shipped spec whose peer is the timm model of its own name (its ``peer:`` line)
TIMM = {
    path.stem
    for path in (ROOT / "specs").glob("*.yaml")
    if re.search(rf"^peer: \"timm\.create_model\('{re.escape(path.stem)}'\)\"$", path.read_text(encoding="utf-8"), re.M)
}
#: how the peer's checkpoint is randomized, recorded with every run (a run's rows are only
#: comparable with rows of the same randomization)
RANDOMIZATION = (
    "the last layer of each residual branch a quarter as large; BatchNorm statistics of each norm's own "
    "eval-mode input over 16 images at the largest size measured, perturbed"
)
#: images in the batch that sets the peer's BatchNorm statistics: four left timm's resnest269e
#: with activations in the thousands on any other batch (its float32 output 13% from float64)
CALIBRATION = 16
KERAS = {
    "resnet50_v1": "ResNet50",
    "resnet101_v1": "ResNet101",
    "resnet152_v1": "ResNet152",
    "resnet50_v2": "ResNet50V2",
    "resnet101_v2": "ResNet101V2",
    "resnet152_v2": "ResNet152V2",
}


def randomize_torch_peer(model, seed: int, size: int = 224) -> None:
    """Random weights and statistics for any torch model (no archspec involved): He-normal
    convolution and linear weights, small biases, BatchNorm scales near 1, the last layer of each
    residual branch a quarter as large (as trained, see residual_branch_ends()), then running
    statistics measured on a random batch (so that activations stay in range) and perturbed."""
    import torch

    rng = np.random.default_rng(seed)
    norms = []
    last = residual_branch_ends(model)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                norms.append(module)
                module.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, module.weight.shape)))
                module.bias.copy_(torch.from_numpy(rng.normal(0, 0.1, module.bias.shape)))
            elif isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
                shape = tuple(module.weight.shape)
                module.weight.copy_(torch.from_numpy(rng.normal(0, np.sqrt(2.0 / np.prod(shape[1:])), shape)))
                if module.bias is not None:
                    module.bias.copy_(torch.from_numpy(rng.uniform(-0.1, 0.1, module.bias.shape)))
        for parameter in last:  # as a trained network's: see residual_branch_ends()
            parameter.mul_(0.25)
        # Each BatchNorm's statistics are those of its own input in eval mode, met in one pass
        # in the order the model runs them, then perturbed: every later norm sees the
        # perturbed earlier ones, so the perturbations do not compound from block to block as
        # they do after a train-mode pass
        drawn = {
            m: (rng.normal(0, 0.1, m.running_mean.shape), rng.uniform(0.8, 1.25, m.running_var.shape)) for m in norms
        }

        def measure(m, inputs):
            x = inputs[0].double()
            mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
            shift, scale = (torch.from_numpy(v) for v in drawn[m])
            m.running_mean.copy_(mean + shift * var.sqrt())
            m.running_var.copy_(var * scale)

        hooks = [m.register_forward_pre_hook(measure) for m in norms]
        model.eval()
        try:
            model(torch.from_numpy(rng.standard_normal((CALIBRATION, 3, size, size)).astype(np.float32)))
        finally:
            for hook in hooks:
                hook.remove()
        for m in norms:
            m.num_batches_tracked.fill_(int(rng.integers(1, 10**6)))  # a count a training run left


def residual_branch_ends(model) -> list:
    """The parameters the peer itself zeroes at the end of each residual branch
    (timm's ``zero_init_last()``, torchvision's ``zero_init_residual``), found by asking it.

    Random weights at full size there make every block add a branch as large as its input, so
    activations of a deep SE or split-attention network grow into the thousands and float32
    itself drifts from float64 by more than any comparison allows (timm's resnest50d: 5,916 at
    the last block, its own float32 logits 0.87 from float64); trained networks keep these
    small, as ``archspec check``'s randomization does (a quarter).  Found by asking the peer, so
    that no archspec code decides what the peer's checkpoint holds."""
    import torch

    with torch.no_grad():
        saved = {name: p.detach().clone() for name, p in model.named_parameters()}
        for p in model.parameters():  # timm zeroes them at construction already
            p.fill_(1.0)
        for module in model.modules():
            if callable(getattr(module, "zero_init_last", None)):  # timm's blocks
                module.zero_init_last()
                conv3 = getattr(module, "conv3", None)
                if all(p.any() for p in module.parameters()) and isinstance(conv3, torch.nn.Conv2d):
                    # a pre-activation block timm leaves alone (RegNetV's): its last
                    # convolution, which timm's own ResNetV2 pre-activation blocks zero
                    torch.nn.init.zeros_(conv3.weight)
            elif type(module).__module__ == "torchvision.models.resnet" and type(module).__name__ in (
                "Bottleneck",
                "BasicBlock",
            ):
                norm = module.bn3 if type(module).__name__ == "Bottleneck" else module.bn2
                torch.nn.init.zeros_(norm.weight)
        zeroed = [p for p in model.parameters() if not p.any()]
        for name, p in model.named_parameters():
            p.copy_(saved[name])
    return zeroed


def randomize_keras_peer(model, seed: int) -> None:
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


def peer_checkpoint(name: str, folder: Path, seed: int, size: int, run_size: int | None = None):
    """(framework, checkpoint path, peer model, peer description) or None without a peer.  A
    torch peer's BatchNorm statistics are measured at ``size``; a keras.applications model is
    built for ``run_size`` (the size it will run at: it takes no other)."""
    if name in TORCHVISION:
        tv = peer("torchvision")
        if tv is None:
            return None
        model = getattr(tv.models, name)(weights=None)
        source = "torchvision"
    elif name in TIMM:
        timm = peer("timm")
        if timm is None:
            return None
        model = timm.create_model(name, pretrained=False)
        source = "timm"
    elif name in KERAS:
        import keras

        model = getattr(keras.applications, KERAS[name])(
            weights=None, input_shape=(run_size or size,) * 2 + (3,), classifier_activation=None
        )
        randomize_keras_peer(model, seed)
        path = folder / f"{name}.weights.h5"
        model.save_weights(str(path))
        return "keras", path, model, f"keras.applications.{KERAS[name]}"
    else:
        return None
    import torch

    randomize_torch_peer(model, seed, size)
    path = folder / f"{name}.pth"
    torch.save(model.state_dict(), path)
    return "torch", path, model, f"{source} {name}"


def run_peer(framework: str, model, x: np.ndarray) -> np.ndarray:
    if framework == "torch":
        import torch

        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()
    return np.asarray(model(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), training=False))


def make_checkpoint(name: str, folder: Path, seed: int, size: int, calibration_size: int) -> dict | None:
    """The peer's randomized checkpoint in ``folder``, and its logits on the batch the converted
    model will run (saved beside it, so that the peer need not stay in memory)."""
    made = peer_checkpoint(name, folder, seed, calibration_size, size)
    if made is None:
        return None
    framework, checkpoint, peer_model, description = made
    x = np.random.default_rng(seed + 7).standard_normal((2, 3, size, size)).astype(np.float32)
    np.save(folder / "peer_logits.npy", run_peer(framework, peer_model, x))
    return {"framework": framework, "checkpoint": str(checkpoint), "peer": description}


def convert_stage(spec: Path, size: int, framework: str, checkpoint: Path, out: Path, dtype: str) -> dict:
    import archspec
    from archspec.deploy.convert import convert

    network = archspec.load(spec, (size, size))
    start = time.perf_counter()
    result = convert(network, framework, checkpoint, out, verify=True, dtype=dtype)
    return {
        "convert_s": time.perf_counter() - start,
        "convert_timings": {k: round(v, 2) for k, v in result.timings.items()},
        "convert_passed": result.passed,
        "convert_written": result.written,
        "problems": [p.message() for p in result.problems[:5]],
        "check_dtype": dtype,
        "check_max_abs": result.check.max_abs_diff if result.check else None,
        "check_max_scaled": result.check.max_rel_diff if result.check else None,
    }


def back_stage(spec: Path, size: int, framework: str, checkpoint: Path, out: Path, back: Path) -> dict:
    """The converted file converted back (no verification) and compared bit for bit."""
    import archspec
    from archspec.deploy.checkpoint import read_keras, read_torch
    from archspec.deploy.convert import convert

    network = archspec.load(spec, (size, size))
    other = "keras" if framework == "torch" else "torch"
    start = time.perf_counter()
    again = convert(network, other, out, back, verify=False)
    row: dict = {"convert_back_s": time.perf_counter() - start}
    if framework == "torch":
        a, _ = read_torch(checkpoint)
        b, _ = read_torch(back)
        # every tensor, num_batches_tracked too (carried in the Keras file's metadata)
        row["round_trip_differs"] = [k for k in a if k not in b or not np.array_equal(a[k], b[k])][:5]
        row["round_trip_bit_exact"] = again.passed and not row["round_trip_differs"]
    else:
        a, b = read_keras(checkpoint).groups, read_keras(back).groups  # Keras has no counts
        row["round_trip_bit_exact"] = (
            again.passed and set(a) == set(b) and all(all(np.array_equal(u, v) for u, v in zip(a[k], b[k])) for k in a)
        )
    return row


def versus_stage(spec: Path, size: int, framework: str, out: Path, peer_logits: Path, seed: int) -> dict:
    """The peer's logits against the other framework's generated model, loaded from the
    converted file, in float32."""
    import torch

    import archspec
    from archspec.crosscheck.compare import depths, growth
    from archspec.deploy.convert import keras_model_for, load_keras_file, load_torch_file, torch_model_for

    network = archspec.load(spec, (size, size))
    x = np.random.default_rng(seed + 7).standard_normal((2, 3, size, size)).astype(np.float32)
    theirs = np.load(peer_logits)
    if framework == "torch":
        model = keras_model_for(network)
        assert not load_keras_file(model, network, out)[0]
        ours = np.asarray(model(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), training=False))
    else:
        model = torch_model_for(network)
        problems, _ = load_torch_file(model, network, out)
        assert not problems
        with torch.no_grad():
            ours = model(torch.from_numpy(x)).numpy()
    scale = float(np.abs(theirs).max())
    diff = float(np.abs(ours - theirs).max())
    allowed = 1e-4 * max(1.0, scale) * growth(depths(network)[network.output], False)
    return {
        "peer_vs_converted": {"max_abs": diff, "scaled": diff / max(1.0, scale), "allowed_abs": allowed},
        "peer_vs_converted_passed": bool(np.all(np.abs(ours - theirs) <= allowed + 1e-4 * np.abs(theirs))),
    }


def onnx_stage(spec: Path, onnx_size: int, torch_file: Path, onnx_file: Path) -> dict:
    import archspec
    from archspec.deploy.export import export

    sized = archspec.load(spec, (onnx_size, onnx_size))
    start = time.perf_counter()
    exported = export(sized, "onnx", onnx_file, weights=torch_file)
    elapsed = time.perf_counter() - start
    check = exported.checks[0] if exported.checks else None
    files = [onnx_file, *map(Path, exported.files)]
    return {
        "size": onnx_size,
        "passed": exported.passed,
        "max_abs": check.max_abs_diff if check else None,
        "max_scaled": check.max_rel_diff if check else None,
        "total_s": elapsed,
        "export_s": exported.timings.get("export"),
        "verify_s": exported.timings.get("verify"),
        "mb": sum(f.stat().st_size for f in files if f.exists()) / 1e6,
        "data_file": bool(exported.files),  # weights past protobuf's 2 GiB, beside the model
        "notes": exported.notes,  # ONNX Runtime ran the graph unoptimized, for one
    }


def _measured(stage: str, *args):
    """Run one stage in this process and return its result and peak resident memory (GB)."""
    from archspec.crosscheck.compare import quiet_tensorflow

    quiet_tensorflow()
    with PeakRss() as rss:
        result = globals()[stage](*args)
        return result, rss.mark(stage)


def run_stage(peaks: dict, isolate: bool, stage: str, *args):
    """One stage, in a fresh process when ``isolate`` (what a large model needs: TensorFlow keeps
    the memory of freed variables for itself, and each stage then starts from what the ones
    before it left), its peak memory recorded under its name."""
    if isolate:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            result, peak = pool.submit(_measured, stage, *args).result()
    else:
        result, peak = _measured(stage, *args)
    key = stage if stage != "onnx_stage" else f"onnx_{args[1]}"
    peaks[key.removesuffix("_stage")] = peak
    return result


def one_spec(spec: Path, size: int, sizes: list[int], seed: int = 0, *, dtype: str = "float64", isolate: bool = False):
    name = spec.stem
    row: dict = {"spec": name, "size": size}
    peaks: dict[str, float] = {}
    begin = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # statistics measured at the largest size the checkpoint runs at: timm's resnest269e,
        # measured at 64, reached logits of 1,024 at 97 (its own float32 7.9e-3 from float64);
        # measured at 97, 3.9 at 64 and 5.4 at 97
        made = run_stage(peaks, isolate, "make_checkpoint", name, folder, seed, size, max(size, *sizes))
        if made is None:
            row["peer"] = None
            return row
        framework, checkpoint, row["peer"] = made["framework"], Path(made["checkpoint"]), made["peer"]
        other = "keras" if framework == "torch" else "torch"
        out = folder / (f"{name}.weights.h5" if other == "keras" else f"{name}.pt")
        row["peak_rss_gb"] = peaks
        row.update(run_stage(peaks, isolate, "convert_stage", spec, size, framework, checkpoint, out, dtype))
        if not row.pop("convert_written"):
            return row
        back = folder / (f"{name}.back.pt" if framework == "torch" else f"{name}.back.weights.h5")
        row.update(run_stage(peaks, isolate, "back_stage", spec, size, framework, checkpoint, out, back))
        back.unlink()
        row.update(
            run_stage(peaks, isolate, "versus_stage", spec, size, framework, out, folder / "peer_logits.npy", seed)
        )
        torch_file = checkpoint if framework == "torch" else out
        if framework == "torch":
            out.unlink()  # as large as the checkpoint: the disk holds one at a time
        row["onnx"] = []
        for onnx_size in sizes:
            onnx_file = folder / f"{name}_{onnx_size}.onnx"
            row["onnx"].append(run_stage(peaks, isolate, "onnx_stage", spec, onnx_size, torch_file, onnx_file))
            for stale in folder.glob(f"{onnx_file.name}*"):
                stale.unlink()
    row["total_s"] = time.perf_counter() - begin
    return row


def _f(value, spec: str = ".1e") -> str:
    return format(value, spec) if isinstance(value, int | float) else "-"


def render(rows: list[dict]) -> str:
    lines = [
        "| spec | peer | convert + verify (s) | check (float64 unless marked): max abs / scaled | "
        "back (s), round trip | peer vs converted, float32: abs, scaled | "
        "ONNX per size: verdict, max scaled, export + verify (s) | total (s) | peak memory (GB) | run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("peer") is None:
            lines.append(f"| {r['spec']} | none | | | | | | | | |")
            continue
        if "error" in r:
            lines.append(f"| {r['spec']} | {r['peer']} | error: {r['error']} | | | | | | | {r.get('run', '')} |")
            continue
        pv = r.get("peer_vs_converted", {})
        onnx = "; ".join(
            f"{o['size']}: {'PASS' if o['passed'] else 'FAIL'} {_f(o['max_scaled'])} {_f(o['total_s'], '.0f')}"
            for o in r.get("onnx", [])
        )
        lines.append(
            f"| {r['spec']} | {r['peer']} | {_f(r.get('convert_s'), '.0f')} "
            f"({'PASS' if r.get('convert_passed') else 'FAIL'}) | "
            f"{_f(r.get('check_max_abs'))} / {_f(r.get('check_max_scaled'))}"
            f"{' (float32)' if r.get('check_dtype') == 'float32' else ''} | "
            f"{_f(r.get('convert_back_s'), '.0f')}, {'bit-exact' if r.get('round_trip_bit_exact') else 'DIFFERS'} | "
            f"{_f(pv.get('max_abs'))}, {_f(pv.get('scaled'))} "
            f"({'ok' if r.get('peer_vs_converted_passed') else 'FAIL'}) | {onnx} | {_f(r.get('total_s'), '.0f')} | "
            f"{_f(max(r['peak_rss_gb'].values()), '.1f') if r.get('peak_rss_gb') else '-'} | {r.get('run', '')} |"
        )
    return "\n".join(lines) + "\n"


def summary(rows: list[dict]) -> str:
    """The worst figures over the measured specs, and what failed."""
    done = [r for r in rows if r.get("peer") and "error" not in r]
    failed = [
        r["spec"]
        for r in rows
        if "error" in r
        or r.get("peer") is None
        or not (
            r.get("convert_passed")
            and r.get("round_trip_bit_exact")
            and r.get("peer_vs_converted_passed")
            and r.get("onnx")
            and all(o["passed"] for o in r["onnx"])
        )
    ]

    def worst(values):
        values = [(v, name) for v, name in values if isinstance(v, int | float)]
        return max(values) if values else (float("nan"), "-")

    check = worst((r.get("check_max_scaled"), r["spec"]) for r in done if r.get("check_dtype", "float64") == "float64")
    check32 = worst((r.get("check_max_scaled"), r["spec"]) for r in done if r.get("check_dtype") == "float32")
    versus = worst((r.get("peer_vs_converted", {}).get("scaled"), r["spec"]) for r in done)
    onnx = worst((o["max_scaled"], f"{r['spec']} at {o['size']}") for r in done for o in r.get("onnx", []))
    total = sum(r.get("total_s", 0.0) for r in done)
    measured = {r["spec"] for r in rows}
    missing = [p.stem for p in sorted((ROOT / "specs").glob("*.yaml")) if p.stem not in measured]
    return (
        f"{len(rows) - len(failed)} of {len(rows)} specs passed every "
        f"step{' (failed: ' + ', '.join(failed) + ')' if failed else ''}. Worst scaled differences: "
        f"convert's float64 check {_f(check[0])} ({check[1]})"
        + (f", its float32 check {_f(check32[0])} ({check32[1]})" if check32[1] != "-" else "")
        + f", peer against the converted model (float32) "
        f"{_f(versus[0])} ({versus[1]}), ONNX Runtime against PyTorch (float32) {_f(onnx[0])} ({onnx[1]}). "
        f"Sum of the per-spec wall times: {total:.0f} s."
        + (f" Not measured in this run: {', '.join(missing)}." if missing else "")
        + "\n"
    )


DOC_HEAD = """# Deploying: measured

`python bench/deploy.py --doc docs/deploying.md` (see its docstring) on every shipped spec: the
spec's peer model itself (torchvision, timm or keras.applications, built offline) with random
weights, random BatchNorm statistics and a random `num_batches_tracked` (conditioned as a trained
network is: the layer the peer itself zero-initializes at the end of each residual branch a
quarter as large, and statistics measured layer by layer, so that activations stay in range and
a float32 comparison measures the conversion, not an ill-conditioned network); its own `state_dict()` /
`save_weights` file converted with `archspec convert` (checked, written, verified in float64 as
`archspec check` does), converted back and compared bit for bit (every tensor, the BatchNorm
counts included); the peer against the converted model in float32 (the `check` float32
tolerance at the logits' depth); `archspec export --format onnx` with the peer's weights at two
input sizes, verified with ONNX Runtime (every block's output and the logits, float32).

Scaled difference: the largest absolute difference divided by max(1, the largest magnitude of
the reference tensor), as `archspec check` reports it.

Peak memory: the most resident memory of any step (the process's, sampled every 20 ms; rows
without it are from runs before it was recorded). The largest specs ran with `--isolate`, each
step in a fresh process as a user's command runs, and those marked float32 with
`--check-dtype float32`: convert's verification in float32 (`archspec convert --dtype float32`),
whose float64 models alone would take 20 GB for `regnety_2560`. An ONNX model past 2 GiB keeps
its weights in a `.data` file beside it. ONNX Runtime ran `resnetv2_152x4_bit` and
`regnety_2560` as written, without its graph optimizations: optimizing them can take six times
their 3.8 and 5.1 GB of weights, more than the machine's 24 GB (`archspec export` says so in a
note; their verification times are those of loading without optimizing).
"""


EARLIER = "## Earlier runs"


def write_doc(path: Path, rows: list[dict], args, env: dict, processes: int = 1, described: dict | None = None) -> None:
    side = f" ({processes} runs, one after the other or side by side)" if processes > 1 else ""
    low, high = env.get("load_range") or (env["loadavg"][0], env["loadavg_end"][0])
    dates = sorted({r["run"] for r in rows if r.get("run")}) or [env["date"]]
    period = f"Run of {dates[0]}" if len(dates) == 1 else f"Runs from {dates[0]} to {dates[-1]}"
    when = (
        f"{period}{side} on the shared {env['nproc']}-core development machine ({env['cpu']}), "
        f"load average {low:.0f} to {high:.0f} at the starts and ends of the runs (other sessions' jobs): "
        f"the times are wall times under that load. Conversion and peer comparison at "
        f"{args.size}x{args.size}, ONNX at {' and '.join(f'{s}x{s}' for s in args.sizes)}; torch "
        f"{env['torch']}, TensorFlow {env['tensorflow']}, Keras {env['keras']}."
    )
    runs = ""
    if described:  # rows of several runs: each run's randomization of the peer's checkpoint
        used = {r.get("run") for r in rows}
        runs = "Runs, and how each randomized the peer's checkpoint:\n\n" + "".join(
            textwrap.fill(f"- {date}: {how or 'not recorded'}.", 96, subsequent_indent="  ") + "\n"
            for date, how in sorted(described.items())
            if date in used
        )
        runs += "\n"
    text = f"{DOC_HEAD}\n{textwrap.fill(when, 96)}\n\n{runs}{render(rows)}\n{textwrap.fill(summary(rows), 96)}\n"
    path = Path(path)
    previous = path.read_text(encoding="utf-8") if path.is_file() else ""
    if EARLIER in previous:  # runs at other sizes, kept by hand below this heading
        text += "\n" + previous[previous.index(EARLIER) :]
    path.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="*", help="spec names (default: every shipped spec)")
    parser.add_argument("--size", type=int, default=64, help="input size of the conversion and peer comparison")
    parser.add_argument("--sizes", nargs="*", type=int, default=[64, 97], help="ONNX input sizes")
    parser.add_argument(
        "--check-dtype",
        choices=("float64", "float32"),
        default="float64",
        help="precision of convert's verification (float32 for the largest specs: half the memory)",
    )
    parser.add_argument(
        "--isolate",
        action="store_true",
        help="each stage in a fresh process (the largest specs: a stage then starts with nothing held)",
    )
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--doc", metavar="PATH", help="write the Markdown page (docs/deploying.md)")
    parser.add_argument(
        "--from-json",
        nargs="+",
        metavar="PATH",
        help="measure nothing: render the rows of earlier --json runs (e.g. two halves run side by side)",
    )
    args = parser.parse_args()
    if args.from_json:
        runs = [json.loads(Path(path).read_text(encoding="utf-8")) for path in args.from_json]
        by_spec: dict[str, dict] = {}
        for run in runs:
            for row in run["rows"]:
                row["run"] = run["machine"]["date"]
        for row in (row for run in runs for row in run["rows"]):  # a spec measured twice: the first clean row
            if row["spec"] not in by_spec or "error" in by_spec[row["spec"]]:
                by_spec[row["spec"]] = row
        rows = [by_spec[name] for name in sorted(by_spec)]
        env = dict(runs[0]["machine"])
        # a run without its end load (an older script) is rendered right after it ended: now
        ends = [run["machine"].get("loadavg_end") or list(os.getloadavg()) for run in runs]
        loads = [run["machine"]["loadavg"][0] for run in runs] + [end[0] for end in ends]
        env["load_range"] = (min(loads), max(loads))
        args.size, args.sizes = rows[0].get("size", args.size), [o["size"] for o in rows[0].get("onnx", [])]
        sys.stdout.write(render(rows) + "\n" + summary(rows))
        if args.doc:
            described = {run["machine"]["date"]: run["machine"].get("randomization") for run in runs}
            write_doc(Path(args.doc), rows, args, env, len(runs), described)
        return 0
    from archspec.crosscheck.compare import quiet_tensorflow

    quiet_tensorflow()
    env = machine()
    env["randomization"] = RANDOMIZATION
    specs = sorted((ROOT / "specs").glob("*.yaml"))
    if args.specs:
        by_name = {s.stem: s for s in specs}
        unknown = [name for name in args.specs if name not in by_name]
        if unknown:
            parser.error(f"no shipped spec named {', '.join(unknown)}")
        specs = [by_name[name] for name in args.specs]
    rows = []
    for spec in specs:
        print(f"{spec.stem} ...", file=sys.stderr, flush=True)
        try:
            row = one_spec(spec, args.size, args.sizes, dtype=args.check_dtype, isolate=args.isolate)
        except Exception as exc:  # report and go on: one spec's failure is a figure too
            traceback.print_exc()
            row = {"spec": spec.stem, "peer": "?", "error": f"{type(exc).__name__}: {exc}"}
        rows.append(row)
        print(json.dumps(row, default=str), file=sys.stderr, flush=True)
        if args.json:
            env["loadavg_end"] = list(os.getloadavg())
            Path(args.json).write_text(json.dumps({"machine": env, "rows": rows}, indent=2, default=str), "utf-8")
    sys.stdout.write(render(rows) + "\n" + summary(rows))
    if args.doc:
        env["loadavg_end"] = list(os.getloadavg())
        write_doc(Path(args.doc), rows, args, env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
