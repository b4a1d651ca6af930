"""AS1xx: schema.  These findings are reported while loading the spec and lowering it to the
IR (a spec that fails them has no complete IR); they are registered here for their docs."""

from __future__ import annotations

import keyword
from collections.abc import Iterator

from archspec.diagnostics import Diagnostic, Severity
from archspec.ir.graph import Network
from archspec.lint.registry import RULES, rule

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
    What it does: reports a module path (state-dict prefix) or Keras layer name used twice.

    Why is this bad: both frameworks require unique names; a checkpoint would load into the
    wrong layer, or not at all.

    Example: two stem layers both named `conv1`.

    Use instead: unique names (`conv1`, `conv2`).
    """


# Attribute names that a generated nn.Module must not be given (they would shadow methods or
# state of torch.nn.Module), and names the generated code itself uses.
MODULE_RESERVED = frozenset(
    {
        "forward",
        "training",
        "train",
        "eval",
        "parameters",
        "named_parameters",
        "buffers",
        "named_buffers",
        "children",
        "named_children",
        "modules",
        "named_modules",
        "state_dict",
        "load_state_dict",
        "to",
        "cuda",
        "cpu",
        "type",
        "float",
        "double",
        "half",
        "bfloat16",
        "apply",
        "zero_grad",
        "add_module",
        "register_module",
        "register_buffer",
        "register_parameter",
        "get_submodule",
        "get_parameter",
        "get_buffer",
        "extra_repr",
        "requires_grad_",
        "share_memory",
        "dump_patches",
        "call_super_init",
    }
)
# the PyTorch inference form's own method and class attribute (archspec build --inference)
INFERENCE_RESERVED = frozenset({"fuse_for_inference", "bn_folds"})
CODE_RESERVED = frozenset(
    {
        # names the generated modules use (tests/test_backend_names.py checks that the backends'
        # own lists stay inside this one, so that lint refuses a name before a backend has to)
        "self",
        "x",
        "torch",
        "nn",
        "F",
        "keras",
        "layers",
        "ops",
        "name",
        "inputs",
        "input_shape",
        "in_channels",
        "shortcut",
        "features",
        "super",
        "int",
        "float",
        "bool",
        "tuple",
        "list",
        "None",
        "True",
        "False",
        "min",
        "max",
        "len",
        "range",
        "print",
        "object",
        "type",
        "isinstance",
        "round_to",
        "pad_same",
        "Conv2dSame",
        "MaxPool2dSame",
        "AvgPool2dSame",
        "TorchPooling2D",
    }
)


def _bad_identifier(name: str) -> str | None:
    if not name.isascii() or not name.isidentifier():
        return "is not a plain ASCII Python identifier"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "is a Python keyword"
    if name.startswith("__") and name.endswith("__"):
        return "is a reserved (dunder) name"
    return None


@rule("AS108", "invalid-identifier", _E, "a name that cannot appear in generated code")
def invalid_identifier(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a network name, block type, block parameter, derived value (`let:`)
    or layer module path that is not a plain ASCII Python identifier, is a keyword or soft
    keyword, is a dunder, would shadow a method of `torch.nn.Module` (`forward`, `eval`,
    `to` ...) or of the PyTorch inference form (`fuse_for_inference`, `bn_folds`), or a name
    the generated code uses itself (`self`, `x`, `torch`, `keras` ...).

    Why is this bad: generated code must be valid, inert Python; names are never escaped
    into it, so a name that cannot be emitted verbatim is refused here, at its spec line.

    Example: `- {op: conv, name: class, filters: 64, kernel: 3}` or a block parameter named `self`.

    Use instead: `name: classifier`, `params: {width: 64}`.
    """
    me = RULES["AS108"]
    spans = network.spec.spans
    problem = _bad_identifier(network.name)
    if problem:
        yield me.diagnostic(f"network name {network.name!r} {problem}", spans.value(("name",)))
    seen_types: set[str] = set()
    for block in network.blocks:
        if block.block_type in seen_types:
            continue
        seen_types.add(block.block_type)
        resolved = network.spec.block(block.block_type)
        if resolved is None:
            continue
        prefix = resolved.prefix
        problem = _bad_identifier(block.block_type)
        if problem:
            yield me.diagnostic(f"block type name {block.block_type!r} {problem}", spans.key(prefix))
        for kind, names in (("parameter", resolved.definition.params), ("derived value", resolved.definition.let)):
            for name in names:
                problem = _bad_identifier(name) or (
                    "is a name the generated code uses itself" if name in CODE_RESERVED else None
                )
                if problem:
                    yield me.diagnostic(
                        f"block {kind} {name!r} of {block.block_type!r} {problem}",
                        spans.key(prefix + (("params",) if kind == "parameter" else ("let",)) + (name,)),
                        "rename it",
                    )
    reported: set[str] = set()
    checked: set[str] = set()  # local names repeat in every block of a type: check each once
    for node in network.ops():
        if node.local_name in checked:
            continue
        checked.add(node.local_name)
        for part in node.local_name.split("."):
            if part.isdigit() or part in reported:
                continue
            problem = _bad_identifier(part) or (
                "would shadow a method of torch.nn.Module"
                if part in MODULE_RESERVED
                else "would shadow a method of the generated inference form"
                if part in INFERENCE_RESERVED
                else None
            )
            if problem:
                reported.add(part)
                yield me.diagnostic(
                    f"layer name {node.local_name!r} ({part!r} {problem})",
                    spans.value(node.spec_path + ("name",)),
                    "rename the layer",
                )


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
