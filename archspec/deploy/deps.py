"""Optional dependencies: imported on use, and named with the extra that installs them."""

from __future__ import annotations

import importlib
from types import ModuleType

#: module -> (what it is for, the extra that installs it)
EXTRAS = {
    "torch": "torch",
    "keras": "keras",
    "tensorflow": "keras",
    "h5py": "keras",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "onnxscript": "onnx",
    "safetensors": "safetensors",
}


class MissingDependency(Exception):
    """An optional dependency is not installed (the CLI exits 2 with this message)."""

    def __init__(self, module: str, purpose: str):
        extra = EXTRAS.get(module, module)
        self.module, self.extra = module, extra
        super().__init__(f"{purpose} needs {module}, which is not installed: pip install 'archspec-nn[{extra}]'")


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] != module.split(".")[0]:
            raise  # the module is there but one of its own imports is broken: not ours to hide
        raise MissingDependency(module, purpose) from None
