"""Run every benchmark and rewrite ``docs/benchmarks.md`` (``make bench``).

    python bench/run_all.py            # everything, about 20 minutes on 2 cores (the suite: 10)
    python bench/run_all.py --quick    # fewer repeats and sizes, about 4 minutes
    python bench/run_all.py --only static_analysis,forward
    python bench/run_all.py --results r.json; python bench/run_all.py --render r.json

Each benchmark runs in its own process and measures archspec and its peer in the same run,
interleaved; a missing peer skips its rows (``peer not installed: ...``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PYTHON, ROOT, fmt_s, machine, median

BENCHMARKS = ["static_analysis", "scaling", "catalog", "forward", "crosscheck", "suite", "gpu"]
OUTPUT = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "bench" / "results" / "run_all.json"

# Why a goal is missed and what to do next, by goal name prefix: kept beside the figures so
# that the document never shows a miss without its cause.
MISSES = {
    "a 10,000-block spec lints in under 2 s (explicit form": (
        "the explicit form is one YAML line per block (283 KB for 10,000 blocks). It is read through "
        "libyaml's events now (about 15x faster than ruamel.yaml's pure-Python round-trip loader, which "
        "only documents the fast path cannot be sure of still go through), so the rest is the IR: "
        "lowering 10,000 blocks one by one, as the table form's row shows.",
        "make the first lowering of a block cheaper (attribute validation, expression evaluation, "
        "Node creation), the same work the table form's figure measures.",
    ),
    "a 10,000-block spec lints in under 2 s (table form": (
        "on this shared machine the same run varies by tens of percent from minute to minute; "
        "the table shows where the time goes (the imports, then about 0.1 ms per block).",
        "rerun on an idle machine; then profile the block replay (Node creation and naming).",
    ),
    "lint time per block flat within 2x, 10 to 10,000 blocks (explicit form": (
        "a spec under 8 KB (the 10- and 100-block rows) is read by ruamel.yaml's pure-Python loader, "
        "which starts faster than importing PyYAML's C parser; from about 300 blocks libyaml reads "
        "it at a fraction of the cost per block, so the cost per block falls with size instead of "
        "growing.",
        "none for linearity: the larger sizes are the flat part.",
    ),
    "lint time per block flat": (
        "the time per block falls with depth instead of growing: identical blocks (the same type, "
        "scope values and input) are replayed from the first one lowered, so a block of a new kind "
        "(the first blocks of each stage) costs several times a repeated one, and a 10-block spec is "
        "mostly new kinds. Nothing grows super-linearly: from 100 to 10,000 blocks the cost per block "
        "stays within the range shown.",
        "none for linearity; making the first lowering of a block cheaper (attribute validation, "
        "shape inference) would flatten the small sizes.",
    ),
    "summary time per block flat": (
        "as for lint (block replay), plus the table of every layer that summary prints.",
        "as for lint.",
    ),
    "build torch time per block flat": (
        "as for lint (block replay), plus emission, whose cost per block is flat.",
        "as for lint.",
    ),
    "build keras time per block flat": (
        "as for lint (block replay), plus emission, whose cost per block is flat.",
        "as for lint.",
    ),
    "zero overhead: generated torch": (
        "the default generated form works in place as torchvision does (`nn.ReLU(inplace=True)`, "
        "`out += shortcut`) and runs the same kernels; a gap left is the machine's noise (compare the "
        "per-round ratios and the min column).",
        "rerun on a quiet machine with more repeats.",
    ),
    "batch cross-check vs one process per spec": (
        "the batch pays the framework imports once per worker and runs the specs in parallel workers; "
        "what is left per spec is building both models, measuring the BatchNorm statistics, the "
        "transfer and the probe run (the per-spec figure), and with two cores two workers at most.",
        "lower the per-spec cost (see its row); more cores.",
    ),
    "per-spec cross-check cost after start-up": (
        "the Keras model is now built without running its initializers (the transfer gives every "
        "variable its value); what is left is creating the Keras layers and their graph, the "
        "calibration forward pass and the probe run of both models in float64, whose convolutions "
        "have no oneDNN path (the step table below shows each at 224x224).",
        "draw the random weights in float32 and widen them; keep one Keras probe model per "
        "architecture between the specs of a batch.",
    ),
    "zero overhead: generated Keras": (
        "the generated model has keras.applications' 177 layers, classes and configurations "
        "(tests/test_keras_applications.py) and runs the same TensorFlow graph; the gap is within the "
        "run-to-run spread of the table (compare the min column).",
        "rerun on an idle machine with more repeats; if a gap stays, compare the two graphs op by op.",
    ),
    "inference form vs keras.applications": (
        "the Keras inference form (`archspec build --inference --backend keras`, `fuse_for_inference(model)`) "
        "folds every BatchNorm that follows a convolution, which is all the gain there is in generated "
        "Keras source: the layout is already TensorFlow's own (NHWC), which is most of the PyTorch "
        "inference form's gain, and TensorFlow's graph runs BatchNorm cheaply already.",
        "1.3x on CPU would need lower precision (int8, bfloat16) or ahead-of-time compilation, beyond "
        "generated source; XLA, the compilation at hand, is measured in its own row.",
    ),
    "XLA (jit_compile=True)": (
        "not shipped: on this CPU, XLA made the inference form and the generated model slower and "
        "keras.applications' own model a few percent faster (see the rows); TensorFlow's default graph "
        "already runs the convolutions through oneDNN.",
        "none on CPU; on a GPU, where XLA fuses the elementwise work after each convolution, measure it again.",
    ),
    "torch.compile of the inference form": (
        "compiling gains little over the inference form, which already folds BatchNorm and runs "
        "channels-last, the bulk of what compiling torchvision's own model gains (see its row). It "
        "is shipped all the same, as `fuse_for_inference(compiled=True)`, for the part it does gain.",
        "none on CPU; bench/gpu.py times torch.compile on a CUDA device.",
    ),
    "inference form vs torchvision": (
        "once BatchNorm is folded and the layout is channels-last, the convolutions themselves are "
        "the time; see the forward table.",
        "int8 (torch.ao) or torch.compile go further; both are outside plain generated source.",
    ),
    "editor start-up: archspec lint": (
        "a cold run is Python's start-up, the imports (pydantic and pydantic-core alone about 75 ms on a "
        "quiet machine, importlib.metadata for pydantic's plugin look-up, argparse with every command's "
        "options) and the lint itself; archspec's models now build their validators on first use "
        "(pydantic's defer_build). The report cache replays an unchanged spec's report without any of "
        "those imports, which is what pre-commit and an editor re-linting an unchanged buffer get; a "
        "buffer edited since the last lint is a cold run.",
        "a lint path that validates specs without pydantic, or a long-running lint server for editors "
        "(as ruff and mypy have), for the cold case.",
    ),
    "static analysis vs tracing": (
        "archspec's process is Python's start-up (16 ms), then imports (about 200 ms: pydantic and "
        "pydantic-core about 75, archspec's own pydantic models about 45, the rest of the standard "
        "library and ruamel.yaml), then about 50 ms of work (reading the two spec files, validation, "
        "the IR, lint, the table). The peer's process is torch's import, building ResNet-152 and one "
        "traced forward pass: on a fast, quiet machine that is only a few seconds, and the ratio is "
        "what the table shows, quiet and with every core busy alike.",
        "the remaining cost is the validation library's import: a lint and summary path that checks "
        "specs without pydantic (the API and the JSON Schema keeping it), or a long-running lint "
        "server for editors, as ruff and mypy have.",
    ),
}


def _run(name: str, quick: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="archspec-bench-") as tmp:
        out = Path(tmp) / f"{name}.json"
        args = [PYTHON, str(ROOT / "bench" / f"{name}.py"), "--json", str(out)] + (["--quick"] if quick else [])
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run(args, cwd=ROOT / "bench", timeout=3600, check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0 or not out.exists():
            return {"name": name, "failed": f"exit {proc.returncode}", "goals": [], "seconds": elapsed}
        data = json.loads(out.read_text())
        data["seconds"] = elapsed
        return data


def _met(g: dict) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[g["met"]]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---" if i == 0 else "---:" for i in range(len(header))]
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"] + [
        "| " + " | ".join(r) + " |" for r in rows
    ]


def render(results: dict[str, dict], info: dict, quick: bool, seconds: float) -> str:
    out = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (`python bench/run_all.py{' --quick' if quick else ''}`) on {info['date']} "
        f"in {seconds / 60:.1f} minutes; do not edit by hand. Every ratio compares archspec with a peer "
        "measured in the same run, repeats interleaved (A B A B ...); times are medians, and ratios the "
        "median of the per-round ratios (each round runs both back to back, so a slow minute of the "
        "machine cancels out). No test asserts a time.",
        "",
        "## Machine",
        "",
    ]
    out += _table(
        ["", ""],
        [
            ["CPU", f"{info['cpu']} ({info['nproc']} cores available)"],
            ["load average at start", ", ".join(str(x) for x in info["loadavg"])],
            ["platform", info["platform"]],
            ["Python", info["python"]],
            ["torch / torchvision / torchinfo", f"{info['torch']} / {info['torchvision']} / {info['torchinfo']}"],
            ["tensorflow / keras", f"{info['tensorflow']} / {info['keras']}"],
            ["pydantic / ruamel.yaml", f"{info['pydantic']} / {info['ruamel.yaml']}"],
        ],
    )
    out += ["", "## Goals", ""]
    goals = [g for r in results.values() for g in r.get("goals", [])]
    out += _table(["goal", "target", "measured", ""], [[g["goal"], g["target"], g["measured"], _met(g)] for g in goals])
    misses = [g for g in goals if g["met"] is False]
    if misses:
        out += ["", "Goals missed, why, and the next step:", ""]
        for g in misses:
            cause = next((v for k, v in MISSES.items() if g["goal"].startswith(k)), None)
            if cause:
                out.append(f"- **{g['goal']}**: {cause[0]} *Next:* {cause[1]}")
            else:
                out.append(f"- **{g['goal']}**: {g['note'] or 'see the section below'}")
    out += _static(results.get("static_analysis"))
    out += _scaling(results.get("scaling"))
    out += _catalog(results.get("catalog"))
    out += _forward(results.get("forward"))
    out += _crosscheck(results.get("crosscheck"))
    out += _suite(results.get("suite"))
    out += _gpu(results.get("gpu"))
    out += [
        "",
        "## Method and peers",
        "",
        "- `bench/static_analysis.py`, `scaling.py`, `catalog.py`, `forward.py`, `crosscheck.py`, `suite.py`, "
        "`gpu.py`: one "
        "script per topic, each runnable alone (`--quick`, `--json PATH`); `bench/run_all.py` runs them "
        "and writes this file.",
        "- archspec's bytecode is compiled first (`python -m compileall archspec`, as `pip install` does): "
        "this environment sets `PYTHONDONTWRITEBYTECODE`, and the peers' installed modules have theirs.",
        "- Process timings are whole processes (interpreter start-up included), started from the "
        "repository root. In-process timings start after the imports.",
        "- The machine is shared: absolute times move with its load; the ratios, measured in the same "
        "interleaved run, move much less.",
        "- Peers are not dependencies of archspec. They install into the same environment without "
        "replacing torch: `pip install '.[bench]'` (torchvision 0.28 and torchinfo, pinned to torch "
        "2.13.0), or `pip install --no-deps torchvision==0.28.* torchinfo pillow`. torchvision 0.28's "
        "wheel imports against the CPU build of torch 2.13 only with `torchvision._meta_registrations` "
        "stubbed in `sys.modules`, which the benchmarks do (never the package).",
        "",
    ]
    return "\n".join(out)


def _gpu(r: dict | None) -> list[str]:
    """bench/gpu.py's section (between its markers, which ``gpu.py --write`` replaces)."""
    from gpu import section

    if not r or r.get("failed"):
        r = {"skipped": True, "reason": "the GPU benchmark did not run" if not r else f"it failed ({r['failed']})"}
    return [""] + section(r).rstrip("\n").splitlines()


