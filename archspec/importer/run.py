"""``archspec import``: resolve a target, trace it, recover the spec, prove the round trip."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class TargetError(Exception):
    """The target cannot be found, loaded or called (a usage problem: exit 2)."""


@dataclass
class ImportResult:
    name: str
    framework: str
    text: str | None = None  # the spec (None: not written)
    problems: list[str] = field(default_factory=list)  # unmapped layers and structure problems
    check: Any = None  # CheckResult of the round trip
    renames: dict[str, str] = field(default_factory=dict)
    network: Any = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.check is not None and self.check.passed


def _snake(text: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", text).lower()
    s = re.sub(r"[^a-z0-9_]", "_", s).strip("_")
    return s if s and s[0].isalpha() else f"model_{s}"


def parse_args(text: str | None) -> tuple[list, dict]:
    """``--args``: a JSON object (keyword arguments), a JSON list (positional) or k=v pairs."""
    if not text:
        return [], {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
        kwargs = {}
        for part in text.split(","):
            if "=" not in part:
                raise TargetError(f"--args {text!r}: give a JSON object, a JSON list or key=value pairs") from None
            k, v = part.split("=", 1)
            try:
                kwargs[k.strip()] = json.loads(v)
            except json.JSONDecodeError:
                kwargs[k.strip()] = v.strip()
        return [], kwargs
    if isinstance(value, dict):
        return [], value
    if isinstance(value, list):
        return value, {}
    raise TargetError(f"--args {text!r}: give a JSON object or list")


def resolve(target: str, args: str | None = None) -> tuple[Any, str, str]:
    """(model, framework, default spec name) for a TARGET."""
    if target.endswith((".keras", ".h5")):
        if not os.path.exists(target):
            raise TargetError(f"{target}: no such file")
        from archspec.crosscheck.compare import quiet_tensorflow

        quiet_tensorflow()
        try:
            import keras
        except ImportError:
            raise TargetError("importing a Keras model needs keras (pip install 'archspec[keras]')") from None
        model = keras.models.load_model(target, compile=False)
        return model, "keras", _snake(Path(target).stem)
    peer = _catalog_peer(target)
    if peer is not None:
        return peer
    if ":" in target:
        where, _, attr = target.rpartition(":")
    elif "." in target:
        where, _, attr = target.rpartition(".")
    else:
        raise TargetError(f"{target!r}: give package.module:factory, path/to/file.py:ClassOrFactory or a .keras file")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise TargetError(f"{where}: no such file")
        module_name = f"archspec_import_{_snake(path.stem)}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[module_name] = module
        sys.path.insert(0, str(path.parent.resolve()))
        try:
            with contextlib.redirect_stdout(sys.stderr):  # the file's prints must not mix with ours
                spec.loader.exec_module(module)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - the user's file failed: say so
            raise TargetError(f"{where} failed to import: {type(exc).__name__}: {exc}") from None
        finally:
            sys.path.pop(0)
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:  # noqa: BLE001
            raise TargetError(f"cannot import {where}: {type(exc).__name__}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise TargetError(f"{where} has no attribute {attr!r}")
        obj = getattr(obj, part)
    pos, kw = parse_args(args)
    framework = _framework(obj)
    if framework is None:
        if not callable(obj):
            raise TargetError(f"{target} is neither a model nor a class or function that makes one")
        try:
            with contextlib.redirect_stdout(sys.stderr):
                obj = obj(*pos, **kw)
        except Exception as exc:  # noqa: BLE001
            raise TargetError(f"{target}({_show(pos, kw)}) failed: {type(exc).__name__}: {exc}") from None
        framework = _framework(obj)
        if framework is None:
            raise TargetError(f"{target} made a {type(obj).__name__}, not a PyTorch or Keras model")
    elif pos or kw:
        raise TargetError(f"{target} is already a model; --args applies to a class or factory")
    return obj, framework, _snake(attr.split(".")[-1])


def _catalog_peer(target: str) -> tuple[Any, str, str] | None:
    """A catalog name (``resnet50``) stands for the published model its spec names as ``peer:``
    (``torchvision.models.resnet50``, ``timm.create_model('resnet50d')``)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", target):
        return None
    from archspec.catalog import list_specs, specs_dir

    if target not in list_specs():
        return None
    text = (specs_dir() / f"{target}.yaml").read_text(encoding="utf-8")
    found = re.search(r"^peer:\s*\"?([^\"\n]+)\"?\s*$", text, re.M)
    if found is None:
        raise TargetError(f"the catalog's {target} names no published model (peer:) to import")
    peer = found.group(1).strip()
    timm_call = re.fullmatch(r"timm\.create_model\('([\w.]+)'\)", peer)
    try:
        if timm_call:
            import timm

            return timm.create_model(timm_call.group(1)), "torch", target
        module, _, attr = peer.rpartition(".")
        return getattr(importlib.import_module(module), attr)(), "torch", target
    except Exception as exc:  # noqa: BLE001 - the peer's package is missing or fails: a usage problem
        raise TargetError(f"{target}: cannot make its peer {peer}: {type(exc).__name__}: {exc}") from None


