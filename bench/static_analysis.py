"""Static analysis against tracing: ``archspec summary specs/resnet152.yaml`` (a whole CLI
process) against the usual way to get the same figures, a whole process that imports torch,
builds the model and traces it with ``torchinfo.summary``.  Both must print the same
parameter and mult-add counts; the ratio is the median of the per-round ratios of wall times
(each round runs both back to back).

Start-up for editors and hooks: ``archspec lint specs/resnet50.yaml`` as a whole process, cold
(``ARCHSPEC_NO_CACHE=1``: every import and the whole lint) and replayed from the report cache
(the same content linted again, as pre-commit over an unchanged file), in the same interleaved
rounds as the peer.  Both comparisons are measured twice: on the machine as it is, and with
every core kept busy by a spinning process (as beside a build or a test run)."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile

from _common import (
    PYTHON,
    STUB_TORCHVISION,
    common_args,
    compile_package,
    emit_result,
    fmt_s,
    goal,
    has_module,
    interleave,
    median,
    paired_ratio,
    run_process,
)

SPEC = "specs/resnet152.yaml"
EDITOR_SPEC = "specs/resnet50.yaml"
EDITOR_GOAL_S = 0.15
#: every archspec row runs without the lint report cache, except the one that measures it
COLD = {**os.environ, "ARCHSPEC_NO_CACHE": "1"}

TORCHINFO_TORCHVISION = f"""
{STUB_TORCHVISION}
import torchinfo
from torchvision.models import resnet152
stats = torchinfo.summary(resnet152(), input_size=(1, 3, 224, 224))
print("exact", stats.total_params, stats.total_mult_adds)
"""

TORCHINFO_GENERATED = """
import importlib.util, torchinfo
spec = importlib.util.spec_from_file_location("resnet152", "generated/torch/resnet152.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
stats = torchinfo.summary(module.Resnet152(), input_size=(1, 3, 224, 224))
print("exact", stats.total_params, stats.total_mult_adds)
"""


def _archspec_figures(out: str) -> tuple[int, int]:
    params = int(re.search(r"Total params: ([\d,]+)", out).group(1).replace(",", ""))
    macs = int(re.search(r"Total mult-adds: ([\d,]+)", out).group(1).replace(",", ""))
    return params, macs


def _torchinfo_figures(out: str) -> tuple[int, int]:
    _, params, macs = re.search(r"^exact (\d+) (\d+)$", out, re.M).group(0).split()
    return int(params), int(macs)


@contextlib.contextmanager
def busy_cores(count: int):
    """``count`` processes that spin on a core each, for the duration of the block."""
    spinners = [subprocess.Popen([PYTHON, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in spinners:
            proc.kill()
        for proc in spinners:
            proc.wait()


def run(quick: bool) -> dict:
    compile_package()
    repeats = 3 if quick else 9
    rows, goals = [], []
    cache = tempfile.mkdtemp(prefix="archspec-bench-cache-")
    warm = {**os.environ, "ARCHSPEC_CACHE_DIR": cache}
    warm.pop("ARCHSPEC_NO_CACHE", None)
    lint_cold = f"archspec lint {EDITOR_SPEC} (cold)"
    lint_hit = f"archspec lint {EDITOR_SPEC} (report cache hit)"
    candidates = {
        "archspec summary": lambda: run_process([PYTHON, "-m", "archspec", "summary", SPEC], env=COLD),
        "archspec lint": lambda: run_process([PYTHON, "-m", "archspec", "lint", SPEC], env=COLD),
        lint_cold: lambda: run_process([PYTHON, "-m", "archspec", "lint", EDITOR_SPEC], env=COLD),
        lint_hit: lambda: run_process([PYTHON, "-m", "archspec", "lint", EDITOR_SPEC], env=warm),
    }
    peer_label = None
    if not has_module("torchinfo"):
        print("peer not installed: torchinfo (pip install torchinfo)", flush=True)
    else:
        if has_module("torchvision"):
            peer_label, script = "torchinfo.summary(torchvision resnet152)", TORCHINFO_TORCHVISION
        else:
            print("peer not installed: torchvision; tracing archspec's generated resnet152 instead", flush=True)
            peer_label, script = "torchinfo.summary(generated resnet152)", TORCHINFO_GENERATED
        candidates[peer_label] = lambda: run_process([PYTHON, "-c", script])

    # the figures first (untimed): the same parameters and mult-adds, or the comparison is void
    _, out = run_process([PYTHON, "-m", "archspec", "summary", SPEC], env=COLD)
    ours = _archspec_figures(out)
    theirs = None
    if peer_label:
        _, out = candidates[peer_label]()
        theirs = _torchinfo_figures(out)
    times = interleave(candidates, repeats, warmup=1)
    base = median(times[peer_label]) if peer_label else float("nan")
    for name, values in times.items():
        rows.append(
            {
                "process": name,
                "median_s": median(values),
                "min_s": min(values),
                "runs": len(values),
                "speedup_vs_peer": 1 / paired_ratio(values, times[peer_label])
                if peer_label and name != peer_label
                else None,
            }
        )
    figures = {"archspec": ours, "torchinfo": theirs}
    loaded = None
    if peer_label:
        # the same rounds again with every core kept busy by another process (a build, a test
        # run): editors and hooks run beside other work
        chosen = {k: candidates[k] for k in ("archspec summary", lint_cold, lint_hit, peer_label)}
        with busy_cores(os.cpu_count() or 1):
            loaded = interleave(chosen, max(3, repeats // 3), warmup=0)
        for name, values in loaded.items():
            rows.append(
                {
                    "process": f"{name}, every core busy",
                    "median_s": median(values),
                    "min_s": min(values),
                    "runs": len(values),
                    "speedup_vs_peer": 1 / paired_ratio(values, loaded[peer_label]) if name != peer_label else None,
                }
            )
    if peer_label:
        same = ours == theirs
        ratio = 1 / paired_ratio(times["archspec summary"], times[peer_label])
        busy = 1 / paired_ratio(loaded["archspec summary"], loaded[peer_label])
        goals.append(
            goal(
                "static analysis vs tracing: archspec summary resnet152 against torchinfo",
                ">= 20x faster, same params and MACs",
                f"{ratio:.1f}x (medians {fmt_s(median(times['archspec summary']))} vs {fmt_s(base)}; fastest "
                f"runs {fmt_s(min(times['archspec summary']))} vs {fmt_s(min(times[peer_label]))}, "
                f"{min(times[peer_label]) / min(times['archspec summary']):.1f}x); "
                f"params {ours[0]:,} / {theirs[0]:,}, MACs {ours[1]:,} / {theirs[1]:,}; with every core busy: "
                f"{busy:.1f}x",
                bool(ratio >= 20 and same),
            )
        )
    else:
        goals.append(goal("static analysis vs tracing", ">= 20x faster", "peer not installed: torchinfo", None))
    cold, hit = times[lint_cold], times[lint_hit]
    versus = ""
    if peer_label:
        versus = (
            f"; {1 / paired_ratio(cold, times[peer_label]):.1f}x (cold) and "
            f"{1 / paired_ratio(hit, times[peer_label]):.0f}x (hit) faster than torchinfo in the same rounds; "
            f"with every core busy, cold {fmt_s(median(loaded[lint_cold]))}, "
            f"{1 / paired_ratio(loaded[lint_cold], loaded[peer_label]):.1f}x faster than torchinfo"
        )
    goals.append(
        goal(
            f"editor start-up: archspec lint {EDITOR_SPEC} as a whole process",
            f"< {EDITOR_GOAL_S * 1000:.0f} ms",
            f"cold {fmt_s(median(cold))} (fastest {fmt_s(min(cold))}); report cache hit {fmt_s(median(hit))} "
            f"(fastest {fmt_s(min(hit))}){versus}",
            bool(median(hit) < EDITOR_GOAL_S and median(cold) < EDITOR_GOAL_S),
            note="cold: see the static analysis section",
        )
    )
    return {
        "name": "static_analysis",
        "spec": SPEC,
        "repeats": repeats,
        "rows": rows,
        "figures": figures,
        "goals": goals,
    }


def main() -> None:
    args = common_args(__doc__.splitlines()[0]).parse_args()
    result = run(args.quick)
    print(f"{'process':<48} {'median':>10} {'min':>10}  speedup")
    for row in result["rows"]:
        speed = f"{row['speedup_vs_peer']:.1f}x" if row["speedup_vs_peer"] else "-"
        print(f"{row['process']:<48} {fmt_s(row['median_s']):>10} {fmt_s(row['min_s']):>10}  {speed}")
    print(f"figures (params, MACs): {result['figures']}")
    for g in result["goals"]:
        print(f"goal: {g['goal']}: {g['measured']} -> {'met' if g['met'] else 'MISSED' if g['met'] is False else '-'}")
    emit_result(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
