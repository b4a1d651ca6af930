"""Writes :mod:`archspec.backends.reserved_names` from the installed frameworks.

Run it after upgrading torch or keras (``tests/test_reserved_names.py`` fails until you do)::

    python -m archspec.backends.reserved_names_gen          # rewrite the committed list
    python -m archspec.backends.reserved_names_gen --check  # exit 1 if it is stale

The list is committed, so that ``archspec lint`` knows every name without importing a framework.
It holds what a name in the spec must not be, as the frameworks define it:

- ``TORCH_MODULE_ATTRS``: every attribute of ``torch.nn.Module`` (``dir`` of the class and of an
  instance, so also the state ``__init__`` sets: ``training``, ``_parameters``, ``_modules`` ...),
  dunders left out (they are refused as a class).  A submodule by one of these names would
  shadow it.
- ``TORCH_CONTAINER_ATTRS``: the further attributes of ``nn.Sequential`` and ``nn.ModuleDict``
  (a child by one of these names is subscripted, never accessed as an attribute).
- ``KERAS_NAME_FORBIDDEN``: the printable ASCII characters Keras refuses in a layer name.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TARGET = Path(__file__).with_name("reserved_names.py")


def _public(names: set[str]) -> list[str]:
    return sorted(n for n in names if not (n.startswith("__") and n.endswith("__")))


def collect() -> dict[str, list[str]]:
    """The lists, read from the installed torch, keras and Python."""
    import keras
    import torch

    module = torch.nn.Module()
    attrs = set(dir(torch.nn.Module)) | set(dir(module)) | set(vars(module))
    containers: set[str] = set()
    for cls, instance in ((torch.nn.Sequential, torch.nn.Sequential()), (torch.nn.ModuleDict, torch.nn.ModuleDict())):
        containers |= set(dir(cls)) | set(dir(instance)) | set(vars(instance))
    forbidden = []
    for code in range(32, 127):
        char = chr(code)
        try:
            keras.layers.Identity(name=f"a{char}b")
        except ValueError:
            forbidden.append(char)
    return {
        "TORCH_MODULE_ATTRS": _public(attrs),
        "TORCH_CONTAINER_ATTRS": _public(containers - attrs),
        "KERAS_NAME_FORBIDDEN": forbidden,
    }


def render(lists: dict[str, list[str]], versions: str) -> str:
    out = [
        '"""Names the frameworks reserve (generated: do not edit).',
        "",
        "Written by ``python -m archspec.backends.reserved_names_gen`` from " + versions + ";",
        "``tests/test_reserved_names.py`` fails when the installed frameworks define a name missing here.",
        '"""',
        "",
    ]
    for key, names in lists.items():
        if key == "KERAS_NAME_FORBIDDEN":
            out.append(f"{key} = {json.dumps(''.join(names))}")
            continue
        out.append(f"{key} = frozenset(")
        out.append("    {")
        out.extend(f"        {json.dumps(name)}," for name in names)
        out.append("    }")
        out.append(")")
    return "\n".join(out) + "\n"


def versions() -> str:
    import keras
    import torch

    return f"torch {torch.__version__.split('+')[0]} and keras {keras.__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed list is stale")
    args = parser.parse_args(argv)
    text = render(collect(), versions())
    if args.check:
        stale = TARGET.read_text(encoding="utf-8") != text
        if stale:
            print(f"{TARGET} is stale: run python -m archspec.backends.reserved_names_gen", file=sys.stderr)
        return 1 if stale else 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