def _show(pos, kw) -> str:
    return ", ".join([repr(p) for p in pos] + [f"{k}={v!r}" for k, v in kw.items()])


def _framework(obj: Any) -> str | None:
    if "torch" in sys.modules:
        import torch

        if isinstance(obj, torch.nn.Module):
            return "torch"
    if "keras" in sys.modules:
        import keras

        if isinstance(obj, keras.Model):
            return "keras"
    return None


def trace(model: Any, framework: str, name: str, input_size: tuple[int, int] | None):
    if framework == "torch":
        from archspec.importer import torch_trace

        size = input_size or (224, 224)
        return torch_trace.trace(model, (_torch_channels(model), *size), name)
    from archspec.importer import keras_trace

    return keras_trace.trace(model, name, input_size)


def _torch_channels(model) -> int:
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            return m.in_channels
    return 3


def import_model(
    model: Any,
    framework: str,
    name: str,
    *,
    target: str = "",
    input_size: tuple[int, int] | None = None,
    partial: bool = False,
    out_dir: str | os.PathLike[str] | None = None,
    roundtrip: bool = True,
    annotate: bool = False,
    library: bool = True,
) -> ImportResult:
    """Import ``model``: the spec text, the problems and the round trip's result.  With
    ``library=False`` every block type is spelled out, none written as a library block."""
    from archspec.importer.structure import StructureError, recover
    from archspec.importer.torch_trace import ImportFailure
    from archspec.importer.writer import render

    result = ImportResult(name, framework)
    try:
        flat = trace(model, framework, name, input_size)
    except ImportFailure as exc:
        result.problems.append(str(exc))
        return result
    result.problems.extend(flat.problems)
    if flat.problems and not partial:
        return result
    base = {"name": name, "doc": f"Imported from {target or name} by archspec import.", "input": {}}
    base["input"] = {"channels": flat.input_shape[0], "size": list(flat.input_shape[1:])}
    check = None
    if library and not flat.problems:
        from archspec.importer.library import fingerprint

        def check(part: dict[str, Any]) -> Any:
            return fingerprint(render({**base, **part}, []), framework)

    try:
        rec = recover(flat, flat.input_shape[1:], check)
    except StructureError as exc:
        result.problems.append(str(exc))
        return result
    result.renames = rec.renames
    spec = dict(base)
    head = rec.spec["head"]
    linears = [layer for layer in head if layer.get("op") == "linear"]
    if linears:
        spec["vars"] = {"num_classes": linears[-1]["units"]}
        linears[-1]["units"] = "num_classes"
    spec.update(rec.spec)
    header = [
        f"Imported by `archspec import {target or name}`: names are the original's "
        + ("module paths" if framework == "torch" else "layer names")
        + "."
    ]
    if rec.renames:
        header.append("Blocks the spec language cannot name as the original does (not items of a Sequential):")
        header.extend(f"  {old} -> {new}" for old, new in list(rec.renames.items()))
    if flat.problems:
        header.append("PARTIAL: layers marked 'op: unmapped' have no archspec op; this spec does not lint clean.")
    text = render(spec, header, annotate)
    result.text = text
    if flat.problems or not roundtrip:
        return result

    from archspec.backends import BackendError
    from archspec.diagnostics import ArchspecError

    try:
        result.network, result.check = prove(text, model, flat, rec, name, out_dir)
    except (ArchspecError, BackendError) as exc:
        result.problems.append(f"the recovered spec does not build: {exc}")
    return result


def prove(text: str, model: Any, flat, rec, name: str, out_dir=None):
    """Build the spec, transfer the weights, compare (see :mod:`archspec.importer.roundtrip`)."""
    from archspec.importer import roundtrip
    from archspec.pipeline import checked_network

    directory = Path(out_dir) if out_dir else None
    del directory
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        network = checked_network(path)
    if flat.framework == "torch":
        return network, roundtrip.torch_roundtrip(model, network, flat, rec)
    return network, roundtrip.keras_roundtrip(model, network, flat, rec)
