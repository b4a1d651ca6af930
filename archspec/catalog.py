"""The shipped catalog: specs by name.

The specs under ``specs/`` are installed with the package (``archspec/specs`` in the wheel; a
source checkout uses ``specs/`` directly), so ``archspec build resnet50`` and
``archspec.build_model("resnet50")`` work from any folder.  Wherever a spec path is taken, a
catalog name is taken too; a file of that name in the working directory wins.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

_PACKAGE_SPECS = Path(__file__).resolve().parent / "specs"
_SOURCE_SPECS = Path(__file__).resolve().parent.parent / "specs"


def specs_dir() -> Path:
    """Where the catalog lives: inside the installed package, or a source checkout's ``specs/``."""
    return _PACKAGE_SPECS if _PACKAGE_SPECS.is_dir() else _SOURCE_SPECS


def list_specs(pattern: str = "*") -> list[str]:
    """Catalog names matching a shell-style ``pattern`` (``resnet5*``, ``*resnext*``), sorted."""
    folder = specs_dir()
    if not folder.is_dir():
        return []
    names = sorted(p.stem for p in folder.glob("*.yaml"))
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def resolve(spec: str | os.PathLike[str]) -> Path:
    """``spec`` as a path: an existing file as given; else a catalog name (``resnet50`` or
    ``resnet50.yaml`` without a folder) when the catalog has it; else the path as given (so
    that reading it reports the missing file)."""
    path = Path(spec)
    if path.exists() or path.parent != Path("."):
        return path
    name = path.name[: -len(".yaml")] if path.name.endswith(".yaml") else path.name
    candidate = specs_dir() / f"{name}.yaml"
    return candidate if name and candidate.is_file() else path


@dataclass(frozen=True)
class Entry:
    """One catalog row."""

    name: str
    path: Path
    params: int
    macs: int
    peer: str | None
    doc: str


def entries(pattern: str = "*") -> list[Entry]:
    """The catalog's rows (parameters and mult-adds at each spec's declared input size)."""
    from archspec.ir.build import build_ir
    from archspec.spec.load import load_spec

    rows = []
    for name in list_specs(pattern):
        path = specs_dir() / f"{name}.yaml"
        loaded = load_spec(path, overrides=())
        network = build_ir(loaded)
        rows.append(Entry(name, path, network.params, network.macs, loaded.spec.peer, loaded.spec.doc or ""))
    return rows
