"""Catalog throughput: lint plus both backends for every shipped spec, in one process (what
``archspec lint specs/*.yaml`` and ``archspec build --check --backend all specs/*.yaml`` do in
CI).  Emission includes formatting with ruff (one subprocess per generated file)."""

from __future__ import annotations

import sys
import time

from _common import ROOT, common_args, compile_package, emit_result, fmt_s, median

sys.path.insert(0, str(ROOT))


def _once() -> dict:
    start = time.perf_counter()
    from archspec.backends import get_backend
    from archspec.ir.build import build_ir
    from archspec.lint import lint_network
    from archspec.spec.load import load_spec

    torch_backend, keras_backend = get_backend("torch"), get_backend("keras")
    imported = time.perf_counter()
    rows = []
    for spec in sorted((ROOT / "specs").glob("*.yaml")):
        t0 = time.perf_counter()
        network = build_ir(load_spec(spec))
        findings = lint_network(network)
        t1 = time.perf_counter()
        torch_source = torch_backend.emit(network)
        t2 = time.perf_counter()
        keras_source = keras_backend.emit(network)
        t3 = time.perf_counter()
        rows.append(
            {
                "spec": spec.name,
                "blocks": len(network.blocks),
                "layers": len(network.order) - 1,
                "findings": len(findings),
                "lint_s": t1 - t0,
                "torch_s": t2 - t1,
                "keras_s": t3 - t2,
                "lines": torch_source.count("\n") + keras_source.count("\n"),
            }
        )
    return {"imports_s": imported - start, "total_s": time.perf_counter() - start, "specs": rows}


def run(quick: bool) -> dict:
    """Each repeat in a fresh process, so that caches (the library, the Jinja environment)
    start cold as they do in CI."""
    import json
    import subprocess

    from _common import PYTHON

    compile_package()
    repeats = 1 if quick else 3
    runs = []
    for _ in range(repeats):
        proc = subprocess.run(
            [PYTHON, __file__, "--once"], cwd=ROOT / "bench", capture_output=True, text=True, timeout=900, check=True
        )
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    specs = []
    for i, row in enumerate(runs[0]["specs"]):
        specs.append(
            {
                **row,
                **{key: median([r["specs"][i][key] for r in runs]) for key in ("lint_s", "torch_s", "keras_s")},
            }
        )
    total = median([r["total_s"] for r in runs])
    return {
        "name": "catalog",
        "repeats": repeats,
        "specs": specs,
        "imports_s": median([r["imports_s"] for r in runs]),
        "total_s": total,
        "lint_s": sum(s["lint_s"] for s in specs),
        "torch_s": sum(s["torch_s"] for s in specs),
        "keras_s": sum(s["keras_s"] for s in specs),
        "specs_per_s": len(specs) / total,
        "goals": [],
    }


def main() -> None:
    parser = common_args(__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="one measurement in this process (JSON on stdout)")
    args = parser.parse_args()
    if args.once:
        import json

        print(json.dumps(_once()))
        return
    result = run(args.quick)
    for row in result["specs"]:
        print(
            f"{row['spec']:<26} {row['layers']:>4} layers  lint {fmt_s(row['lint_s']):>9}  "
            f"torch {fmt_s(row['torch_s']):>9}  keras {fmt_s(row['keras_s']):>9}"
        )
    print(
        f"{len(result['specs'])} specs in {fmt_s(result['total_s'])} (imports {fmt_s(result['imports_s'])}; "
        f"lint {fmt_s(result['lint_s'])}, torch {fmt_s(result['torch_s'])}, keras {fmt_s(result['keras_s'])}): "
        f"{result['specs_per_s']:.1f} specs/s"
    )
    emit_result(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
