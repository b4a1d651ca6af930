"""archspec: a compiler for ResNet-style architecture specs.

YAML spec -> validated graph IR (shapes, params, multiply-accumulates) -> lint ->
PyTorch / Keras source -> numerical cross-check.

The public API imports its heavy dependencies (jinja2, torch, tensorflow) only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "load",
    "build_ir",
    "lint_spec",
    "emit",
    "build_model",
    "transfer_weights",
    "check",
    "list_specs",
]

# Every function that takes a spec takes a path or a catalog name (``"resnet50"``), and
# overrides: ``overrides=["input.size=[160,160]"]`` (or a mapping of dotted path -> value) and
# keyword arguments for the spec's ``vars`` (``num_classes=10`` is ``vars.num_classes=10``).


def _overrides(overrides, variables):
    from archspec.spec import overrides as _o

    return _o.using(_o.normalise(overrides) + _o.normalise({f"vars.{k}": v for k, v in variables.items()}))


def list_specs(pattern="*"):
    """Names of the shipped catalog's specs matching a shell-style ``pattern`` (``"resnet5*"``)."""
    from archspec.catalog import list_specs as _list

    return _list(pattern)


def load(path, input_size=None, overrides=None, **variables):
    """Load a spec (a path or a catalog name) and lower it to the IR
    (:class:`archspec.ir.graph.Network`).

    Raises :class:`archspec.diagnostics.ArchspecError` when the spec cannot be read or lowered.
    """
    from archspec.diagnostics import ArchspecError
    from archspec.ir.build import build_ir as _build
    from archspec.spec.load import load_spec

    with _overrides(overrides, variables):
        network = _build(load_spec(path), input_size)
    errors = [d for d in network.diagnostics if d.is_error]
    if errors:
        raise ArchspecError(errors)
    return network


def build_ir(path, input_size=None, overrides=None, **variables):
    """Alias of :func:`load`."""
    return load(path, input_size, overrides, **variables)


def lint_spec(path_or_network, input_size=None, overrides=None, **variables):
    """All diagnostics for a spec (a path, a catalog name or a loaded network), sorted by position."""
    from archspec.lint import lint_network, lint_path

    if isinstance(path_or_network, (str, bytes)) or hasattr(path_or_network, "__fspath__"):
        with _overrides(overrides, variables):
            return lint_path(path_or_network, input_size)
    return lint_network(path_or_network)


def emit(spec, backend="torch", overrides=None, **variables):
    """Generated source (a string) for ``spec`` (a path, a catalog name or a network) in ``backend``."""
    from archspec.backends import emit as _emit
    from archspec.pipeline import checked_network

    with _overrides(overrides, variables):
        return _emit(checked_network(spec), backend)


def build_model(spec, backend="torch", input_size=None, overrides=None, **variables):
    """The instantiated model (``torch.nn.Module`` or built ``keras.Model``) for ``spec`` (a
    path, a catalog name or a network): ``build_model("resnet50", num_classes=10)``.

    Raises :class:`archspec.crosscheck.guard.MissingDependency` (an ImportError naming the
    extra to install) when the backend's framework is not installed."""
    from archspec.backends import get_backend
    from archspec.crosscheck.guard import require_for_backend
    from archspec.pipeline import checked_network

    with _overrides(overrides, variables):
        network = checked_network(spec, input_size)
    require_for_backend(backend)
    module = get_backend(backend)
    return module.instantiate(module.emit(network), network)


def transfer_weights(torch_model, keras_model, spec, direction="torch_to_keras"):
    """Copy weights and BatchNorm statistics between the PyTorch and Keras models of ``spec``,
    through the IR's mapping (``direction``: ``"torch_to_keras"`` or ``"keras_to_torch"``)."""
    from archspec.crosscheck.weights import transfer_weights as _transfer

    return _transfer(torch_model, keras_model, spec, direction)


def check(spec, input_size=None, overrides=None, **options):
    """Cross-check the PyTorch and Keras models of ``spec`` numerically (see ``archspec check``)."""
    from archspec.crosscheck.guard import require_for_check

    require_for_check()
    from archspec.crosscheck.compare import check_spec

    with _overrides(overrides, {}):
        return check_spec(spec, input_size, **options)