def _static(r: dict | None) -> list[str]:
    if not r or r.get("failed"):
        return ["", "## Static analysis vs tracing", "", "Not run." if not r else f"Failed: {r['failed']}."]
    rows = [
        [
            f"`{row['process']}`",
            fmt_s(row["median_s"]),
            fmt_s(row["min_s"]),
            f"{row['speedup_vs_peer']:.1f}x" if row["speedup_vs_peer"] else "peer",
        ]
        for row in r["rows"]
    ]
    figures = r["figures"]
    lines = [
        "",
        "## Static analysis vs tracing",
        "",
        f"`archspec summary {r['spec']}` against a process that imports torch and torchvision, builds "
        f"ResNet-152 and runs `torchinfo.summary` on a 224x224 input ({r['repeats']} interleaved runs each). "
        "The rows marked *every core busy* repeat a few rounds while a spinning process occupies each "
        "core (as a build or a test run beside an editor would); their ratio is against the peer in "
        "those rounds.",
        "",
    ]
    lines += _table(["whole process", "median", "min", "faster than the peer"], rows)
    ours, theirs = figures["archspec"], figures["torchinfo"]
    by_name = {row["process"]: row for row in r["rows"]}
    peer_row = next((row for row in r["rows"] if row["speedup_vs_peer"] is None), None)
    if peer_row and "archspec summary" in by_name:
        best = peer_row["min_s"] / by_name["archspec summary"]["min_s"]
        lines += [
            "",
            f"The fastest run of each (the machine at its quietest) gives {best:.1f}x: the peer's two-thread "
            "forward pass slows with the machine's load far more than archspec's single thread, so the "
            "ratio moves with the load. archspec's own time is Python's start-up (about 16 ms), the imports "
            "(about 200 ms, mostly pydantic and archspec's pydantic models) and about 50 ms of work.",
        ]
    lines += [
        "",
        f"Figures: archspec {ours[0]:,} parameters and {ours[1]:,} mult-adds"
        + (
            f"; torchinfo {theirs[0]:,} and {theirs[1]:,}" + (" (identical)." if ours == theirs else " (DIFFERENT).")
            if theirs
            else "."
        ),
        "",
        "What made it fast: lint and summary import neither jinja2, torch, TensorFlow nor networkx "
        "(the IR builds its networkx graph only when `Network.graph` is used); the block library is read "
        "from a snapshot (`archspec/library/blocks.snapshot.json`, written by `archspec docs`) instead of "
        "being parsed on every run; expressions are parsed once; identical blocks are replayed; and the "
        "garbage collector pauses while the IR is built.",
    ]
    return lines


