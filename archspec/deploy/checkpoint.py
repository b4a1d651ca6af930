"""Checkpoint files: read, checked against the IR, written atomically.

- PyTorch: a state dict in ``.pt``/``.pth`` (``torch.load(weights_only=True)``: no code in the
  file runs) or ``.safetensors``.  A training checkpoint that wraps the state dict under
  ``state_dict``/``model``/``model_state_dict`` is unwrapped, and a ``module.`` prefix on every
  key (``DataParallel``) is dropped; both are reported.
- Keras: a Keras 3 weights file (``.weights.h5``: ``layers/<class name>_<n>/vars/<i>``, one group
  per layer in the model's layer order, which is how Keras itself loads it) or a Keras 2 HDF5
  weights file (``.h5``: one group per layer name, as keras.applications' downloads are).
- PyTorch's BatchNorm ``num_batches_tracked`` (a count of training batches; Keras has no such
  variable) travels in a Keras file archspec writes as the root attribute
  ``archspec.num_batches_tracked``: JSON, state-dict key to count.  Keras ignores the attribute,
  so the file still loads with ``load_weights``; converted back, every count comes back.  A Keras
  file without it (one Keras wrote) gives the PyTorch model 0 in every BatchNorm, the count of a
  freshly built model, and the conversion says so.

The expected tensors come from the IR (:meth:`Node.tensors`, PyTorch layout; Keras' layout is
the same permutation :mod:`archspec.crosscheck.weights` applies).  Every missing, unexpected or
mis-shaped tensor is one :class:`Problem` naming the key and both shapes; the caller writes
nothing unless there are none.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archspec.crosscheck.weights import KERAS_NAMES, keras_shape
from archspec.deploy.deps import require
from archspec.ir.graph import Network

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
KERAS_SUFFIXES = (".weights.h5", ".h5", ".hdf5")
WRAPPERS = ("state_dict", "model_state_dict", "model", "module", "net")
#: the root attribute of a Keras weights file that carries PyTorch's BatchNorm batch counts
COUNTS_ATTR = "archspec.num_batches_tracked"


class CheckpointError(Exception):
    """The file cannot be read as a checkpoint of the expected kind (truncated, corrupted, the
    wrong format)."""


@dataclass
class Problem:
    key: str
    kind: str  # missing | unexpected | shape | dtype | nonfinite
    found: list[int] | None
    expected: list[int] | None
    note: str = ""

    def message(self) -> str:
        def fmt(shape):
            return "(" + ", ".join(map(str, shape)) + ")" if shape is not None else "-"

        if self.note:
            return f"{self.key}: {self.note}"
        if self.kind == "missing":
            return f"{self.key}: missing from the checkpoint (the spec expects shape {fmt(self.expected)})"
        if self.kind == "unexpected":
            return f"{self.key}: in the checkpoint with shape {fmt(self.found)}, but the spec has no such tensor"
        if self.kind == "shape":
            return f"{self.key}: the checkpoint has shape {fmt(self.found)}, the spec expects {fmt(self.expected)}"
        return f"{self.key}: {self.note}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "found": self.found,
            "expected": self.expected,
            "message": self.message(),
        }


def framework_of(path: str | os.PathLike[str]) -> str | None:
    name = str(path).lower()
    if name.endswith(KERAS_SUFFIXES):
        return "keras"
    if name.endswith(TORCH_SUFFIXES):
        return "torch"
    return None


# ------------------------------------------------------------------------------------------------
# PyTorch


def torch_expected(network: Network) -> dict[str, tuple[int, ...]]:
    """Every state-dict key of the spec's PyTorch model and its shape, in network order."""
    out: dict[str, tuple[int, ...]] = {}
    for node in network.ops():
        for tensor in node.tensors():
            out[f"{node.torch_path}.{tensor.name}"] = tuple(tensor.shape)
    return out


