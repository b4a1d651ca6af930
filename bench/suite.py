"""The test suite's wall time: the README's command (``python -m pytest``, every core through
pytest-xdist) and the quick loop (``python -m pytest -m "not slow"``), each a whole process from
the repository root, with pytest's cache off so that no run reorders the next.  The slowest tests
come from ``--durations``.  It measures, it asserts nothing: a failing test is reported as such.

``--from-log FILE`` reads a run that was already made (``pytest ... --durations=25 2>&1 | tee FILE``
with its wall time on the first line as ``wall: SECONDS``) instead of running the suite again."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from _common import PYTHON, ROOT, common_args, emit_result, fmt_s, goal

FULL_GOAL_S = 10 * 60
AIM_S = 7 * 60
QUICK_GOAL_S = 2 * 60


def _pytest(extra: list[str]) -> dict:
    start = time.perf_counter()
    proc = subprocess.run(
        [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=15", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3 * 3600,
        check=False,
    )
    return _parse(time.perf_counter() - start, proc.stdout + proc.stderr, proc.returncode)


def _parse(seconds: float, out: str, returncode: int | None) -> dict:
    tail = out.strip().splitlines()[-1] if out.strip() else ""
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|deselected|errors?)", tail)}
    slowest = [
        {"seconds": float(s), "test": t.strip()}
        for s, t in re.findall(r"^(\d+\.\d+)s (?:call|setup|teardown)\s+(.+)$", out, re.M)
    ]
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, re.M)
    return {
        "seconds": seconds,
        "counts": counts,
        "summary": tail,
        "returncode": returncode,
        "slowest": slowest[:15],
        "failed_tests": failed,
    }


def run(quick: bool, from_log: str | None = None) -> dict:
    if from_log:
        text = open(from_log, encoding="utf-8").read()
        wall = float(re.search(r"^wall: ([\d.]+)", text, re.M).group(1))
        full = _parse(wall, text, None)
    else:
        full = _pytest([])
    quick_loop = _pytest(["-m", "not slow"])
    goals = [
        goal(
            "test suite: the README's command on this machine",
            f"< {FULL_GOAL_S // 60} min (aim {AIM_S // 60} min)",
            f"{fmt_s(full['seconds'])} ({full['summary']})",
            full["seconds"] < FULL_GOAL_S and not full["counts"].get("failed"),
        ),
        goal(
            'test suite: the quick loop, pytest -m "not slow"',
            f"< {QUICK_GOAL_S // 60} min",
            f"{fmt_s(quick_loop['seconds'])} ({quick_loop['summary']})",
            quick_loop["seconds"] < QUICK_GOAL_S and not quick_loop["counts"].get("failed"),
        ),
    ]
    return {"name": "suite", "full": full, "quick": quick_loop, "goals": goals}


def main() -> None:
    parser = common_args(__doc__.splitlines()[0])
    parser.add_argument("--from-log", metavar="FILE", help="a full run already made (see above)")
    args = parser.parse_args()
    result = run(args.quick, args.from_log)
    for g in result["goals"]:
        print(f"goal: {g['goal']}: {g['measured']} -> {'met' if g['met'] else 'MISSED'}")
    emit_result(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