def _scaling(r: dict | None) -> list[str]:
    if not r or r.get("failed"):
        return ["", "## Scaling", "", "Not run." if not r else f"Failed: {r['failed']}."]
    lines = [
        "",
        "## Scaling",
        "",
        "Synthetic bottleneck ResNets (`bench/synthetic.py`): the `table` form is four stage-table rows "
        "whatever the depth; the `explicit` form lists every block, one YAML line each (its `build` rows "
        "would repeat the table form's plus the load, so they are left out). Each row is a whole "
        f"`archspec` process ({r['repeats']} run(s), median): wall = the process; cold = the task after "
        "the imports, first run; warm = the same task run again in the process (fastest of 1 s of runs); "
        "per block = (warm(n) - warm(4 blocks)) / (n - 4), the cost of each block beyond a 4-block "
        "spec's fixed cost; peak = the process's maximum resident memory.",
        "",
    ]
    rows = [
        [
            row["form"],
            row["task"],
            f"{row['blocks']:,}",
            fmt_s(row["wall_s"]),
            fmt_s(row["work_s"]),
            fmt_s(row["warm_s"]),
            f"{row['per_block_ms']:.3f} ms",
            f"{row['peak_rss_mb']:.0f} MB",
        ]
        for row in r["rows"]
    ]
    lines += _table(["form", "task", "blocks", "wall", "cold", "warm", "per block", "peak"], rows)
    lines += [
        "",
        "What made it linear: `Network.block()` was a scan (quadratic in lint and the backends); each "
        "expression was parsed again at every use; the cyclic garbage collector walked every node of "
        "the growing IR again and again. Identical blocks (the same type, scope values and input) are "
        "now replayed from the first one, so a block of a new kind costs several times a repeated one.",
    ]
    return lines


