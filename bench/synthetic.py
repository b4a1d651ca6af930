"""Synthetic specs of any depth, for the scaling benchmark.

Two forms of the same network (a bottleneck ResNet with four stages, the blocks split evenly
between them, widths 16/32/64/128 so that emitted models stay small):

- ``table``: the compact stage table, four short rows whatever the depth.  The YAML is tiny;
  the time goes to the IR, lint and the backends.
- ``explicit``: one line per block, as hand-written networks are transcribed.  The YAML grows
  with the depth, so the loader is part of the measurement.
"""

from __future__ import annotations

from pathlib import Path

WIDTHS = (16, 32, 64, 128)

HEADER = """\
archspec: 1
name: {name}
doc: Synthetic bottleneck ResNet with {blocks} blocks ({form} form), for the scaling benchmark.
input: {{channels: 3, size: [64, 64]}}
vars: {{num_classes: 10}}
defaults:
  conv: {{bias: false}}
  batchnorm: {{eps: 1.0e-5, momentum: 0.1}}
stem:
  - {{op: conv, name: conv1, filters: 16, kernel: 3, stride: 1, padding: 1}}
  - {{op: batchnorm, name: bn1}}
  - {{op: relu, name: relu}}
"""

FOOTER = """\
head:
  - {op: global_avg_pool, name: avgpool}
  - {op: linear, name: fc, units: num_classes}
"""


def depths(blocks: int) -> list[int]:
    """``blocks`` split over four stages (at least one block each)."""
    if blocks < 4:
        raise ValueError("at least 4 blocks (one per stage)")
    base, extra = divmod(blocks, 4)
    return [base + (1 if i < extra else 0) for i in range(4)]


def spec_text(blocks: int, form: str = "table") -> str:
    name = f"synthetic_{form}_{blocks}"
    out = [HEADER.format(name=name, blocks=blocks, form=form)]
    if form == "table":
        out.append("stages:\n  block: bottleneck\n  name: layer{stage}\n  columns: [depth, width, stride]\n  table:\n")
        for i, (depth, width) in enumerate(zip(depths(blocks), WIDTHS)):
            out.append(f"    - [{depth}, {width}, {1 if i == 0 else 2}]\n")
    elif form == "explicit":
        out.append("stages:\n")
        for i, (depth, width) in enumerate(zip(depths(blocks), WIDTHS)):
            out.append(f"  - name: layer{i + 1}\n    block: bottleneck\n    blocks:\n")
            for b in range(depth):
                stride = 2 if (i and not b) else 1
                args = f"width: {width}" + (f", stride: {stride}" if stride != 1 else "")
                out.append(f"      - {{args: {{{args}}}}}\n")
    else:
        raise ValueError(f"unknown form {form!r}")
    out.append(FOOTER)
    return "".join(out)


def write_spec(folder: Path, blocks: int, form: str = "table") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"synthetic_{form}_{blocks}.yaml"
    path.write_text(spec_text(blocks, form), encoding="utf-8")
    return path


if __name__ == "__main__":  # pragma: no cover - a quick look at a generated spec
    import sys

    sys.stdout.write(
        spec_text(int(sys.argv[1]) if len(sys.argv) > 1 else 8, sys.argv[2] if len(sys.argv) > 2 else "table")
    )
