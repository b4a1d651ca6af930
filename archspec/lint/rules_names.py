"""AS108: every name the spec gives reaches generated code verbatim, so every name either
backend would refuse, or that would break the generated module, is refused here, at its spec
line.  ``tests/test_backend_names.py`` checks that the backends' own lists stay inside these.

The namespaces of the generated code, and the spec names that land in each:

- module globals: the network (a PyTorch class, a Keras function), every block type (a class,
  a function), every ``class_name:``;
- function and method locals: ``vars:`` (Keras function parameters), block ``params:`` and
  ``let:`` (constructor and function locals);
- ``nn.Module`` attributes: stage names, and stem, head and block layer names (the first part
  of a module path; every part of a dotted one);
- Keras layer names: the stage ``keras:`` pattern, filled in.
"""

from __future__ import annotations

import builtins
import keyword
from collections.abc import Iterator

from archspec.backends.reserved_names import KERAS_NAME_FORBIDDEN, TORCH_MODULE_ATTRS
from archspec.diagnostics import Diagnostic, Severity
from archspec.ir.build import auto_name
from archspec.ir.graph import Network
from archspec.lint.registry import RULES, rule
from archspec.spec import model as M

_E = Severity.ERROR

#: ops whose PyTorch module holds tensors: it gets its own attribute, named or not
TENSOR_OPS = frozenset(
    {"conv", "batchnorm", "linear", "groupnorm", "layernorm", "prelu", "channel_conv", "evonorm_s0", "frn_tlu"}
)

#: nn.Module attributes (generated from torch: archspec/backends/reserved_names.py) and the
#: PyTorch inference form's own method and class attribute (archspec build --inference)
MODULE_RESERVED = TORCH_MODULE_ATTRS
INFERENCE_RESERVED = frozenset({"fuse_for_inference", "bn_folds"})
#: the functions of the expression language (a variable by one of these names hides it)
EXPR_FUNCTIONS = frozenset({"min", "max", "round", "round_to"})
#: globals the generated modules define or import (PyTorch, then Keras)
MODULE_GLOBALS = frozenset(
    {
        "torch",
        "nn",
        "F",
        "Conv2dSame",
        "MaxPool2dSame",
        "AvgPool2dSame",
        "pad_same",
        "_pair",
        "_fold_batchnorm",
        "StdConv2d",
        "StdConv2dSame",
        "LayerNorm2d",
        "ChannelConv",
        "BlurPool2d",
        "ChannelSlice",
        "named_sequential",
        "RadixSum",
        "RadixSoftmax",
        "EvoNorm2dS0",
        "FilterResponseNormTlu2d",
        "EvoNormS0",
        "FilterResponseNormTlu",
        "DilatedConv2D",
        "keras",
        "layers",
        "ops",
        "math",
        "round_to",
        "TorchPooling2D",
        "StdConv2D",
        "BlurPool2D",
        "gelu_tanh",
        "eca_kernel_size",
        # the Keras inference form's (archspec build --inference --backend keras)
        "fuse_for_inference",
        "BATCHNORM_FOLDS",
        "FoldedBatchNorm",
    }
)
CODE_RESERVED = MODULE_GLOBALS | frozenset(
    {
        # locals of the generated functions and methods, and the builtins the generated code calls
        "self",
        "x",
        "out",
        "name",
        "inputs",
        "input_shape",
        "in_channels",
        "shortcut",
        "features",
        "include_top",
        "pooling",
        "classifier_activation",
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
        "zip",
        "getattr",
        "setattr",
    }
)
#: locals only: ``out`` is a variable of ``forward``, where parameters never appear
LOCAL_RESERVED = (CODE_RESERVED - {"out"}) | EXPR_FUNCTIONS
BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("__"))


def _bad_identifier(name: str) -> str | None:
    if not name.isascii() or not name.isidentifier():
        return "is not a plain ASCII Python identifier"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "is a Python keyword"
    if name.startswith("__") and name.endswith("__"):
        return "is a reserved (dunder) name"
    return None


def class_name(type_name: str) -> str:
    """The PyTorch class of a block type or network without ``class_name:`` (the backends'
    rule: ``bottleneck_v1`` -> ``BottleneckV1``)."""
    return "".join(part[:1].upper() + part[1:] for part in type_name.split("_") if part)


def _bad_global(name: str, called: bool = True) -> str | None:
    """A module-level name; ``called``: the model's code calls it (a block function), so it
    must not be a local of the generated functions either."""
    return _bad_identifier(name) or (
        "is a name the generated code uses itself"
        if name in (CODE_RESERVED if called else MODULE_GLOBALS)
        else "is a Python builtin"
        if name in BUILTINS
        else None
    )


