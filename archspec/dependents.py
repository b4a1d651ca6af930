"""Which specs depend on a file through ``extends:`` or ``use:``.

Changing ``resnet50.yaml`` changes every spec that extends it (ResNet-101, ResNet-152,
SE-ResNet-50, ...), and changing a block file changes every spec that uses it.  ``archspec
build --check --dependents`` checks those too, which is what the pre-commit hook runs: a hook
sees only the files a commit changed.

The search is cheap (``extends:`` and ``use:`` only, no validation) and covers the YAML files
in the folder of each changed file and in the folders above it, up to the working directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["dependents", "with_dependents"]


def _references(path: Path) -> tuple[bool, list[Path]]:
    """(is a spec, the files it names in ``extends:`` and ``use:``); (False, []) if unreadable."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from archspec.diagnostics import ArchspecError
    from archspec.spec.yamlsrc import read_text

    try:
        # read_text: a regular file of a spec's size only (never a FIFO or a device)
        data = YAML(typ="safe", pure=True).load(read_text(path, str(path)))
    except (ArchspecError, OSError, UnicodeDecodeError, YAMLError, ValueError, RecursionError):
        return False, []
    if not isinstance(data, dict):
        return False, []
    named: list[str] = []
    extends = data.get("extends")
    if isinstance(extends, str):
        named.append(extends)
    use = data.get("use")
    if isinstance(use, list):
        named += [u for u in use if isinstance(u, str) and u.endswith((".yaml", ".yml"))]
    resolved = [_resolved(path.parent / name) for name in named]
    return "name" in data, [r for r in resolved if r is not None]  # a symbolic-link loop names nothing


def _resolved(path: Path) -> Path | None:
    """``path`` with symbolic links followed; None for a link loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return None


def _folders(changed: Iterable[Path], stop: Path) -> list[Path]:
    out: list[Path] = []
    for file in changed:
        folder = file.parent
        while True:
            if folder not in out:
                out.append(folder)
            if folder == stop or stop not in folder.parents:
                break
            folder = folder.parent
    return out


def dependents(changed: Iterable[str | os.PathLike[str]], root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The specs that extend or use any of ``changed``, directly or through others, found in
    the folders of ``changed`` and above them up to ``root`` (default: the working directory).
    ``changed`` itself is not included."""
    changed = [r for r in (_resolved(Path(c)) for c in changed) if r is not None]
    stop = Path(root or Path.cwd()).resolve()
    found_files = (_resolved(p) for f in _folders(changed, stop) for p in (*f.glob("*.yaml"), *f.glob("*.yml")))
    candidates = sorted({p for p in found_files if p is not None})
    users: dict[Path, list[Path]] = {}
    is_spec: dict[Path, bool] = {}
    for candidate in candidates:
        spec, named = _references(candidate)
        is_spec[candidate] = spec
        for target in named:
            users.setdefault(target, []).append(candidate)
    found: list[Path] = []
    frontier = list(changed)
    seen = set(changed)
    while frontier:
        current = frontier.pop()
        for user in users.get(current, []):
            if user not in seen:
                seen.add(user)
                frontier.append(user)
                if is_spec.get(user):
                    found.append(user)
    return sorted(found)


def with_dependents(specs: Iterable[str]) -> list[str]:
    """``specs`` (the specs among them: block files are dropped) and every spec depending on
    them, as paths relative to the working directory where possible; each once, in order."""
    from archspec.spec.load import display_path

    given = list(specs)
    out = [s for s in given if _references(Path(s))[0] or not Path(s).is_file()]
    out += [display_path(p) for p in dependents(given)]
    return list(dict.fromkeys(out))
