"""The worst specs archspec accepts, and what each command costs on them.

archspec refuses a spec over its limits (``archspec/ir/build.py``: ``MAX_BLOCKS`` blocks,
``MAX_NODES`` layers; ``archspec/spec/yamlsrc.py``: the file size and the YAML expansion), so
the worst accepted specs sit exactly at those limits.  Two shapes reach them:

- ``deep``: a stage table of one small block (``LAYERS_PER_BLOCK`` layers: convolutions,
  BatchNorms, activations, poolings, a squeeze-excitation multiply, a residual add), repeated up
  to the layer limit.  The file is under 1 KB; the time goes to the IR, lint and the backends.
- ``explicit``: a spec file of nearly ``MAX_FILE_BYTES``, every layer written out in the stem
  (one short line each), so the YAML loader is part of the measurement.

Each command runs as its own ``archspec`` process (``python -m archspec``, output to a
temporary folder or discarded); reported: its exit code, wall time and peak resident memory
(``ru_maxrss`` of the process and the children it waited for, from ``os.wait4``).  The README's
Limits section quotes these figures.  Nothing is asserted; ``--quick`` measures a tenth of
the limits (to try the script), ``--json PATH`` keeps the raw figures.

    python bench/limits.py            # the limits themselves (several minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archspec.ir.build import MAX_BLOCKS, MAX_NODES  # noqa: E402
from archspec.spec.yamlsrc import MAX_FILE_BYTES  # noqa: E402

#: the layers of the repeated block (see BLOCK)
LAYERS_PER_BLOCK = 19
#: stem and head layers around the blocks (and the input node)
FIXED_LAYERS = 4

BLOCK = """\
blocks:
  unit:
    class_name: Unit
    params: {width: 8}
    body:
      - {op: conv, name: conv1, filters: width, kernel: 1, bias: false}
      - {op: batchnorm, name: bn1}
      - {op: relu}
      - {op: conv, name: conv2, filters: width, kernel: 3, padding: 1, bias: false}
      - {op: batchnorm, name: bn2}
      - {op: relu6}
      - {op: conv, name: conv3, filters: width, kernel: 3, padding: 1, groups: 2}
      - {op: batchnorm, name: bn3}
      - {op: silu}
      - {op: maxpool, kernel: 3, stride: 1, padding: 1}
      - {op: avgpool, kernel: 3, stride: 1, padding: 1}
      - {op: leaky_relu}
      - {op: identity}
      - {op: dropout, rate: 0.1}
      - {op: global_avg_pool, name: se_pool, keepdims: true}
      - {op: conv, name: se_fc, filters: width, kernel: 1}
      - {op: sigmoid, name: se_gate}
      - {op: multiply, name: se_scale, inputs: [dropout, se_gate]}
    merge: {op: add}