def read_torch(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """The state dict in ``path`` as float arrays (keys as stored), and notes on what was done
    to find it.  Raises :class:`CheckpointError` for a file that is not a readable state dict."""
    notes: list[str] = []
    if str(path).lower().endswith(".safetensors"):
        require("safetensors", "reading .safetensors")
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            raw: Any = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"not a readable safetensors file ({_short(exc)})") from None
        except Exception as exc:  # bfloat16 and other dtypes numpy lacks: go through torch
            torch = require("torch", "reading this .safetensors file")
            from safetensors.torch import load_file as load_torch

            del torch
            try:
                raw = load_torch(str(path))
            except Exception:
                raise CheckpointError(f"not a readable safetensors file ({_short(exc)})") from None
    else:
        torch = require("torch", "reading PyTorch checkpoints")
        try:
            raw = _torch_load(torch, path)
        except (OSError, MemoryError) as exc:
            if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
                raise
            raise CheckpointError(f"not a readable PyTorch checkpoint ({_short(exc)})") from None
        except Exception as exc:  # UnpicklingError, RuntimeError, EOFError, BadZipFile, ...
            if isinstance(exc, zipfile.BadZipFile) or "Unsupported global" not in str(exc):
                raise CheckpointError(f"not a readable PyTorch checkpoint ({_short(exc)})") from None
            raise CheckpointError(
                "the checkpoint holds Python objects besides tensors, which archspec does not "
                "load (torch.load(weights_only=True) refused it); save model.state_dict() instead"
            ) from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"the file holds a {type(raw).__name__}, not a state dict (a mapping of name to tensor)")
    if not _is_tensor_dict(raw):
        for key in WRAPPERS:
            if isinstance(raw.get(key), dict) and _is_tensor_dict(raw[key]):
                notes.append(f"took the state dict under the checkpoint's {key!r} entry")
                raw = raw[key]
                break
        else:
            bad = next(k for k, v in raw.items() if not _is_tensor(v))
            raise CheckpointError(
                f"entry {bad!r} is a {type(raw[bad]).__name__}, not a tensor, and the file has no "
                f"state dict under {', '.join(repr(w) for w in WRAPPERS)}"
            )
    if raw and all(str(k).startswith("module.") for k in raw):
        notes.append("dropped the 'module.' prefix (a DataParallel checkpoint)")
        raw = {str(k)[len("module.") :]: v for k, v in raw.items()}
    return {str(k): _to_numpy(v) for k, v in raw.items()}, notes


