"""Shared helpers of the benchmarks: peers, timing, processes, the machine, results.

Every benchmark measures archspec and its peer in the same run, interleaving their repeats
(A B A B ...) so that a noisy neighbour slows both alike, and reports medians and the ratio
of medians.  Nothing here asserts a time: the figures go to ``docs/benchmarks.md``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def stub_torchvision() -> None:
    """torchvision 0.28's wheel registers fake ops for operators the CPU build of torch 2.13
    lacks and fails on import; its models need none of them.  Benchmarks only, never the package."""
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))


STUB_TORCHVISION = (
    "import sys, types; "
    "sys.modules.setdefault('torchvision._meta_registrations', types.ModuleType('torchvision._meta_registrations'))"
)


def peer(module: str, pip_name: str | None = None) -> Any | None:
    """Import a peer, or print ``peer not installed: ...`` and return None."""
    if module in ("torchvision", "timm"):  # timm imports torchvision
        stub_torchvision()
    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, or a wheel that does not import against this torch
        print(f"peer not installed: {pip_name or module} ({type(exc).__name__}: {exc})".splitlines()[0], flush=True)
        return None


def has_module(module: str) -> bool:
    """Whether ``module`` can be found, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def paired_ratio(ours: list[float], theirs: list[float]) -> float:
    """The median of the per-round ratios ``ours[i] / theirs[i]``: with interleaved runs each
    pair ran back to back, so a slow minute of the machine cancels out."""
    return median(round_ratios(ours, theirs))


def round_ratios(ours: list[float], theirs: list[float]) -> list[float]:
    """The per-round ratios ``ours[i] / theirs[i]`` of interleaved runs."""
    return [a / b for a, b in zip(ours, theirs, strict=True)]


def interleave(
    candidates: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1, alternate: bool = False
) -> dict[str, list[float]]:
    """Time each candidate ``repeats`` times, round-robin (A B C A B C ...), after ``warmup``
    untimed rounds; with ``alternate`` every other round runs in reverse order (A B C C B A ...),
    so that no candidate always runs first, on a cold cache, or last.  Returns the wall times per
    candidate."""
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    order = list(candidates.items())
    for round_ in range(repeats):
        for name, fn in reversed(order) if alternate and round_ % 2 else order:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def run_process(args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> tuple[float, str]:
    """Run a whole process; returns its wall time and its standard output.  Raises on failure."""
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {result.returncode}:\n{result.stderr[-2000:]}")
    return elapsed, result.stdout


def compile_package() -> None:
    """Write archspec's bytecode (``__pycache__``, ignored by git), as ``pip install`` does, so
    that a process that runs archspec does not first compile it (this environment sets
    PYTHONDONTWRITEBYTECODE; the peers' installed modules already have theirs)."""
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "archspec")], check=True, capture_output=True)


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": version("torch"),
        "torchvision": version("torchvision"),
        "torchinfo": version("torchinfo"),
        "tensorflow": version("tensorflow-cpu")
        if version("tensorflow-cpu") != "not installed"
        else version("tensorflow"),
        "keras": version("keras"),
        "pydantic": version("pydantic"),
        "ruamel.yaml": version("ruamel.yaml"),
        "loadavg": [round(x, 2) for x in load],
    }


def emit_result(result: dict[str, Any], json_path: str | None) -> None:
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")


def goal(name: str, target: str, measured: str, met: bool | None, note: str = "") -> dict[str, Any]:
    """A goal of the issue: ``met`` None when it could not be measured (a peer is missing)."""
    return {"goal": name, "target": target, "measured": measured, "met": met, "note": note}


def fmt_s(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "-"
    if seconds < 0.01:
        return f"{seconds * 1000:.2f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def common_args(description: str):
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return parser


class PeakRss:
    """The process's peak resident memory per stage, sampled every 20 ms by a thread (the
    kernel's own peak, ``ru_maxrss``, only ever grows, so it cannot tell stages apart).

        with PeakRss() as rss:
            ...; rss.mark("convert")   # GB at the peak since the previous mark
    """

    def __init__(self, interval: float = 0.02) -> None:
        import threading

        self._interval = interval
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.stages: dict[str, float] = {}

    @staticmethod
    def now() -> int:
        """Resident memory of this process in bytes (0 where /proc is missing)."""
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            return 0

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._peak = max(self._peak, self.now())

    def __enter__(self) -> PeakRss:
        self._peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def mark(self, stage: str) -> float:
        peak = max(self._peak, self.now())
        self.stages[stage] = round(peak / 1e9, 2)
        self._peak = self.now()
        return self.stages[stage]
