"""How much of the ResNet family the shipped specs reproduce exactly: writes docs/coverage.md.

The family: every model timm registers in its ``resnet``, ``resnetv2``, ``resnest``,
``res2net``, ``sknet`` and ``regnet`` modules, and torchvision's ResNet, ResNeXt and Wide
ResNet.  For each name with a shipped spec of the same name (``specs/<name>.yaml``) the peer
is built with random weights and compared with the generated PyTorch model: the parameter
count, every state-dict key and shape, and the outputs after a strict load (float64, random
norm statistics, at an odd and an even small input).  With ``--keras`` the spec's PyTorch
and Keras models are also cross-checked (``archspec check``) at the small size.  A name
without a spec is listed with the construct it needs that the spec language lacks, or as
expressible when nothing is missing.

    python bench/coverage.py [--keras] [--only NAME ...] [--size 64] [--fresh]

A comparison is kept in ``bench/results/coverage.json`` with what it depends on: the
generated PyTorch model (``generated/torch/<name>.py``, which ``build --check`` keeps equal to
the spec), the versions of timm and torchvision, and the input size.  A later run reuses a
row whose inputs are unchanged (``--fresh``: compare every spec again), and ``--only``
compares those names and rewrites the page with the others' kept rows.

Needs timm and torchvision (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, peer  # noqa: E402

TIMM_MODULES = ("resnet", "resnetv2", "resnest", "res2net", "sknet", "regnet")
TORCHVISION = (
    "resnet18 resnet34 resnet50 resnet101 resnet152 resnext50_32x4d resnext101_32x8d "
    "resnext101_64x4d wide_resnet50_2 wide_resnet101_2"
).split()
OUTPUT = ROOT / "docs" / "coverage.md"
RESULTS = ROOT / "bench" / "results" / "coverage.json"

# What a model needs that the spec language does not have (first match wins).  Every other
# name is expressible with the shipped constructs and blocks: it only lacks its spec.
MISSING = [
    (r"gelu|_swish|silu", "an activation other than ReLU in timm's ResNet blocks (no block parameter yet)"),
    (r"_pruned$", "nothing: each layer's pruned width written out per block (not written yet)"),
]


@dataclass
class Row:
    name: str
    source: str  # "timm <module>" | "torchvision"
    spec: str | None
    exact: bool | None = None  # None: not compared (no spec)
    detail: str = ""
    keras: str = ""


def missing_construct(name: str) -> str:
    for pattern, what in MISSING:
        if re.search(pattern, name):
            return what
    return "nothing: expressible with the shipped ops and blocks, the spec is not written yet"


def family(timm) -> list[tuple[str, str]]:
    out = []
    for module in TIMM_MODULES:
        out += [(name, f"timm {module}") for name in sorted(timm.list_models(module=module))]
    out += [(name, "torchvision") for name in TORCHVISION]
    return out


def _randomize(state: dict, torch) -> None:
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for key, value in state.items():
            if not value.is_floating_point():
                continue
            if key.endswith("running_var"):
                value.copy_(torch.rand(value.shape, generator=generator, dtype=value.dtype) + 0.5)
            elif value.ndim == 1 and key.endswith(("weight", "bias", "running_mean")):
                base = 1.0 if key.endswith("weight") else 0.0
                value.copy_(torch.randn(value.shape, generator=generator, dtype=value.dtype) * 0.1 + base)


def compare(name: str, source: str, spec: Path, size: int, timm, torchvision) -> tuple[bool, str]:
    import torch

    import archspec

    if source == "torchvision":
        theirs = getattr(torchvision.models, name)(weights=None)
    else:
        theirs = timm.create_model(name, pretrained=False)
    theirs = theirs.double().eval()
    net = archspec.load(spec)
    params = sum(p.numel() for p in theirs.parameters())
    if net.params != params:
        return False, f"parameters {net.params:,} vs the peer's {params:,}"
    ours_keys = net.state_dict_shapes()
    state = theirs.state_dict()
    their_keys = {k: tuple(v.shape) for k, v in state.items()}
    if ours_keys != their_keys:
        missing = sorted(their_keys.keys() - ours_keys.keys())
        extra = sorted(ours_keys.keys() - their_keys.keys())
        shapes = sorted(k for k in ours_keys.keys() & their_keys.keys() if ours_keys[k] != their_keys[k])
        return False, f"state dict: missing {missing[:2]}, extra {extra[:2]}, shapes {shapes[:2]}"
    _randomize(state, torch)
    theirs.load_state_dict(state, strict=True)
    ours = _ours_sharing(spec, state, torch, archspec)
    worst = 0.0
    generator = torch.Generator().manual_seed(1)
    for n in (size + 1, size):
        x = torch.randn(1, 3, n, n, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            a, b = ours(x), theirs(x)
        if a.shape != b.shape:
            return False, f"output shape {tuple(a.shape)} vs {tuple(b.shape)} at {n}x{n}"
        worst = max(worst, (a - b).abs().max().item() / max(1.0, b.abs().max().item()))
    if worst > 1e-9:
        return False, f"outputs differ by {worst:.2e} (scaled)"
    return True, f"{params:,} parameters, {len(their_keys)} keys; outputs within {worst:.1e} at {size + 1} and {size}"


def _ours_sharing(spec: Path, state: dict, torch, archspec):
    """The generated model holding the peer's own tensors (a strict load with assign=True into a
    model built without storage), so that a comparison holds one copy of the weights: the
    largest family models (1.3 billion parameters, 10 GB in float64) would not fit twice.  A
    model with tensors outside the state dict (a fixed blur filter, say) is built normally."""
    with torch.device("meta"):
        ours = archspec.build_model(spec, backend="torch")
    ours.load_state_dict(state, strict=True, assign=True)
    if any(t.is_meta for t in [*ours.parameters(), *ours.buffers()]):
        ours = archspec.build_model(spec, backend="torch").double()
        ours.load_state_dict(state, strict=True)
    return ours.eval()


def keras_check(spec: Path, size: int) -> str:
    from archspec.crosscheck.compare import check_spec

    result = check_spec(spec, (size + 1, size + 1), batch=1)
    verdict = "pass" if result.passed else f"FAIL at {result.first_divergence}"
    return f"{verdict} ({result.max_abs_diff:.1e})"


def inputs_key(name: str, versions: str, size: int) -> str | None:
    """What a comparison depends on: the generated PyTorch model, the peers' versions, the size."""
    generated = ROOT / "generated" / "torch" / f"{name}.py"
    if not generated.is_file():
        return None
    digest = hashlib.sha256(generated.read_bytes()).hexdigest()[:16]
    return f"{digest} | {versions} | {size}"


