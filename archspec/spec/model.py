"""The spec language, as pydantic models.

A spec is plain data: these models check its structure (unknown keys are errors, thanks to
``extra="forbid"``).  Op attributes inside a layer (``filters``, ``kernel``, ...) may be
expressions over block parameters, so they are checked later, against the op registry,
once the expressions are evaluated (see :mod:`archspec.ir.build`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

# A torch module path segment list ("conv1", "downsample.0", "se.fc1") and a Keras name part.
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|[0-9]+))*$")
KERAS_RE = re.compile(r"^[A-Za-z0-9_]+$")
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

ArgScalar = Union[bool, int, float, str]
ArgValue = Union[ArgScalar, list[ArgScalar]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


def _check_name(value: str | None) -> str | None:
    if value is None:
        return value
    if not NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid layer name: use letters, digits and '_', "
            "dot-separated parts (as in 'downsample.0'), not starting with a digit"
        )
    return value


def _check_keras(value: str | None) -> str | None:
    if value is None:
        return value
    if not KERAS_RE.match(value):
        raise ValueError(f"{value!r} is not a valid Keras name part: use letters, digits and '_'")
    return value


class Layer(BaseModel):
    """One op.  ``op`` names the kind; the other keys are the op's attributes."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)

    op: str = Field(description="op kind: conv, batchnorm, relu, maxpool, add, ...")
    name: str | None = Field(None, description="module path inside its scope, e.g. conv1 or downsample.0")
    keras: str | None = Field(None, description="Keras layer-name part inside its scope, e.g. 1_conv")
    inputs: list[str] | None = Field(
        None, description="names of earlier layers in the same scope (or 'input'); default: the previous layer"
    )
    when: bool | str | None = Field(None, description="condition on block parameters; the layer exists only if true")
    in_channels: int | str | None = Field(
        None, description="declared input channels, checked against inference (for transcribed code)"
    )

    _check_name = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))
    _check_keras = field_validator("keras")(classmethod(lambda cls, v: _check_keras(v)))

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ShortcutCase(_Strict):
    """One way to build the shortcut; the first case whose ``when`` holds is used."""

    when: bool | str | None = Field(None, description="condition; omitted means always")
    from_: str = Field("input", alias="from", description="the tensor the shortcut starts from")
    layers: list[Layer] = Field(default_factory=list, description="layers on the shortcut; empty = identity")


class BlockDef(_Strict):
    """A block type: body layers, a shortcut, a merge op, and post-merge layers."""

    doc: str | None = None
    class_name: str | None = Field(None, description="class name in generated PyTorch code")
    params: dict[str, ArgValue | None] = Field(
        default_factory=dict, description="parameters and their defaults (null: required)"
    )
    let: dict[str, ArgValue] = Field(default_factory=dict, description="derived values, as expressions")
    body: list[Layer]
    shortcut: list[ShortcutCase] = Field(
        default_factory=list, description="shortcut cases; none (or no case matching) means identity"
    )
    merge: Layer | None = Field(default_factory=lambda: Layer(op="add"), description="merge op; null: no residual")
    post: list[Layer] = Field(default_factory=list, description="layers after the merge")

    @field_validator("shortcut", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @field_validator("class_name")
    @classmethod
    def _ident(cls, value: str | None) -> str | None:
        if value is not None and not IDENT_RE.match(value):
            raise ValueError(f"{value!r} is not a valid class name")
        return value


class BlockEntry(_Strict):
    """One block in the explicit per-block form."""

    block: str | None = Field(None, description="block type; default: the stage's")
    args: dict[str, ArgValue] = Field(default_factory=dict, description="block arguments")
    in_channels: int | None = Field(None, description="declared input channels, checked against inference")


class Stage(_Strict):
    """A stage: ``depth`` copies of a block, or an explicit ``blocks`` list."""

    name: str | None = Field(None, description="module path of the stage (default layer{stage})")
    block_name: str | None = Field(
        None, description="module path pattern of a block within the stage (default {block - 1}), e.g. b{block}"
    )
    keras: str | None = Field(None, description="Keras block-name pattern, e.g. conv{stage + 1}_block{block}")
    block: str | None = None
    depth: int | None = Field(None, ge=1, le=100_000)
    stride: int | None = Field(None, ge=1, le=1024)
    stride_at: Literal["first", "last"] = "first"
    args: dict[str, ArgValue] = Field(default_factory=dict)
    blocks: list[BlockEntry] | None = None
    overrides: dict[int, dict[str, ArgValue]] = Field(
        default_factory=dict, description="per-block argument overrides, keyed by 1-based block number"
    )

    _check_name = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))


