"""GPU forward time of the generated PyTorch ResNet-50 against torchvision's on the same device.

Rows, all with the same weights, in eval mode under ``torch.inference_mode()``: torchvision's
resnet50 (the peer), archspec's generated model (the default form), its inference form
(``fuse_for_inference()``: BatchNorm folded, channels-last), the generated model in
channels-last memory, with bf16 autocast, and under ``torch.compile``; torchvision's under
bf16 autocast and ``torch.compile`` too, so that each variant has its peer.  Interleaved runs
(every other round in reverse order), synchronized, medians and the median of per-round
ratios against torchvision's plain model.

On a machine without CUDA it says so and exits 0.  With ``--write`` it replaces the GPU section
of ``docs/benchmarks.md`` (between ``<!-- gpu -->`` and ``<!-- /gpu -->``, appended if absent).
A run takes a few minutes at most (the two ``torch.compile`` calls dominate).
"""

from __future__ import annotations

import sys
import time

from _common import ROOT, common_args, emit_result, fmt_s, goal, interleave, machine, median, paired_ratio, peer

sys.path.insert(0, str(ROOT))

BEGIN, END = "<!-- gpu -->", "<!-- /gpu -->"


def _not_measured(reason: str) -> dict:
    return goal(
        "GPU: the generated ResNet-50's forms against torchvision's on one CUDA device",
        "measured where a CUDA device is present",
        f"not measured: {reason} on the machine of this run",
        None,
    )


def run(quick: bool, batch: int = 32) -> dict:
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device on this machine: the GPU benchmark was not run", flush=True)
        return {"name": "gpu", "skipped": True, "reason": "no CUDA device", "goals": [_not_measured("no CUDA device")]}
    torchvision = peer("torchvision")
    if torchvision is None:
        reason = "torchvision not installed"
        return {"name": "gpu", "skipped": True, "reason": reason, "goals": [_not_measured(reason)]}
    from archspec.backends import torch_backend
    from archspec.pipeline import checked_network

    device = torch.device("cuda")
    network = checked_network(ROOT / "specs" / "resnet50.yaml")
    reference = torchvision.models.resnet50().eval().to(device)
    state = reference.state_dict()

    def generated(inference: bool = False):
        model = torch_backend.instantiate(torch_backend.emit(network, inference=inference), network)
        model.load_state_dict(state, strict=True)
        return model.eval().to(device)

    x = torch.randn(batch, 3, 224, 224, device=device)
    x_last = x.contiguous(memory_format=torch.channels_last)
    plain = generated()
    models = {
        "torchvision resnet50": (reference, x, False),
        "archspec resnet50 (generated)": (plain, x, False),
        "archspec resnet50 (inference form)": (generated(inference=True).fuse_for_inference(), x_last, False),
        "archspec resnet50, channels-last": (generated().to(memory_format=torch.channels_last), x_last, False),
        "torchvision resnet50, bf16 autocast": (reference, x, True),
        "archspec resnet50, bf16 autocast": (plain, x, True),
    }
    compiled_note = ""
    try:
        start = time.perf_counter()
        models["torchvision resnet50, torch.compile"] = (torch.compile(reference), x, False)
        models["archspec resnet50, torch.compile"] = (torch.compile(plain), x, False)
        with torch.inference_mode():
            for name in ("torchvision resnet50, torch.compile", "archspec resnet50, torch.compile"):
                models[name][0](x)  # compile now, not inside the timed rounds
        compiled_note = f"torch.compile of both models took {fmt_s(time.perf_counter() - start)}"
    except Exception as exc:  # no compiler toolchain: leave the rows out
        for name in ("torchvision resnet50, torch.compile", "archspec resnet50, torch.compile"):
            models.pop(name, None)
        compiled_note = f"torch.compile failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    print(compiled_note, flush=True)

    def call(model, inputs, autocast):
        def fn():
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                model(inputs)
            torch.cuda.synchronize()

        return fn

    repeats = 10 if quick else 30
    times = interleave({n: call(*m) for n, m in models.items()}, repeats, warmup=3, alternate=True)
    base = times["torchvision resnet50"]
    rows = [
        {
            "model": name,
            "median_s": median(values),
            "min_s": min(values),
            "vs_torchvision": paired_ratio(values, base),
        }
        for name, values in times.items()
    ]
    for row in rows:
        print(f"{row['model']:<48} {fmt_s(row['median_s']):>9}  x{row['vs_torchvision']:.3f}", flush=True)
    return {
        "name": "gpu",
        "device": torch.cuda.get_device_name(0),
        "batch": batch,
        "repeats": repeats,
        "rows": rows,
        "note": compiled_note,
        "goals": [],
    }


def section(result: dict) -> str:
    if result.get("skipped"):
        return f"{BEGIN}\n## GPU\n\nNot measured: {result['reason']} on the machine of this run.\n{END}\n"
    lines = [
        BEGIN,
        "## GPU",
        "",
        f"{result['device']}, batch {result['batch']} at 224x224, {result['repeats']} interleaved runs in alternating "
        f"order, the same weights in every model; ratio: median of the per-round ratios against torchvision's "
        f"plain resnet50 (below 1: faster). {result['note']}.",
        "",
        "| model | median | min | vs torchvision |",
        "|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['model']} | {fmt_s(row['median_s'])} | {fmt_s(row['min_s'])} | {row['vs_torchvision']:.3f} |"
        )
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    doc = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + text.rstrip("\n") + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    path.write_text(doc, encoding="utf-8")


def main() -> int:
    parser = common_args(__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--write", action="store_true", help="replace the GPU section of docs/benchmarks.md")
    args = parser.parse_args()
    result = run(args.quick, args.batch)
    result["machine"] = machine()
    if args.write and not result.get("skipped"):
        write_section(section(result))
    emit_result(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