def _torch_load(torch, path: Path):
    """``torch.load(weights_only=True)``, the file mapped rather than read where its format
    allows: the tensors are then pages of the file, which the kernel can drop and read again,
    not a copy in memory (a 5 GB checkpoint of a 1.3B-parameter network otherwise takes 5 GB
    more while it converts).  Files in the format before PyTorch 1.6 are read."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise
    return torch.load(str(path), map_location="cpu", weights_only=True)


def _is_tensor(value) -> bool:
    return isinstance(value, np.ndarray) or type(value).__name__ in ("Tensor", "Parameter")


def _is_tensor_dict(value: dict) -> bool:
    return bool(value) and all(_is_tensor(v) for v in value.values())


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    value = value.detach().cpu()
    if value.dtype.is_floating_point and value.element_size() < 4:  # float16, bfloat16
        value = value.float()
    return value.numpy()


def check_torch(state: dict[str, np.ndarray], network: Network) -> list[Problem]:
    """Every missing, unexpected and mis-shaped tensor, and every floating tensor with a
    non-finite value.  ``num_batches_tracked`` may be absent (it does not change the model)."""
    expected = torch_expected(network)
    problems: list[Problem] = []
    for key, shape in expected.items():
        if key not in state:
            if not key.endswith(".num_batches_tracked"):
                problems.append(Problem(key, "missing", None, list(shape)))
            continue
        value = state[key]
        if tuple(value.shape) != shape:
            problems.append(Problem(key, "shape", list(value.shape), list(shape)))
            continue
        problems.extend(_value_problems(key, value, integer=key.endswith(".num_batches_tracked")))
    for key, value in state.items():
        if key not in expected:
            problems.append(Problem(key, "unexpected", list(value.shape), None))
    return problems


def _value_problems(key: str, value: np.ndarray, integer: bool = False) -> list[Problem]:
    shape = list(value.shape)
    if integer:
        return []
    if value.dtype.kind != "f":
        return [Problem(key, "dtype", shape, shape, f"has dtype {value.dtype}, expected a floating-point tensor")]
    bad = int(value.size - np.count_nonzero(np.isfinite(value)))
    if bad:
        return [Problem(key, "nonfinite", shape, shape, f"{bad} of its {value.size} values are NaN or infinite")]
    return []


def write_torch(state: dict[str, Any], path: Path) -> None:
    """Write a state dict (``torch.Tensor`` values) to ``.pt``/``.pth`` or ``.safetensors``,
    atomically."""
    if str(path).lower().endswith(".safetensors"):
        require("safetensors", "writing .safetensors")
        from safetensors.torch import save_file

        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))
    else:
        torch = require("torch", "writing PyTorch checkpoints")
        atomic_write(path, lambda tmp: torch.save(dict(state), str(tmp)))


# ------------------------------------------------------------------------------------------------
# Keras


@dataclass
class KerasSlot:
    """One weighted layer of the generated Keras model, as its weights file stores it."""

    file_key: str  # layers/<class name>_<n> in a Keras 3 file
    layer: str  # layer name
    var_names: list[str]
    shapes: list[tuple[int, ...]]


def keras_expected(network: Network, keras_model) -> list[KerasSlot]:
    """Every weighted layer of ``keras_model`` (the spec's generated model): its key in a Keras 3
    weights file (Keras names a layer there by its class and its rank among the layers of that
    class, in model order), its name, and its weights' shapes as the IR gives them, in Keras'
    layout."""
    from keras.src.utils.naming import to_snake_case

    by_name = {}
    for node in network.ops():
        tensors = [t for t in node.tensors() if t.name != "num_batches_tracked"]
        if tensors:
            shapes = [keras_shape(node, t.name, t.shape) for t in tensors]
            names = KERAS_NAMES.get(node.op, [t.name for t in tensors])[: len(tensors)]
            by_name[node.keras_name] = (names, shapes)
    used: dict[str, int] = {}
    slots = []
    for layer in keras_model.layers:
        name = to_snake_case(type(layer).__name__)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        if layer.name in by_name:
            names, shapes = by_name.pop(layer.name)
            slots.append(KerasSlot(f"layers/{name}", layer.name, names, shapes))
        elif layer.weights:
            raise ValueError(f"the generated Keras model's layer {layer.name!r} has weights the IR does not know")
    if by_name:
        raise ValueError(f"the generated Keras model lacks the layers {sorted(by_name)}")
    return slots


@dataclass
class KerasWeights:
    format: str  # keras3 | legacy
    groups: dict[str, list[np.ndarray]]  # file key (keras3) or layer name (legacy) -> arrays
    #: PyTorch's num_batches_tracked per state-dict key, from the file's metadata (None: absent)
    counts: dict[str, int] | None = None


def _read_counts(f) -> dict[str, int] | None:
    if COUNTS_ATTR not in f.attrs:
        return None
    raw = f.attrs[COUNTS_ATTR]
    try:
        counts = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except ValueError:
        counts = None
    if not isinstance(counts, dict) or not all(
        isinstance(k, str) and type(v) is int and v >= 0 for k, v in counts.items()
    ):
        raise CheckpointError(f"its {COUNTS_ATTR} attribute is not a mapping of key to count")
    return counts


def _array(path: Path, dataset) -> np.ndarray:
    """The dataset's values: mapped from the file where they lie in it as one plain block (how
    Keras writes them), so that they are pages of the file rather than a copy in memory, as
    PyTorch checkpoints are read; read otherwise (chunked, compressed, small)."""
    offset = dataset.id.get_offset() if dataset.chunks is None and dataset.compression is None else None
    if offset is None or dataset.size * dataset.dtype.itemsize < 1 << 20 or not dataset.dtype.isnative:
        return np.asarray(dataset)
    end = offset + dataset.size * dataset.dtype.itemsize
    if end > Path(path).stat().st_size:
        raise CheckpointError(f"{dataset.name} runs past the end of the file")
    return np.memmap(path, dtype=dataset.dtype, mode="r", offset=offset, shape=dataset.shape)


def read_keras(path: Path) -> KerasWeights:
    """The weights in a Keras 3 ``.weights.h5`` or a Keras 2 HDF5 weights file."""
    h5py = require("h5py", "reading Keras weights files")
    try:
        handle = h5py.File(str(path), "r")
    except OSError as exc:
        if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise CheckpointError(f"not a readable HDF5 weights file ({_short(exc)})") from None
    try:
        with handle as f:
            if "layers" in f and isinstance(f["layers"], h5py.Group) and "layer_names" not in f.attrs:
                groups = {}
                for key, group in f["layers"].items():
                    variables = group.get("vars")
                    if variables is None or not len(variables):
                        continue
                    groups[f"layers/{key}"] = [
                        _array(path, variables[str(i)]) for i in sorted(int(i) for i in variables.keys())
                    ]
                return KerasWeights("keras3", groups, _read_counts(f))
            root = f["model_weights"] if "model_weights" in f else f
            if "layer_names" not in root.attrs:
                raise CheckpointError("an HDF5 file, but neither a Keras 3 weights file nor a Keras 2 one")
            groups = {}
            for layer in root.attrs["layer_names"]:
                layer = layer.decode() if isinstance(layer, bytes) else str(layer)
                group = root[layer]
                names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
                if names:
                    groups[layer] = [_array(path, group[n]) for n in names]
            return KerasWeights("legacy", groups, _read_counts(f))
    except CheckpointError:
        raise
    except Exception as exc:  # a damaged HDF5 structure surfaces as KeyError, OSError, RuntimeError
        raise CheckpointError(f"the HDF5 weights file is damaged ({_short(exc)})") from None


def check_keras(weights: KerasWeights, slots: list[KerasSlot]) -> list[Problem]:
    """Every missing, unexpected and mis-shaped weight (named ``layer.variable`` and, in a Keras 3
    file, where the file stores it), and every weight with a non-finite value."""
    problems: list[Problem] = []
    known = set()
    for slot in slots:
        key = slot.file_key if weights.format == "keras3" else slot.layer
        known.add(key)
        stored = weights.groups.get(key)
        for i, (var, shape) in enumerate(zip(slot.var_names, slot.shapes)):
            label = f"{slot.layer}.{var}" + (f" ({key}/vars/{i})" if weights.format == "keras3" else "")
            if stored is None or i >= len(stored):
                problems.append(Problem(label, "missing", None, list(shape)))
                continue
            if tuple(stored[i].shape) != shape:
                problems.append(Problem(label, "shape", list(stored[i].shape), list(shape)))
                continue
            problems.extend(_value_problems(label, stored[i]))
        for j in range(len(slot.shapes), len(stored or [])):
            problems.append(Problem(f"{slot.layer} ({key}/vars/{j})", "unexpected", list(stored[j].shape), None))
    for key, arrays in weights.groups.items():
        if key not in known:
            for j, value in enumerate(arrays):
                label = f"{key}/vars/{j}" if weights.format == "keras3" else f"{key}[{j}]"
                problems.append(Problem(label, "unexpected", list(value.shape), None))
    return problems


def check_counts(counts: dict[str, int] | None, network: Network) -> list[Problem]:
    """A count in the file's metadata for a BatchNorm the spec does not have is a problem (the
    file belongs to another network); a BatchNorm without one is not (its count is 0)."""
    expected = {k for k in torch_expected(network) if k.endswith(".num_batches_tracked")}
    return [
        Problem(key, "unexpected", [], None, f"in the file's {COUNTS_ATTR}, but the spec has no such tensor")
        for key in (counts or {})
        if key not in expected
    ]


def load_keras(keras_model, weights: KerasWeights, slots: list[KerasSlot]) -> None:
    """Set the checked ``weights`` on the generated model's layers."""
    for slot in slots:
        layer = keras_model.get_layer(slot.layer)
        values = weights.groups[slot.file_key if weights.format == "keras3" else slot.layer]
        current = layer.get_weights()
        layer.set_weights([v.astype(c.dtype) for v, c in zip(values, current)])


