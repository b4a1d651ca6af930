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


def test_lint_refuses_every_layer_name_the_torch_backend_refuses():
    from archspec.backends.torch_lowering import TENSOR_OPS as BACKEND_TENSOR_OPS
    from archspec.backends.torch_scope import MODULE_ATTRS
    from archspec.lint.rules_names import MODULE_RESERVED, TENSOR_OPS, _bad_attribute

    assert MODULE_ATTRS <= MODULE_RESERVED
    assert all(_bad_attribute(name) for name in MODULE_ATTRS)
    assert BACKEND_TENSOR_OPS == TENSOR_OPS
