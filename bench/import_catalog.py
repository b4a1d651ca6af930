"""archspec import over the whole catalog: every shipped spec's published model (its ``peer:``,
timm or torchvision, and keras.applications for the ``_v1``/``_v2`` specs) is imported, and the
round trip (the original's weights in the generated model, every layer with weights, every
block and the output compared in float64) must pass.  Writes ``docs/importing.md``: per model,
the verdict, the largest difference, whether the block types are the library's, and the
imported spec's length against the hand-written spec's.

    python bench/import_catalog.py [--only NAME ...] [--size 32]

Results are kept in ``bench/results/import_catalog.json`` so that ``--only`` refreshes some
rows of the page without redoing the rest.  Needs timm and torchvision (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, stub_torchvision  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "import_catalog.json"
OUTPUT = ROOT / "docs" / "importing.md"
KERAS = {
    "resnet50_v1": "ResNet50",
    "resnet101_v1": "ResNet101",
    "resnet152_v1": "ResNet152",
    "resnet50_v2": "ResNet50V2",
    "resnet101_v2": "ResNet101V2",
    "resnet152_v2": "ResNet152V2",
}


def _lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))


def one(name: str, size: int) -> dict:
    from archspec.importer.run import import_model, resolve

    started = time.perf_counter()
    if name in KERAS:
        import keras

        model = getattr(keras.applications, KERAS[name])(weights=None, input_shape=(size, size, 3))
        framework, source = "keras", f"keras.applications.{KERAS[name]}"
        result = import_model(model, framework, name, input_size=None)
    else:
        model, framework, _ = resolve(name, None)
        source = (ROOT / "specs" / f"{name}.yaml").read_text().split("peer:", 1)[1].splitlines()[0].strip().strip('"')
        result = import_model(model, framework, name, input_size=(size, size))
    seconds = time.perf_counter() - started
    check = result.check
    spec = result.network.spec.spec if result.network is not None else None
    return {
        "name": name,
        "peer": source,
        "passed": bool(check is not None and check.passed and not result.problems),
        "max_abs_diff": None if check is None else check.max_abs_diff,
        "problems": result.problems[:3],
        "library": spec is not None and not spec.blocks,
        "lines": _lines(result.text) if result.text else None,
        "shipped_lines": _lines((ROOT / "specs" / f"{name}.yaml").read_text()),
        "seconds": round(seconds, 1),
    }


#: shipped specs whose import does not fit this machine (2 cores, 24 GB): the import held 17.3 GB
#: at its peak for regnety_1280's 645M parameters, about 27 bytes a parameter
TOO_LARGE = {
    "resnetv2_152x4_bit": "not imported: 937M parameters, about 25 GB at the import's peak",
    "regnety_2560": "not imported: 1,283M parameters, about 35 GB at the import's peak",
}


def write(rows: dict[str, dict], size: int) -> None:
    shipped = sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))
    done = [rows[n] for n in shipped if n in rows]
    passed = [r for r in done if r["passed"]]
    worst = max((r["max_abs_diff"] for r in passed), default=0.0)
    out = [
        "# Importing the catalog's models",
        "",
        "Written by `python bench/import_catalog.py`: every shipped spec's published model",
        "(timm, torchvision, keras.applications) imported with `archspec import` at "
        f"{size}x{size}, random weights, and its round trip proven (the original's weights in the "
        "generated model; every layer with weights, every block and the output compared in float64).",
        "",
        f"**{len(passed)} of {len(shipped)} shipped specs' models round-trip** "
        f"({len(done)} imported; the largest difference of those that pass: {worst:.1e}); "
        f"{sum(1 for r in passed if r['library'])} of them are written with the block library's "
        "blocks only.",
        "",
        "The hand-written lines count the spec's own file (no blank or comment lines): a variant that",
        "`extends:` its base spec is a few lines, where the imported spec is whole. A row marked",
        "*not imported yet* is a shipped spec no run of the script has imported; the two largest do",
        "not fit this machine's memory.",
        "",
        "| model | peer | round trip | max abs diff | library blocks | lines (imported / shipped) |",
        "|---|---|---|---|---|---|",
    ]
    for name in shipped:
        r = rows.get(name)
        if r is None:
            out.append(f"| {name} | | {TOO_LARGE.get(name, 'not imported yet')} | | | |")
            continue
        verdict = "passes" if r["passed"] else "fails: " + "; ".join(p.replace("|", "/") for p in r["problems"])[:200]
        diff = "" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.1e}"
        lines = f"{r['lines']} / {r['shipped_lines']}" if r["lines"] else f"— / {r['shipped_lines']}"
        out.append(f"| {name} | `{r['peer']}` | {verdict} | {diff} | {'yes' if r['library'] else 'no'} | {lines} |")
    OUTPUT.write_text("\n".join(out) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="these shipped specs only (the other rows are kept)")
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args(argv)
    stub_torchvision()
    rows = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    names = args.only or sorted(p.stem for p in (ROOT / "specs").glob("*.yaml") if p.stem not in TOO_LARGE)
    for name in names:
        try:
            row = one(name, args.size)
        except Exception as exc:  # noqa: BLE001 - a model that cannot be imported is a row, not a crash
            row = {
                "name": name,
                "peer": "",
                "passed": False,
                "max_abs_diff": None,
                "problems": [f"{type(exc).__name__}: {exc}"],
                "library": False,
                "lines": None,
                "shipped_lines": _lines((ROOT / "specs" / f"{name}.yaml").read_text()),
                "seconds": 0,
            }
        rows[name] = row
        verdict = "PASS" if row["passed"] else "FAIL " + "; ".join(row["problems"])[:300]
        print(f"{verdict:4}  {name}  diff={row['max_abs_diff']}  lines={row['lines']}  {row['seconds']}s", flush=True)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")
    write(rows, args.size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
