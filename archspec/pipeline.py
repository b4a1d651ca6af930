"""The one-way pipeline, stage by stage: spec -> IR -> lint -> (backends).

``checked_network`` is the gate in front of every backend: a spec with an error-severity
finding never reaches code generation.
"""

from __future__ import annotations

import os

from archspec.diagnostics import ArchspecError
from archspec.ir.graph import Network


def checked_network(spec: str | os.PathLike[str] | Network, input_size: tuple[int, int] | None = None) -> Network:
    """A network that loaded and linted without errors; else :class:`ArchspecError`."""
    from archspec.ir.build import build_ir
    from archspec.lint import lint_network
    from archspec.spec.load import load_spec

    if isinstance(spec, Network):
        network = spec
        if input_size is not None and tuple(input_size) != network.input_shape[1:]:
            network = build_ir(network.spec, input_size)
    else:
        network = build_ir(load_spec(spec), input_size)
    errors = [d for d in lint_network(network) if d.is_error]
    if errors:
        raise ArchspecError(errors)
    return network