def render(rows: list[Row], args, elapsed: float, versions: str, reused: int) -> str:
    exact = [r for r in rows if r.exact]
    with_spec = [r for r in rows if r.spec]
    stale = [r for r in rows if r.spec and r.exact is None]
    lines = [
        "# ResNet-family coverage",
        "",
        f"Written by `python bench/coverage.py{' --keras' if args.keras else ''}` ({versions}; this run "
        f"{elapsed:.0f} s, {reused} comparisons kept from earlier runs of the same generated model, peers and "
        f"size{f'; {len(stale)} specs not compared in their current form' if stale else ''}).",
        "The family is every model of timm's `resnet`, `resnetv2`, `resnest`, `res2net`, `sknet` and",
        "`regnet` modules and torchvision's ResNet, ResNeXt and Wide ResNet. A model is reproduced",
        "exactly when the shipped spec of its name has its parameter count and every state-dict key",
        "and shape, loads the peer's weights with `strict=True`, and gives its outputs (float64,",
        f"random weights and norm statistics, {args.size + 1}x{args.size + 1} and {args.size}x{args.size}).",
        "",
        f"**{len(exact)} of {len(rows)} names reproduced exactly ({100 * len(exact) / len(rows):.0f}%)**; "
        f"{len(with_spec)} have a spec.",
        "",
        "| model | peer | exact | spec | compared / missing construct |" + (" Keras check |" if args.keras else ""),
        "|---|---|---|---|---|" + ("---|" if args.keras else ""),
    ]
    for r in rows:
        exact_text = "yes" if r.exact else "no" if r.exact is False else "not compared" if r.spec else "—"
        spec = f"`{r.spec}`" if r.spec else "—"
        line = f"| {r.name} | {r.source} | {exact_text} | {spec} | {r.detail} |"
        if args.keras:
            line += f" {r.keras or '—'} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keras", action="store_true", help="also run archspec check on every spec")
    parser.add_argument("--size", type=int, default=64, help="the even input size (odd: size + 1)")
    parser.add_argument("--only", nargs="*", help="compare these names only (the others' kept rows are shown)")
    parser.add_argument("--fresh", action="store_true", help="compare every spec again, ignoring kept rows")
    args = parser.parse_args(argv)
    timm, torchvision = peer("timm"), peer("torchvision")
    if timm is None or torchvision is None:
        return 2
    versions = f"timm {timm.__version__}, torchvision {torchvision.__version__.split('+')[0]}"
    kept = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    start = time.perf_counter()
    rows = []
    reused = 0
    for name, source in family(timm):
        spec = ROOT / "specs" / f"{name}.yaml"
        row = Row(name, source, str(spec.relative_to(ROOT)) if spec.is_file() else None)
        key = inputs_key(name, versions, args.size)
        old = kept.get(f"{name} | {source}", {})
        if row.spec is None:
            row.detail = missing_construct(name)
        elif not args.fresh and old.get("key") == key and (old.get("keras") or not args.keras):
            row.exact, row.detail, row.keras = old["exact"], old["detail"], old.get("keras", "")
            reused += 1
        elif args.only and name not in args.only:
            row.detail = "not compared in its current form (run without --only)"
        else:
            try:
                row.exact, row.detail = compare(name, source, spec, args.size, timm, torchvision)
            except Exception as exc:  # a spec that does not build or load is not exact
                row.exact, row.detail = False, f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
            if args.keras:
                row.keras = keras_check(spec, args.size)
            kept[f"{name} | {source}"] = {"key": key, "exact": row.exact, "detail": row.detail, "keras": row.keras}
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            print(f"{name:28} {source:16} {'exact' if row.exact else '-':6} {row.detail}", flush=True)
        rows.append(row)
    elapsed = time.perf_counter() - start
    OUTPUT.write_text(render(rows, args, elapsed, versions, reused), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0 if all(r.exact is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