def _bad_local(name: str) -> str | None:
    return _bad_identifier(name) or (
        "is a function of the expression language"
        if name in EXPR_FUNCTIONS
        else "is a name the generated code uses itself"
        if name in LOCAL_RESERVED
        else None
    )


def _bad_attribute(part: str) -> str | None:
    return _bad_identifier(part) or (
        "would shadow nn.Module state (names starting with '_' are reserved)"
        if part.startswith("_")
        else "would shadow an attribute of torch.nn.Module"
        if part in MODULE_RESERVED
        else "would shadow a method of the generated inference form"
        if part in INFERENCE_RESERVED
        else None
    )


def _is_library(resolved) -> bool:
    from archspec.spec.load import LIBRARY_DIR

    return resolved.prefix[:1] == ("@file",) and str(resolved.prefix[1]).startswith(str(LIBRARY_DIR))


def checked_blocks(network: Network) -> list:
    """The block types to check: those the network uses, and every one the user defined (in the
    spec or a ``use:`` file), used or not.  The shipped library is checked by its own tests."""
    used = dict.fromkeys(b.block_type for b in network.blocks)
    out = []
    for name, resolved in network.spec.blocks.items():
        if name in used or not _is_library(resolved):
            out.append(resolved)
    return out


def _layers(definition: M.BlockDef) -> Iterator[tuple[tuple, M.Layer]]:
    """Every layer of a block definition, with its path inside the definition."""
    for i, layer in enumerate(definition.body):
        yield ("body", i), layer
    for c, case in enumerate(definition.shortcut):
        for i, layer in enumerate(case.layers):
            yield ("shortcut", c, "layers", i), layer
    if definition.merge is not None:
        yield ("merge",), definition.merge
    for i, layer in enumerate(definition.post):
        yield ("post", i), layer