def _catalog(r: dict | None) -> list[str]:
    if not r or r.get("failed"):
        return ["", "## Catalog throughput", "", "Not run." if not r else f"Failed: {r['failed']}."]
    rows = [
        [f"`{s['spec']}`", str(s["layers"]), fmt_s(s["lint_s"]), fmt_s(s["torch_s"]), fmt_s(s["keras_s"])]
        for s in r["specs"]
    ]
    lines = [
        "",
        "## Catalog throughput",
        "",
        f"Load and lint, then emit PyTorch and Keras source (each formatted by a `ruff format` subprocess) "
        f"for all {len(r['specs'])} shipped specs in one process (median of {r['repeats']} fresh process(es)): "
        f"**{fmt_s(r['total_s'])}** in all, {r['specs_per_s']:.1f} specs/s (imports {fmt_s(r['imports_s'])}, "
        f"lint {fmt_s(r['lint_s'])}, PyTorch {fmt_s(r['torch_s'])}, Keras {fmt_s(r['keras_s'])}).",
        "",
    ]
    return lines + _table(["spec", "layers", "load + lint", "PyTorch source", "Keras source"], rows)


def _forward(r: dict | None) -> list[str]:
    if not r or r.get("failed"):
        return ["", "## Forward time", "", "Not run." if not r else f"Failed: {r['failed']}."]
    lines = [
        "",
        "## Forward time",
        "",
        f"Batch {r['batch']} at 224x224, {r['threads']} threads in each framework, the same weights in every "
        f"model of a table, {r['repeats']} interleaved runs after 2 warm-up rounds. Max diff: the largest "
        "difference of the logits from the table's first model (keras.applications' ResNet50 ends with a "
        "softmax: its logits are computed from its pooled features).",
    ]
    torch_part = r["parts"].get("torch")
    if torch_part:
        lines += [
            "",
            "PyTorch (eval mode, `torch.inference_mode()`, every other round in reverse order). The "
            "default generated form works in place, as torchvision does (`nn.ReLU(inplace=True)`, "
            "`out += shortcut`); the `emit(network, inplace=False)` row keeps them out of place. The "
            "inference form is `archspec build --inference` after `fuse_for_inference()`.",
            "",
        ]
        lines += _table(
            ["model", "median", "min", "vs torchvision", "max diff"],
            [
                [
                    row["model"],
                    fmt_s(row["median_s"]),
                    fmt_s(row["min_s"]),
                    f"{row['vs_torchvision']:.3f}" if row["vs_torchvision"] else "-",
                    f"{row['max_abs_diff_vs_first']:.1e}",
                ]
                for row in torch_part["rows"]
            ],
        )
    else:
        lines += ["", "PyTorch: not run (torch missing)."]
    keras_part = r["parts"].get("keras")
    if keras_part:
        lines += ["", "Keras (TensorFlow backend, each model called through one `tf.function`):", ""]
        lines += _table(
            ["model", "median", "min", "vs keras.applications", "max diff"],
            [
                [
                    row["model"],
                    fmt_s(row["median_s"]),
                    fmt_s(row["min_s"]),
                    f"{row['vs_keras_applications']:.3f}",
                    f"{row['max_abs_diff_vs_first']:.1e}",
                ]
                for row in keras_part["rows"]
            ],
        )
    else:
        lines += ["", "Keras: not run (tensorflow missing)."]
    return lines


