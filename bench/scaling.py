"""Scaling: synthetic specs of 10 to 10,000 blocks (see ``synthetic.py``), each task a whole
``archspec`` process: ``lint``, ``summary``, and ``build`` for each backend (load, lint,
emission, ruff format, the file written).  Reported per size: the process's wall time and peak
resident memory; the task's time inside the process after the imports (cold: the first run);
the task's warm time (run again in the same process for 1 s, the fastest run);
and the time per block, ``(warm(n) - warm(4)) / (n - 4)``: the cost of each block beyond a
4-block spec's fixed cost (stem, head, the spec file), which a linear pass keeps flat."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PYTHON, ROOT, common_args, compile_package, emit_result, fmt_s, goal, median
from synthetic import write_spec

# Runs one task in this process and reports its figures as JSON on the last line of stderr.
WORKER = """
import json, resource, sys, time, io, contextlib
start = time.perf_counter()
from archspec.cli import main
imported = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
done = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
warm, spent = [], 0.0
while spent < 1.0 and len(warm) < 200:
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        main(sys.argv[1:])
    warm.append(time.perf_counter() - t)
    spent += warm[-1]
sys.stderr.write(json.dumps({"code": code, "imports": imported - start, "work": done - imported,
                             "warm": min(warm), "warm_spent": spent, "peak_rss_mb": peak}) + "\\n")
"""

TASKS = {
    "lint": lambda spec, out: ["lint", str(spec)],
    "summary": lambda spec, out: ["summary", str(spec)],
    "build torch": lambda spec, out: ["build", str(spec), "--backend", "torch", "-o", str(out)],
    "build keras": lambda spec, out: ["build", str(spec), "--backend", "keras", "-o", str(out)],
}


def _worker(args: list[str]) -> dict:
    start = time.perf_counter()
    result = subprocess.run(
        [PYTHON, "-c", WORKER, *args], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    wall = time.perf_counter() - start
    lines = result.stderr.strip().splitlines()
    try:
        data = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"worker failed ({' '.join(args)}):\n{result.stderr[-2000:]}") from None
    if data["code"] != 0:
        raise RuntimeError(f"archspec {' '.join(args)} exited {data['code']}:\n{result.stderr[-2000:]}")
    data["wall"] = wall - data["warm_spent"]  # the process as a user runs it, without the warm runs
    return data


def run(quick: bool) -> dict:
    compile_package()
    sizes = [4, 10, 100, 1000, 10000]
    forms = ["table", "explicit"]
    repeats = 1 if quick else 3
    rows = []
    with tempfile.TemporaryDirectory(prefix="archspec-scaling-") as tmp:
        folder = Path(tmp)
        out = folder / "out"
        for form in forms:
            specs = {n: write_spec(folder, n, form) for n in sizes}
            for task, make in TASKS.items():
                if task.startswith("build") and form == "explicit":
                    continue  # the IR and the code of the table form; only the load differs
                samples: dict[int, list[dict]] = {n: [] for n in sizes}
                for _ in range(repeats):  # interleaved over the sizes
                    for n in sizes:
                        samples[n].append(_worker(make(specs[n], out)))
                base = median([x["warm"] for x in samples[4]])
                for n in sizes:
                    wall = median([x["wall"] for x in samples[n]])
                    work = median([x["work"] for x in samples[n]])
                    warm = median([x["warm"] for x in samples[n]])
                    row = {
                        "form": form,
                        "task": task,
                        "blocks": n,
                        "wall_s": wall,
                        "imports_s": median([x["imports"] for x in samples[n]]),
                        "work_s": work,
                        "warm_s": warm,
                        "per_block_ms": (warm - base) / (n - 4) * 1000 if n > 4 else None,
                        "peak_rss_mb": max(x["peak_rss_mb"] for x in samples[n]),
                    }
                    if n == 4:
                        continue
                    rows.append(row)
                    print(
                        f"{form:<9} {task:<12} {n:>6} blocks: wall {fmt_s(wall):>9}, work {fmt_s(work):>9}, "
                        f"warm {fmt_s(warm):>9}, {row['per_block_ms']:.4f} ms/block, peak {row['peak_rss_mb']:.0f} MB",
                        flush=True,
                    )
    goals = []
    for form in forms:
        lint = [r for r in rows if r["form"] == form and r["task"] == "lint"]
        big = next((r for r in lint if r["blocks"] == 10000), None)
        if big:
            goals.append(
                goal(
                    f"a 10,000-block spec lints in under 2 s ({form} form, whole process)",
                    "< 2 s",
                    fmt_s(big["wall_s"]),
                    big["wall_s"] < 2.0,
                )
            )
    for form in forms:
        for task in TASKS:
            per_block = [r["per_block_ms"] for r in rows if r["form"] == form and r["task"] == task]
            if len(per_block) < 2 or task != "lint" and form != "table":
                continue
            spread = max(per_block) / min(per_block) if min(per_block) > 0 else float("inf")
            goals.append(
                goal(
                    f"{task} time per block flat within 2x, 10 to 10,000 blocks ({form} form)",
                    "max / min <= 2",
                    f"{min(per_block):.3f} to {max(per_block):.3f} ms per block ({spread:.1f}x)",
                    spread <= 2.0,
                )
            )
    return {"name": "scaling", "repeats": repeats, "rows": rows, "goals": goals}


def main() -> None:
    args = common_args(__doc__.splitlines()[0]).parse_args()
    result = run(args.quick)
    for g in result["goals"]:
        print(f"goal: {g['goal']}: {g['measured']} -> {'met' if g['met'] else 'MISSED'}")
    emit_result(result, args.json)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