def write_keras(keras_model, path: Path, counts: dict[str, int] | None = None) -> None:
    """``keras_model.save_weights`` (a Keras 3 ``.weights.h5``), with PyTorch's BatchNorm
    ``counts`` in its metadata when given, atomically."""
    if not str(path).lower().endswith(".weights.h5"):
        raise ValueError("Keras weights are written as a .weights.h5 file")

    def write(tmp: Path) -> None:
        keras_model.save_weights(str(tmp))
        if counts:
            h5py = require("h5py", "writing Keras weights files")
            with h5py.File(str(tmp), "r+") as f:
                f.attrs[COUNTS_ATTR] = json.dumps(counts)

    atomic_write(path, write, suffix=".weights.h5")


# ------------------------------------------------------------------------------------------------


def atomic_write(path: Path, write: Callable[[Path], object], suffix: str = ".tmp") -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then move it into place.  A
    failure leaves any existing ``path`` untouched and no temporary file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        tmp.unlink()  # some writers refuse an existing file
        write(tmp)
        if tmp.is_file():  # mkstemp's 0600, as any file this process creates gets
            tmp.chmod(file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def file_mode() -> int:
    """The mode a new file of this process gets (0o666 less the umask): a temporary file made
    with mkstemp (0600) gets it before it is moved into place."""
    current = os.umask(0o022)
    os.umask(current)
    return 0o666 & ~current


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) < 160 else text[:157] + "..."