def _crosscheck(r: dict | None) -> list[str]:
    if not r or r.get("failed") or r.get("skipped"):
        return ["", "## Cross-check time", "", "Not run."]
    lines = ["", "## Cross-check time", ""]
    b = r.get("batch")
    if b:
        lines += [
            f"Batch: `archspec check` of {len(b['specs'])} catalog specs at 64x64 ({', '.join(b['specs'])}) in one "
            f"command ({b['jobs']} worker processes) against one process per spec, alternating which runs first: "
            f"**{b['speedup']:.2f}x** faster (per round: {', '.join(f'{x:.2f}x' for x in b['round_ratios'])}; "
            f"{fmt_s(median(b['batch_s']))} vs {fmt_s(median(b['separate_s']))}). Per-spec cost after start-up "
            f"(resnet50 at 64x64, float64, in a process that has checked another spec): "
            f"**{fmt_s(b['per_spec']['per_spec_s'])}**.",
            "",
        ]
    for dtype, d in r["dtypes"].items():
        total = sum(d["steps"].values())
        lines += [
            f"`archspec check specs/resnet50.yaml --input-size 224 --dtype {dtype}`: **{fmt_s(d['process_s'])}** "
            f"as a whole process ({d['tensors']} tensors compared; {d['report']}). Inside one process:",
            "",
        ]
        lines += _table(
            ["step", "time", "share"],
            [[name, fmt_s(s), f"{s / total * 100:.0f}%"] for name, s in d["steps"].items()],
        )
        lines.append("")
    return lines