class StageTable(_Strict):
    """The compact form: one row per stage."""

    block: str
    first_block: str | None = Field(
        None,
        description="block type of each stage's first block where it differs from the others' "
        "(RegNetZ's first block has no residual, Res2Net's pools its last part); default: block",
    )
    name: str = Field("layer{stage}", description="module path pattern of a stage")
    block_name: str = Field(
        "{block - 1}", description="module path pattern of a block within its stage (block: 1-based), e.g. b{block}"
    )
    keras: str | None = Field(None, description="Keras block-name pattern, e.g. conv{stage + 1}_block{block}")
    columns: list[str] = Field(default_factory=lambda: ["depth", "width", "stride"])
    table: list[list[ArgValue]]
    args: dict[str, ArgValue] = Field(default_factory=dict, description="arguments for every block")
    stride_at: Literal["first", "last"] = "first"
    overrides: dict[str, dict[str, ArgValue]] = Field(
        default_factory=dict, description="per-block overrides keyed 'stage.block' (1-based), e.g. '3.2'"
    )

    @field_validator("overrides")
    @classmethod
    def _keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not re.fullmatch(r"[1-9][0-9]{0,5}\.[1-9][0-9]{0,5}", str(key)):
                raise ValueError(f"override key {key!r} must be 'stage.block', both 1-based, e.g. '3.2'")
        return value


class InputSpec(_Strict):
    channels: int = Field(3, ge=1, le=65_536)
    size: tuple[int, int] = Field((224, 224), description="height and width")

    @field_validator("size")
    @classmethod
    def _positive(cls, value: tuple[int, int]) -> tuple[int, int]:
        for v in value:
            if not 1 <= v <= 65_536:
                raise ValueError(f"input size {v} must be between 1 and 65536")
        return value


def _stages_kind(value: Any) -> str:
    return "@table" if isinstance(value, dict) else "@list"


Stages = Annotated[
    Annotated[StageTable, Tag("@table")] | Annotated[list[Stage], Tag("@list")],
    Discriminator(_stages_kind),
]


class Spec(_Strict):
    """A whole network."""

    archspec: Literal[1] = Field(description="spec language version")
    extends: str | None = Field(
        None, description="base spec file, relative to this one (merged by the loader before validation)"
    )
    name: str = Field(description="network name; also the generated file's name")
    doc: str | None = None
    peer: str | None = Field(None, description="the published implementation this spec reproduces")
    input: InputSpec = Field(default_factory=InputSpec)
    vars: dict[str, ArgValue] = Field(
        default_factory=dict, description="named values usable in every expression, e.g. num_classes: 1000"
    )
    use: list[str] = Field(default_factory=list, description="block-definition files to import")
    defaults: dict[str, dict[str, Any]] = Field(default_factory=dict, description="attribute defaults per op kind")
    blocks: dict[str, BlockDef] = Field(default_factory=dict, description="block types defined here")
    stem: list[Layer] = Field(default_factory=list)
    stages: Stages = Field(default_factory=list)
    head: list[Layer] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not IDENT_RE.match(value):
            raise ValueError(f"{value!r} is not a valid network name: use letters, digits and '_'")
        return value

    @field_validator("vars")
    @classmethod
    def _var_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not IDENT_RE.match(key) or key.startswith("_"):
                raise ValueError(f"variable name {key!r} must be an identifier not starting with '_'")
        return value

    @field_validator("blocks")
    @classmethod
    def _block_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not IDENT_RE.match(key):
                raise ValueError(f"block type name {key!r} must be an identifier")
        return value


class BlockFile(_Strict):
    """A file of block definitions (the shipped library, or a file named in ``use:``)."""

    archspec: Literal[1]
    doc: str | None = None
    blocks: dict[str, BlockDef]
