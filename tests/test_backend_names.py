"""Lint refuses every name a backend would refuse, so a bad name is reported at its spec line
(AS108) rather than as a backend error."""

from __future__ import annotations

from archspec.backends import keras_backend, torch_backend
from archspec.lint.rules_names import CODE_RESERVED


def test_backend_reserved_names_are_known_to_lint():
    torch_names = {n for n in torch_backend.INIT_RESERVED if not n.startswith("_")}
    keras_names = keras_backend.MODULE_NAMES | keras_backend.BLOCK_VARIABLES | keras_backend.MODEL_VARIABLES
    assert torch_names - CODE_RESERVED == set()
    assert keras_names - CODE_RESERVED == set()
