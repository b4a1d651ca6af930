"""Measure timm models into tests/reference/torch_models.json, the offline ground truth that
CI compares the IR with (tests/test_catalog.py): parameters, torchinfo's mult-adds at
224x224 and every state-dict key with its shape.

    python bench/timm_reference.py resnet26d regnetx_002 ...   # add or refresh these entries
    python bench/timm_reference.py --specs                      # every shipped spec named as a timm model

Needs timm and torchinfo (the ``bench`` extra); an entry already in the file is left alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, peer  # noqa: E402

REFERENCE = ROOT / "tests" / "reference" / "torch_models.json"


def measure(timm, torchinfo, name: str) -> dict:
    model = timm.create_model(name, pretrained=False).eval()
    stats = torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0)
    return {
        "source": f"timm {timm.__version__}",
        "params": sum(p.numel() for p in model.parameters()),
        "mult_adds_224": int(stats.total_mult_adds),
        "state_dict": {key: list(value.shape) for key, value in model.state_dict().items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="timm model names")
    parser.add_argument("--specs", action="store_true", help="every shipped spec whose name is a timm model")
    args = parser.parse_args(argv)
    timm, torchinfo = peer("timm"), peer("torchinfo")
    if timm is None or torchinfo is None:
        return 2
    names = list(args.names)
    if args.specs:
        available = set(timm.list_models())
        names += [p.stem for p in sorted((ROOT / "specs").glob("*.yaml")) if p.stem in available]
    reference = json.loads(REFERENCE.read_text())
    for name in dict.fromkeys(names):
        if name in reference:
            continue  # measured already (torchvision's, or timm's)
        reference[name] = measure(timm, torchinfo, name)
        print(f"{name}: {reference[name]['params']:,} parameters, {reference[name]['mult_adds_224']:,} mult-adds")
    REFERENCE.write_text(json.dumps(reference, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
