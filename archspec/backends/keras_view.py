"""The Keras backend's view model: what the templates in ``templates/keras/`` see.

Every field is a finished piece of Python source (a validated identifier, a literal made by
:func:`archspec.backends.naming.literal`, or a spec expression rendered as Python); the
templates only place them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Arg:
    """One call argument: ``value`` alone (positional) or ``key=value``."""

    value: str
    key: str | None = None


@dataclass
class LayerCall:
    """``target = callee(args..., name=name)(source)``."""

    target: str
    callee: str
    args: list[Arg]
    name: str
    source: str
    comment: str | None = None
    kind: str = "layer"


@dataclass
class Assign:
    """``target = value``."""

    target: str
    value: str
    comment: str | None = None
    kind: str = "assign"


@dataclass
class FunctionCall:
    """``target = function(source, args...)``: a block function called from the model."""

    target: str
    function: str
    source: str
    args: list[Arg]
    kind: str = "call"


@dataclass
class Comment:
    text: str
    kind: str = "comment"


@dataclass
class Branch:
    """One arm of an ``if``/``elif``/``else``: ``condition`` is None for ``else``."""

    condition: str | None
    body: list = field(default_factory=list)


@dataclass
class If:
    branches: list[Branch]
    kind: str = "if"


@dataclass(frozen=True)
class Param:
    """A keyword-only parameter; ``default`` is None when it is required."""

    name: str
    default: str | None = None


@dataclass
class BlockFunction:
    name: str
    doc: list[str]
    input: str
    params: list[Param]
    body: list
    result: str


@dataclass
class ModelFunction:
    name: str
    doc: list[str]
    params: list[Param]
    input_name: str
    body: list
    result: str
    model_name: str


@dataclass
class Module:
    doc: list[str]
    header: list[str]
    uses_ops: bool
    torch_pooling: bool
    round_to: bool
    blocks: list[BlockFunction]
    model: ModelFunction
    helpers: list[str] = field(default_factory=list)  # helper layers/functions defined in the file
    #: the inference form (emit(inference=True)): (BatchNorm, convolution) layer names as
    #: Python string literals, the pairs fuse_for_inference() folds; None in the default form
    folds: list[tuple[str, str]] | None = None
