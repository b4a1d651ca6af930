"""Backends: IR -> view model -> Jinja template -> formatted Python source.

Each backend module exposes ``NAME``, ``emit(network) -> str`` (the complete, formatted
source of a standalone module) and ``instantiate(source, network)`` (the framework model
built from that source).  Backends are imported lazily: ``archspec lint`` never imports
jinja2, torch or tensorflow.
"""

from __future__ import annotations

import importlib
from types import ModuleType

BACKENDS = {
    "torch": "archspec.backends.torch_backend",
    "keras": "archspec.backends.keras_backend",
}


class BackendError(RuntimeError):
    """The IR cannot be expressed in this backend (a clear message, not a traceback)."""


def get_backend(name: str) -> ModuleType:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[name])


def emit(network, backend: str) -> str:
    return get_backend(backend).emit(network)
