"""What ``check`` verifies before it builds anything: its options, the frameworks it needs, and
whether the two models and their activations fit in memory.

Nothing here imports numpy, torch or TensorFlow at module level: a missing framework must
become a message naming the extra to install, not an ImportError from deep inside.
"""

from __future__ import annotations

import importlib
import math
import os

from archspec.ir.graph import Network

MAX_BATCH = 64
MAX_SEED = 2**32 - 1

#: framework module -> (what to call it, the extra that installs it)
FRAMEWORKS = {
    "numpy": ("numpy", "torch"),
    "torch": ("PyTorch (torch)", "torch"),
    "tensorflow": ("TensorFlow (tensorflow-cpu)", "keras"),
    "keras": ("Keras", "keras"),
}
#: the frameworks each backend's models need
BACKEND_MODULES = {"torch": ("torch",), "keras": ("tensorflow", "keras")}


class MissingDependency(ImportError):
    """A framework ``check`` or ``build_model`` needs is not installed; the message says which
    extra installs it."""


class TooLarge(ValueError):
    """The models and activations would not fit in memory."""


def validate_options(*, batch: int, seed: int, atol: float, rtol: float) -> None:
    """Refuse options no check can run with (ValueError, with a message for the user)."""
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"--batch must be between 1 and {MAX_BATCH}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"--seed must be between 0 and {MAX_SEED} (2**32 - 1)")
    for name, value in (("--atol", atol), ("--rtol", rtol)):
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number (nan would fail every tensor, inf pass every one)")
        if value < 0:
            raise ValueError("--atol and --rtol must not be negative")


def require(modules: tuple[str, ...], command: str) -> None:
    """Import ``modules``; a missing one raises :class:`MissingDependency` naming its extra."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    extras = list(dict.fromkeys(FRAMEWORKS[m][1] for m in modules))
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            what, _ = FRAMEWORKS[module]
            missing = isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == module
            state = "which is not installed" if missing else f"which does not import ({exc})"
            raise MissingDependency(
                f"{command} needs {what}, {state}; install it with: pip install 'archspec-nn[{','.join(extras)}]'"
            ) from None


def require_for_check(torch_inference: bool = False) -> None:
    """The frameworks of ``archspec check`` (``--torch-inference``: PyTorch alone)."""
    if torch_inference:
        require(("numpy", "torch"), "archspec check --torch-inference")
    else:
        require(("numpy", "torch", "tensorflow", "keras"), "archspec check")


def require_for_backend(backend: str) -> None:
    """The framework that instantiates ``backend``'s models."""
    modules = BACKEND_MODULES.get(backend)
    if modules:
        require(modules, f"building a {backend} model")


# ------------------------------------------------------------------------------------------------
# memory


def _prod(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def estimate_bytes(network: Network, *, batch: int, dtype: str, models: int = 2) -> int:
    """An upper estimate of the memory a check of ``network`` allocates, from the IR alone.

    Both models hold their weights and buffers (the PyTorch one is built in float32 and then
    converted, so a float64 check briefly holds it twice); the comparison keeps every compared
    tensor of both models, which is at most every activation of the network, ``batch`` times.
    """
    itemsize = 8 if dtype == "float64" else 4
    weights = 0
    activations = _prod(network.input_shape)
    for node in network.ops():
        for tensor in node.tensors():
            weights += _prod(tensor.shape)
        if node.shape:
            activations += _prod(node.shape)
    weight_bytes = weights * (itemsize * models + (4 if dtype == "float64" else 0))
    return weight_bytes + activations * batch * itemsize * models


def available_bytes() -> int | None:
    """Memory available to this process now (Linux: MemAvailable, capped by a cgroup limit);
    None where it cannot be told."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError):
        pass
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(limit_file, encoding="ascii") as handle:
                text = handle.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            found.append(int(text))
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    return min(found)


def ensure_fits(network: Network, *, batch: int, dtype: str, models: int = 2) -> None:
    """Refuse (:class:`TooLarge`) a check whose estimated memory exceeds what is available."""
    need = estimate_bytes(network, batch=batch, dtype=dtype, models=models)
    have = available_bytes()
    if have is not None and need > have:
        c, h, w = network.input_shape
        raise TooLarge(
            f"checking {network.name!r} at {h}x{w}, batch {batch}, {dtype} needs about {_size(need)} of memory "
            f"(weights and activations of {models} models), and {_size(have)} is available; "
            "use a smaller --input-size or --batch (or --dtype float32)"
        )


def _size(n: int) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n / 1e3:,.1f} KB"