@rule("AS108", "invalid-identifier", _E, "a name that cannot appear in generated code")
def invalid_identifier(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a name that the generated PyTorch or Keras code cannot use verbatim:
    - not a plain ASCII Python identifier, a keyword or soft keyword, or a dunder;
    - a network name, block type or `class_name:` that is a Python builtin or a name the
      generated module uses itself (`torch`, `nn`, `F`, `keras`, `layers`, `ops`, `x`,
      `inputs`, `Conv2dSame`, `TorchPooling2D`, `round_to` ...), including the class name
      derived from it (`conv2d_same` gives `Conv2dSame`); two of them that meet in one
      namespace (a network named like a block type, two classes of one name);
    - a variable (`vars:`), block parameter or `let:` value named like a name the generated
      code uses (`x`, `self`, `int` ...), a function of the expression language (`min`, `max`,
      `round_to`); a variable named like a block type or the network (Keras functions the
      model function calls);
    - a stage, stem, head or block layer name (each part of a module path) that would shadow
      an attribute of `torch.nn.Module` (the list is generated from torch: `forward`, `to`,
      `compile`, `register_forward_hook`, `training` ...) or of the inference form
      (`fuse_for_inference`, `bn_folds`), or that starts with `_` (nn.Module's own state:
      `_modules`, `_parameters` ...); a stage named like a stem or head layer;
    - a stage `keras:` pattern that gives a Keras layer name with a character Keras refuses
      (`/`).

    Block types the network defines but does not use are checked too.

    Why is this bad: generated code must be valid, inert Python that imports and builds;
    names are never escaped into it, so a name that cannot be emitted verbatim is refused
    here, at its spec line, rather than by a backend or at import.

    Example: `- {op: conv, name: class, filters: 64, kernel: 3}`, a block parameter named
    `self`, or `stages: [{name: forward, block: basic, depth: 2}]`.

    Use instead: `name: classifier`, `params: {width: 64}`, `name: layer1`.
    """
    me = RULES["AS108"]
    spans = network.spec.spans
    spec = network.spec.spec
    blocks = checked_blocks(network)
    used_types = list(dict.fromkeys(b.block_type for b in network.blocks))
    functions = {network.name, *used_types}  # Keras functions at module level

    problem = _bad_global(network.name, called=False) or _class_problem(class_name(network.name), "its PyTorch class")
    if problem:
        yield me.diagnostic(f"network name {network.name!r} {problem}", spans.value(("name",)), "rename the network")
    for key in spec.vars:
        problem = _bad_local(key) or (
            "is the name of a block type or of the network (a Keras function)" if key in functions else None
        )
        if problem:
            yield me.diagnostic(f"variable {key!r} {problem}", spans.key(("vars", key)), "rename the variable")

    classes: dict[str, str] = {class_name(network.name): "the network"}
    for resolved in blocks:
        prefix, definition, type_name = resolved.prefix, resolved.definition, resolved.name
        problem = _bad_global(type_name)
        if type_name == network.name and type_name in used_types:
            problem = problem or "is also the network's name (both are Keras functions)"
        if problem:
            yield me.diagnostic(f"block type name {type_name!r} {problem}", spans.key(prefix), "rename the block type")
        cls = definition.class_name or class_name(type_name)
        where = prefix + ("class_name",) if definition.class_name else prefix
        problem = _class_problem(cls, "" if definition.class_name else "its PyTorch class")
        if not problem and type_name in used_types and cls in classes:
            problem = f"gives the PyTorch class {cls!r}, the class of {classes[cls]}"
        if problem and (definition.class_name or not _bad_global(type_name)):
            what = (
                f"class name {cls!r} of block type {type_name!r}"
                if definition.class_name
                else (f"block type name {type_name!r}")
            )
            yield me.diagnostic(f"{what} {problem}", spans.value(where), "set a distinct class_name")
        elif type_name in used_types:
            classes[cls] = f"block type {type_name!r}"
        for kind, names in (("parameter", definition.params), ("derived value", definition.let)):
            for key in names:
                problem = _bad_local(key) or (
                    "is also a parameter of the block" if kind == "derived value" and key in definition.params else None
                )
                if problem:
                    yield me.diagnostic(
                        f"block {kind} {key!r} of {type_name!r} {problem}",
                        spans.key(prefix + (("params",) if kind == "parameter" else ("let",)) + (key,)),
                        "rename it",
                    )
        for path, layer in _layers(definition):
            if layer.name:
                yield from _layer_name(me, layer.name, spans.value(prefix + path + ("name",)))
        taken = (
            {b.shortcut_case for b in network.blocks if b.block_type == type_name} if type_name in used_types else None
        )
        yield from _module_tree(definition, prefix, spans, taken)

    yield from _model_attributes(me, network)
    yield from _keras_patterns(me, network)
    yield from _instance_names(me, network)


def _class_layer_names(definition: M.BlockDef, prefix: tuple) -> dict[tuple, str]:
    """The module path the PyTorch class gives each layer of a block definition: automatic names
    count every layer of the definition, whatever its condition."""
    out: dict[tuple, str] = {}

    def name(layers: list[M.Layer], section: tuple, used: set[str]) -> None:
        for i, layer in enumerate(layers):
            out[prefix + section + (i,)] = layer.name or auto_name(layer.op, used)
            used.add(out[prefix + section + (i,)])

    used = {"input"}
    name(definition.body, ("body",), used)
    body = set(used)
    cases: set[str] = set()
    if definition.merge is not None:
        for c, case in enumerate(definition.shortcut):
            names = set(body)
            name(case.layers, ("shortcut", c, "layers"), names)
            cases |= names
    used = body | cases
    if definition.merge is not None:
        out[prefix + ("merge",)] = definition.merge.name or auto_name(definition.merge.op, used)
        used.add(out[prefix + ("merge",)])
    name(definition.post, ("post",), used)
    return out


def _instance_names(me, network: Network) -> Iterator[Diagnostic]:
    """A block type's function (Keras) and class (PyTorch) name each layer once for all the
    block's instances: an unnamed layer whose automatic name depends on which conditional
    layers exist (``add`` in one block, ``add2`` in another) cannot be written so."""
    parts: dict[tuple, str] = {}  # (block type, spec path) -> the Keras name part of its first instance
    reported: set[tuple] = set()
    class_names: dict[str, dict[tuple, str]] = {}
    node_of = network.node
    for block in network.blocks:
        block_type = block.block_type
        expected = class_names.get(block_type)
        if expected is None:
            resolved = network.spec.block(block_type)
            expected = class_names[block_type] = _class_layer_names(resolved.definition, resolved.prefix)
        start = len(block.keras_name) + 1 if block.keras_name else 0
        for node_id in block.nodes:
            node = node_of(node_id)
            path = node.spec_path
            if node.op in TENSOR_OPS and expected.get(path, node.local_name) != node.local_name:
                key = (block_type, path, "torch")
                if key not in reported:
                    reported.add(key)
                    yield me.diagnostic(
                        f"layer {node.op} of block type {block_type!r} is {node.local_name!r} in block "
                        f"{block.id} but {expected[path]!r} in the block's class (its automatic name depends "
                        "on conditional layers)",
                        node.span,
                        "give the layer a name",
                    )
            part = node.keras_name[start:]
            first = parts.setdefault((block_type, path), part)
            if first != part and (block_type, path) not in reported:
                reported.add((block_type, path))
                yield me.diagnostic(
                    f"layer {node.op} of block type {block_type!r} gets the Keras name {first!r} in one "
                    f"block and {part!r} in another (its automatic name depends on conditional layers)",
                    node.span,
                    "give the layer a name (and a keras: name)",
                )


_INLINE_OPS = frozenset({"add", "multiply", "concat"})


def _nested(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Two module paths that cannot both be attributes: equal, or one a group holding the other."""
    return a[: len(b)] == b or b[: len(a)] == a


def _module_tree(definition: M.BlockDef, prefix: tuple, spans, taken: set | None = None) -> Iterator[Diagnostic]:
    """AS107 for what the IR cannot see, as one instance builds one shortcut case only: in the
    block's class every module path holds one layer (or consecutive alternatives of one name),
    and every top-level attribute is built in one place (the body, or one shortcut case).  The
    class holds only the shortcut cases some instance takes (``taken``: their indices; None for
    a block type no instance uses, whose every case counts), as the PyTorch backend writes it."""
    dup = RULES["AS107"]
    units: list[tuple[str, object, tuple]] = []  # module path, placement, spec path

    problems: list[Diagnostic] = []

    def add(layers: list[M.Layer], section: tuple, used: set[str], placement: object) -> None:
        runs: list[list[tuple[int, M.Layer, str]]] = []  # consecutive layers of one name: alternatives
        for i, layer in enumerate(layers):
            name = layer.name or auto_name(layer.op, used)
            used.add(name)
            if layer.when is False:
                continue
            if runs and layer.name is not None and runs[-1][-1][2] == name and runs[-1][-1][1].name is not None:
                runs[-1].append((i, layer, name))
            else:
                runs.append([(i, layer, name)])
        for run in runs:
            i, layer, name = run[0]
            if len(run) > 1:
                where = spans.value(prefix + section + (run[1][0], "name"))
                if any(other.op in _INLINE_OPS for _, other, _ in run):
                    problems.append(
                        dup.diagnostic(
                            f"module path {name!r}: a merge ({', '.join(sorted({o.op for _, o, _ in run}))}) "
                            "cannot be one of several alternatives under one name",
                            where,
                            "give the merge its own name",
                        )
                    )
                    continue
                if any(other.inputs != layer.inputs for _, other, _ in run):
                    problems.append(
                        dup.diagnostic(
                            f"module path {name!r}: the alternatives under this name read different inputs",
                            where,
                            "give them the same inputs:, or distinct names",
                        )
                    )
            owns = any(o.name or o.when is not None or o.op in TENSOR_OPS or "padding" in o.attrs for _, o, _ in run)
            if owns and layer.op not in _INLINE_OPS:
                units.append((name, placement, section + (i,)))

    used = {"input"}
    add(definition.body, ("body",), used, "body")
    body_names = set(used)
    case_names: set[str] = set()
    if definition.merge is not None:
        active = 0
        for c, case in enumerate(definition.shortcut):
            if case.when is False or (taken is not None and c not in taken):
                continue
            names = set(body_names)
            always = case.when is None or case.when is True
            add(case.layers, ("shortcut", c, "layers"), names, "body" if always and not active else c)
            active += 1
            case_names |= names
            if case.when is None or case.when is True:
                break
    used = body_names | case_names
    if definition.merge is not None:
        used.add(definition.merge.name or auto_name(definition.merge.op, used))
    add(definition.post, ("post",), used, "body")

    yield from problems
    paths: dict[tuple[str, ...], tuple] = {}
    tops: dict[str, object] = {}
    for name, placement, path in units:
        parts = tuple(name.split("."))
        clash = next((p for p in paths if _nested(p, parts)), None)
        where = spans.value(prefix + path + ("name",))
        if clash is not None:
            yield dup.diagnostic(
                f"module path {name!r} is used by two layers of the block (or as a layer and a group)",
                where,
                "give each layer its own name",
            )
            continue
        if tops.setdefault(parts[0], placement) != placement:
            yield dup.diagnostic(
                f"module path {name!r}: {parts[0]!r} also holds layers built elsewhere in the block "
                "(the body or another shortcut case)",
                where,
                "give the layers of each shortcut case their own names",
            )
            continue
        paths[parts] = path


def _class_problem(name: str, what: str) -> str | None:
    problem = _bad_identifier(name)
    if problem:
        return problem
    lead = f"({what} {name!r}) " if what else ""
    if name in CODE_RESERVED:
        return lead + "is a name the generated code uses itself"
    if name in BUILTINS:
        return lead + "is a Python builtin"
    return None


def _layer_name(me, name: str, span) -> Iterator[Diagnostic]:
    if name == "input":
        yield me.diagnostic(
            "layer name 'input' is the name of the scope's input (in inputs: and from:)", span, "rename the layer"
        )
        return
    for part in name.split("."):
        if part.isdigit():
            continue
        problem = _bad_attribute(part)
        if problem:
            yield me.diagnostic(f"layer name {name!r} ({part!r} {problem})", span, "rename the layer")
            return


def _model_attributes(me, network: Network) -> Iterator[Diagnostic]:
    """The model class's attributes: stem and head layers, and stages (each an ``nn.Sequential``
    at its module path).  Names must be valid attributes, and no path may be both a layer and a
    group of another, or used twice."""
    spans = network.spec.spans
    spec = network.spec.spec
    owners: dict[tuple[str, ...], tuple[str, object]] = {}  # module path -> what holds it, its span
    placed: dict[tuple[str, ...], str] = {}  # the stem's and head's modules: path -> which layer
    top = {n.torch_path.split(".", 1)[0] for n in network.nodes() if n.part not in ("head", "input") and n.torch_path}
    for part_name, layers in (("stem", spec.stem), ("head", spec.head)):
        used = {"input"} | (top if part_name == "head" else set())  # as the IR names them
        for i, layer in enumerate(layers):
            name = layer.name or auto_name(layer.op, used)
            used.add(name)
            span = spans.value((part_name, i, "name") if layer.name else (part_name, i))
            if layer.name:
                yield from _layer_name(me, layer.name, span)
            if layer.name or layer.op in TENSOR_OPS or "padding" in layer.attrs:  # these get their own attribute
                parts = tuple(name.split("."))
                if layer.op not in _INLINE_OPS:  # a merge has no module
                    # the PyTorch backend nests a dotted path in groups: a layer cannot be a group
                    # of others (pool and pool.1), in the stem, the head or across them (the same
                    # path twice is the loader's AS107)
                    group = next(
                        (what for path, what in placed.items() if path != parts and _nested(path, parts)), None
                    )
                    if group is not None:
                        yield RULES["AS107"].diagnostic(
                            f"the {part_name} layer {name!r} and {group}: a module path cannot be both a layer "
                            "and a group",
                            span,
                            "rename one of them (pool.0 and pool.1 are a group of two layers; pool and pool.1 are not)",
                        )
                        continue
                    placed.setdefault(parts, f"the {part_name} layer {name!r}")
                owners.setdefault(parts, (f"the {part_name} layer {name!r}", span))
    for stage in network.stages:
        explicit = stage.name_path[-1:] == ("name",) and stage.name_path in spans.values
        span = spans.value(stage.name_path)
        parts = tuple(stage.torch_name.split("."))
        bad = next((p for p in parts if not p.isdigit() and _bad_attribute(p)), None)
        if bad is not None:
            yield me.diagnostic(
                f"stage name {stage.torch_name!r} ({bad!r} {_bad_attribute(bad)})", span, "rename the stage"
            )
            continue
        clash = next(
            (owner for path, owner in owners.items() if _nested(path, parts)),
            None,
        )
        if clash is not None:
            what, where = clash
            if explicit or where is None:
                yield me.diagnostic(
                    f"stage name {stage.torch_name!r} is also the module path of {what}",
                    span,
                    "rename the stage or that layer",
                )
            else:
                yield me.diagnostic(
                    f"{what} has the module path of stage {stage.index} ({stage.torch_name!r})",
                    where,
                    "rename the layer",
                )
            continue
        owners[parts] = (f"stage {stage.index}", span)


def _keras_patterns(me, network: Network) -> Iterator[Diagnostic]:
    for node in network.ops():
        if node.keras_name == "input":
            yield me.diagnostic(
                "Keras layer name 'input' is the name of the model's input layer",
                network.spec.spans.value(node.spec_path + ("keras",)),
                "give the layer another keras: name",
            )
    reported: set[int] = set()
    for block in network.blocks:
        bad = sorted({c for c in block.keras_name if c in KERAS_NAME_FORBIDDEN or not c.isprintable()})
        if bad and block.stage not in reported:
            reported.add(block.stage)
            stage = network.stages[block.stage - 1]
            yield me.diagnostic(
                f"Keras name {block.keras_name!r} of block {block.id} has {', '.join(map(repr, bad))}, "
                "which Keras refuses in a layer name",
                network.spec.spans.value(stage.keras_path),
                "use letters, digits and '_' in the keras: pattern",
            )
