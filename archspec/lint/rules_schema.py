"""AS1xx: schema.  These findings are reported while loading the spec and lowering it to the
IR (a spec that fails them has no complete IR); they are registered here for their docs."""

from __future__ import annotations

from archspec.diagnostics import Severity
from archspec.lint.registry import rule

_E = Severity.ERROR


@rule("AS100", "unreadable-file", _E, "the spec file cannot be read as UTF-8 text", reported_by="loader")
def unreadable_file() -> None:
    """
    What it does: reports a spec path that is missing, a directory, not a regular file (a
    device such as /dev/zero, a named pipe: refused without being read), larger than the size
    cap (1,000,000 bytes), not UTF-8 text, or that contains NUL bytes.

    Why is this bad: nothing can be checked in a file that cannot be read.

    Example: `archspec lint specs/` (a directory), or a spec saved as UTF-16.

    Use instead: pass `.yaml` files (a shell glob such as `specs/*.yaml`), saved as UTF-8.
    """


@rule(
    "AS101",
    "schema-error",
    _E,
    "a key, value or type the spec language does not allow",
    reported_by="loader",
    fixable="safe for a misspelt key with a single close match (one the mapping does not already have)",
)
def schema_error() -> None:
    """
    What it does: reports unknown keys (with a "did you mean" hint), missing required keys,
    values of the wrong type or out of range (a zero or negative size, a 5,000-digit integer),
    op attributes the op does not take, stage rows that do not fit the table's columns.

    Why is this bad: a misspelt key would otherwise be ignored silently and the network
    would quietly differ from the one intended.

    Example:
        - {op: conv, name: conv1, filter: 64, kernel: 7}

    Use instead:
        - {op: conv, name: conv1, filters: 64, kernel: 7}
    """


@rule("AS102", "unknown-block", _E, "a block type or block file that does not exist", reported_by="loader")
def unknown_block() -> None:
    """
    What it does: reports a stage or block entry naming a block type that is neither defined in
    the spec (`blocks:`), nor in a file listed in `use:`, nor in the shipped library; a `use:`
    entry that is not a file; and a block type defined by two different `use:` files.

    Why is this bad: the network cannot be built, or would be built from the wrong definition.

    Example: `stages: {block: bottlenek, ...}`

    Use instead: `stages: {block: bottleneck, ...}`; `archspec rules` lists nothing about
    blocks, but the hint lists every block type available to the spec.
    """


@rule("AS103", "unknown-op", _E, "a layer whose op kind is not in the op registry", reported_by="loader")
def unknown_op() -> None:
    """
    What it does: reports a layer (or a `defaults:` entry) whose `op` is not a registered op.

    Why is this bad: archspec only emits ops whose semantics it states exactly in both backends.

    Example: `- {op: conv2d, filters: 64, kernel: 3}`

    Use instead: `- {op: conv, filters: 64, kernel: 3}` (the hint suggests the closest op).
    """


@rule("AS104", "bad-expression", _E, "an expression that cannot be parsed or evaluated safely", reported_by="loader")
def bad_expression() -> None:
    """
    What it does: reports an expression (`width * 4`) that does not parse, uses something
    outside the safe subset (calls other than min/max/round_to, attributes, strings), names an
    unknown variable, divides by zero, or exceeds the value bounds (|x| <= 2**31).

    Why is this bad: expressions are evaluated by archspec's own small interpreter, never by
    `eval`; anything outside the subset is refused rather than guessed.

    Example: `units: num_classes` with no `num_classes` defined (a hand-written TensorFlow ResNet-50 uses an undefined
    `num_classes` this way).

    Use instead: `vars: {num_classes: 1000}` at the top of the spec, then `units: num_classes`.
    """


@rule("AS105", "bad-extends", _E, "an `extends:` that is missing or forms a cycle", reported_by="loader")
def bad_extends() -> None:
    """
    What it does: reports `extends:` naming a file that does not exist, a chain longer than 16,
    or a cycle (a.yaml extends b.yaml extends a.yaml).

    Why is this bad: a variant without its base is not a network.

    Example: `extends: resnet5.yaml`

    Use instead: `extends: resnet50.yaml` (paths are relative to the spec's folder).
    """


@rule("AS106", "bad-reference", _E, "a reference to a layer that does not exist in its scope", reported_by="loader")
def bad_reference() -> None:
    """
    What it does: reports an `inputs:` entry or a shortcut `from:` naming no earlier layer of the
    same block (or stem/head), and merge ops given fewer than two inputs.

    Why is this bad: the graph would be disconnected or would silently take the wrong tensor.

    Example: `- {op: multiply, inputs: [bn3, se_gate]}` where the gate is named `se.gate`.

    Use instead: the exact names: `inputs: [bn3, se.gate]`.
    """


@rule("AS107", "duplicate-name", _E, "two layers with the same module path or Keras name", reported_by="loader")
def duplicate_name() -> None:
    """
    What it does: reports a module path (state-dict prefix) or Keras layer name used twice,
    including in a block type's generated class: one module path (or its top-level group) for
    layers of two shortcut cases, or for layers of the body and of a shortcut case; and a layer
    whose path is a group of others (stem layers `pool` and `pool.1`, in a block, the stem or
    the head).

    Why is this bad: both frameworks require unique names; a checkpoint would load into the
    wrong layer, or not at all.

    Example: two stem layers both named `conv1`.

    Use instead: unique names (`conv1`, `conv2`).
    """


@rule("AS109", "yaml-syntax", _E, "the file is not valid, plain YAML", reported_by="loader")
def yaml_syntax() -> None:
    """
    What it does: reports YAML syntax errors, duplicate keys, tags (`!!python/object` and any
    other), alias expansion beyond 200,000 values (a "billion laughs" document) and nesting
    deeper than 64 levels.

    Why is this bad: specs are plain data; duplicate keys silently drop a value in most loaders.

    Example:
        stem:
          - {op: relu}
        stem: []

    Use instead: one `stem:` key.
    """


@rule("AS119", "bad-override", _E, "a `--set KEY=VALUE` override that cannot be applied", reported_by="loader")
def bad_override() -> None:
    """
    What it does: reports a `--set` override (or an API keyword override) that is not
    `KEY=VALUE`, whose key is not a dotted path of names and list indices, or whose path goes
    through something the spec does not have (an index past the end of a list). A value that
    applies but does not validate is reported like spec text (AS101...), at the override.

    Why is this bad: an override that silently did nothing would build the unmodified network.

    Example: `archspec build resnet50 --set head.5.units=10` (the head has two layers).

    Use instead: `--set head.1.units=10`, or `--set vars.num_classes=10` where the spec has a
    variable for it.
    """