"""


def deep_spec(blocks: int) -> str:
    """A stage table of ``blocks`` blocks of ``LAYERS_PER_BLOCK`` layers each."""
    stages, left = [], blocks
    while left:
        depth = min(left, 100_000)
        stages.append(f"    - [{depth}, 8]\n")
        left -= depth
    return (
        f"archspec: 1\nname: deep_{blocks}\ninput: {{channels: 8, size: [8, 8]}}\n"
        + BLOCK
        + "stem:\n  - {op: conv, name: conv1, filters: 8, kernel: 1}\n"
        + "stages:\n  block: unit\n  name: s{stage}\n  columns: [depth, width]\n  table:\n"
        + "".join(stages)
        + "head:\n  - {op: global_avg_pool, name: pool}\n  - {op: linear, name: fc, units: 10}\n"
    )


def wide_spec(blocks: int) -> str:
    """A stage table of ``blocks`` one-layer blocks: the block limit, where the cost per block
    (not per layer) counts."""
    stages, left = [], blocks
    while left:
        depth = min(left, 100_000)
        stages.append(f"    - [{depth}]\n")
        left -= depth
    return (
        f"archspec: 1\nname: wide_{blocks}\ninput: {{channels: 8, size: [8, 8]}}\n"
        + "blocks:\n  tiny:\n    class_name: Tiny\n    body:\n      - {op: relu}\n    merge: null\n"
        + "stem:\n  - {op: conv, name: conv1, filters: 8, kernel: 1}\n"
        + "stages:\n  block: tiny\n  name: s{stage}\n  columns: [depth]\n  table:\n"
        + "".join(stages)
        + "head:\n  - {op: global_avg_pool, name: pool}\n  - {op: linear, name: fc, units: 10}\n"
    )


def explicit_spec(size: int) -> str:
    """A spec of about ``size`` bytes: every layer written out in the stem, one line each."""
    head = "archspec: 1\nname: explicit\ninput: {channels: 8, size: [8, 8]}\nstem:\n"
    tail = "stages: []\nhead:\n  - {op: global_avg_pool, name: pool}\n  - {op: linear, name: fc, units: 10}\n"
    lines = ["  - {op: conv, name: c0, filters: 8, kernel: 1}\n"]
    ops = ["relu", "batchnorm", "relu6", "identity", "sigmoid", "silu", "tanh"]
    used = len(head) + len(tail) + len(lines[0])
    i = 0
    while True:
        line = f"  - {{op: {ops[i % len(ops)]}, name: l{i}}}\n"
        if used + len(line) > size:
            break
        lines.append(line)
        used += len(line)
        i += 1
    return head + "".join(lines) + tail


COMMANDS = {
    "lint": lambda spec, out: ["lint", str(spec)],
    "summary --format json": lambda spec, out: ["summary", str(spec), "--format", "json"],
    "summary (text)": lambda spec, out: ["summary", str(spec)],
    "build --backend torch": lambda spec, out: ["build", str(spec), "--backend", "torch", "-o", str(out / "torch")],
    "build --backend keras": lambda spec, out: ["build", str(spec), "--backend", "keras", "-o", str(out / "keras")],
    "graph --expand (.dot)": lambda spec, out: ["graph", str(spec), "--expand", "-o", str(out / "graph.dot")],
    "graph --expand (.mmd)": lambda spec, out: ["graph", str(spec), "--expand", "-o", str(out / "graph.mmd")],
}


def measure(args: list[str], timeout: float) -> dict:
    """Run ``python -m archspec ARGS``; its exit code, wall time, peak RSS and output size."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "archspec", *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.PIPE
        )
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except KeyboardInterrupt:
            proc.kill()
            raise
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        stdout_bytes = out.tell()
    if wall > timeout:
        err += f"\n(over the {timeout:.0f} s budget)"
    return {
        "exit": proc.returncode,
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "stdout_mb": round(stdout_bytes / 1e6, 1),
        "stderr_tail": err.strip().splitlines()[-1] if err.strip() else "",
    }


def _file_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1)


def run(quick: bool, only: list[str] | None, timeout: float, cases_only: list[str] | None = None) -> dict:
    scale = 10 if quick else 1
    blocks = min(MAX_BLOCKS, (MAX_NODES - FIXED_LAYERS) // LAYERS_PER_BLOCK) // scale
    cases = {
        f"deep: {blocks:,} blocks": deep_spec(blocks),
        f"wide: {MAX_BLOCKS // scale:,} blocks": wide_spec(MAX_BLOCKS // scale),
        f"explicit: {MAX_FILE_BYTES // scale:,}-byte file": explicit_spec(MAX_FILE_BYTES // scale),
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="archspec-limits-") as tmp:
        folder = Path(tmp)
        for i, (case, text) in enumerate(cases.items()):
            if cases_only and not any(case.startswith(c) for c in cases_only):
                continue
            spec = folder / f"case{i}.yaml"
            spec.write_text(text, encoding="utf-8")
            for command, make in COMMANDS.items():
                if only and not any(o in command for o in only):
                    continue
                out = folder / f"out{i}_{len(rows)}"
                out.mkdir()
                row = {"case": case, "spec_bytes": len(text.encode()), "command": command}
                row.update(measure(make(spec, out), timeout))
                row["written_mb"] = _file_mb(out)
                rows.append(row)
                print(
                    f"{case:<34} {command:<24} exit {row['exit']}  {row['wall_s']:7.1f} s  cpu {row['cpu_s']:6.1f} s  "
                    f"{row['peak_rss_mb']:6,} MB  out {row['stdout_mb'] + row['written_mb']:.1f} MB"
                    + (f"  ({row['stderr_tail']})" if row["exit"] else ""),
                    flush=True,
                )
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "limits": {"max_blocks": MAX_BLOCKS, "max_layers": MAX_NODES, "max_file_bytes": MAX_FILE_BYTES},
        "quick": quick,
        "rows": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the limits")
    parser.add_argument("--only", nargs="*", help="commands whose name contains one of these words")
    parser.add_argument("--case", nargs="*", choices=["deep", "wide", "explicit"], help="some of the specs only")
    parser.add_argument("--timeout", type=float, default=60.0, help="the time budget flagged in the output (s)")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    args = parser.parse_args()
    result = run(args.quick, args.only, args.timeout, args.case)
    worst = max(result["rows"], key=lambda r: r["wall_s"], default=None)
    heaviest = max(result["rows"], key=lambda r: r["peak_rss_mb"], default=None)
    if worst and heaviest:
        print(f"slowest: {worst['command']} on {worst['case']}: {worst['wall_s']} s")
        print(f"largest: {heaviest['command']} on {heaviest['case']}: {heaviest['peak_rss_mb']:,} MB")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