def _suite(r: dict | None) -> list[str]:
    if not r or r.get("failed"):
        return ["", "## Test suite", "", "Not run." if not r else f"Failed: {r['failed']}."]
    full, quick = r["full"], r["quick"]
    lines = [
        "",
        "## Test suite",
        "",
        f"The README's command (`python -m pytest`, every core through pytest-xdist): **{fmt_s(full['seconds'])}** "
        f'({full["summary"]}). The quick loop, `python -m pytest -m "not slow"`: **{fmt_s(quick["seconds"])}** '
        f"({quick['summary']}). Each is a whole process, on the machine above, with whatever else ran on it.",
    ]
    failed = sorted(set(full.get("failed_tests", []) + quick.get("failed_tests", [])))
    if failed:
        lines += ["", "Failed in this run:", ""] + [f"- `{name}`" for name in failed]
    lines += [
        "",
        "Slowest tests of the full run (`--durations`):",
        "",
    ]
    lines += _table(["test", "time"], [[f"`{t['test']}`", fmt_s(t["seconds"])] for t in full["slowest"]])
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="comma-separated: " + ",".join(BENCHMARKS))
    parser.add_argument("--output", default=str(OUTPUT))
    parser.add_argument("--results", metavar="JSON", help="also keep the raw results here")
    parser.add_argument("--render", metavar="JSON", help="only rewrite the document from results kept with --results")
    args = parser.parse_args()
    if args.render:
        kept = json.loads(Path(args.render).read_text())
        text = render(kept["results"], kept["machine"], kept["quick"], kept["seconds"])
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
        return
    names = args.only.split(",") if args.only else BENCHMARKS
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    info = machine()
    start = time.perf_counter()
    results = {name: _run(name, args.quick) for name in names}
    seconds = time.perf_counter() - start
    kept = {"results": results, "machine": info, "quick": args.quick, "seconds": seconds}
    # always kept (bench/results/run_all.json): --render rewrites the page from it, with the
    # document's text as it is now
    for path in {Path(args.results), RESULTS} if args.results else {RESULTS}:
        path.write_text(json.dumps(kept, indent=1, default=str), encoding="utf-8")
    Path(args.output).write_text(render(results, info, args.quick, seconds), encoding="utf-8")
    print(f"wrote {args.output} ({seconds / 60:.1f} minutes)")


if __name__ == "__main__":
    sys.exit(main())
