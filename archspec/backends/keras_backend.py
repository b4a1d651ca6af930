"""The Keras backend: IR -> view model -> ``templates/keras/*.j2`` -> Keras 3 functional-API source.

The generated module reads like keras.applications' ``resnet.py``: one function per block
type used, written from the block's YAML (its parameters, its ``let`` values and every
attribute rendered as Python expressions), then one model function that calls them, block
by block.  Every layer is named from the spec (the IR's ``keras_name``).

Exact semantics, never a framework default:

- **Padding.**  Explicit padding becomes ``ZeroPadding2D`` + ``padding="valid"`` (named like
  keras.applications: ``conv1_pad``, ``pool1_pad``, ``{block}_2_pad``).  ``padding: same``
  becomes Keras' ``padding="same"``, which *is* TensorFlow's rule (asymmetric at stride 2)
  at every input size.  An explicit padding is written as ``"same"`` only where that is
  exactly equivalent at every input size: stride 1 and a symmetric ``(k - 1) * d / 2``, all
  known constants.
- **Max pooling** pads with -inf in PyTorch.  ``ZeroPadding2D`` is used only where that is
  the same: the input is provably non-negative (``node.nonneg``, e.g. after a ReLU) or the
  spec asks for ``pad_value: 0``.  Every other pooling that ``keras.layers`` cannot express
  exactly (-inf padding on a signed input, ``ceil_mode``, ``count_include_pad: false`` with
  padding) uses ``TorchPooling2D``, a small layer class written into the generated file.
- **BatchNorm**: ``epsilon`` and ``momentum`` always written; the spec's momentum is
  PyTorch's, Keras' is ``1 - momentum``.  **Conv**: ``use_bias`` always written, ``groups``
  for grouped convolutions.
- **Flatten**: Keras flattens NHWC, PyTorch NCHW.  To keep the following dense layer equal
  to the PyTorch model, a ``Permute((3, 1, 2))`` puts channels first before ``Flatten``
  whenever the flattened map is not 1x1 at the spec's input size.
- **Softmax** over channels is the last axis in NHWC.
"""

from __future__ import annotations

import ast
import copy
import types
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from archspec.backends import BackendError, naming, render
from archspec.backends.arguments import model_arguments
from archspec.backends.folding import foldable_batchnorms
from archspec.backends.keras_view import (
    Arg,
    Assign,
    BlockFunction,
    Branch,
    Comment,
    FunctionCall,
    If,
    LayerCall,
    ModelFunction,
    Module,
    Param,
)
from archspec.ir import ops as O
from archspec.ir.build import auto_name
from archspec.ir.graph import BlockInstance, Network, Node
from archspec.spec import expr as E
from archspec.spec import model as M

NAME = "keras"

#: names the generated module defines or uses at module level
MODULE_NAMES = frozenset(
    {
        "keras",
        "layers",
        "ops",
        "TorchPooling2D",
        "StdConv2D",
        "BlurPool2D",
        "ChannelSlice",
        "ChannelConv",
        "RadixSum",
        "RadixSoftmax",
        "EvoNormS0",
        "FilterResponseNormTlu",
        "DilatedConv2D",
        "fuse_for_inference",
        "BATCHNORM_FOLDS",
        "FoldedBatchNorm",
        "gelu_tanh",
        "eca_kernel_size",
        "math",
        "round_to",
        "float",
        "min",
        "max",
    }
)
#: variables of the generated functions
BLOCK_VARIABLES = frozenset({"x", "shortcut", "inputs", "name", "in_channels"})
MODEL_VARIABLES = frozenset(
    {"x", "shortcut", "inputs", "features", "input_shape", "include_top", "pooling", "classifier_activation"}
)

_ACTIVATIONS = {
    "relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "silu": "silu",
    "hardswish": "hard_swish",
    "hardsigmoid": "hard_sigmoid",
    "mish": "mish",
}
_MERGES = {"add": "layers.Add", "multiply": "layers.Multiply"}


# ---------------------------------------------------------------------------------------------
# values: Python source, and the constant when there is one

_DYNAMIC = object()


@dataclass(frozen=True)
class Src:
    """A scalar in generated code: its Python source and, when it is a constant, its value."""

    code: str
    value: Any = _DYNAMIC

    @property
    def static(self) -> bool:
        return self.value is not _DYNAMIC


def _const(value: Any) -> Src:
    return Src(naming.literal(value), value)


def _static_values(items: list[Src]) -> list[Any] | None:
    return [i.value for i in items] if all(i.static for i in items) else None


def _code(value: Src | list) -> str:
    """Python source of a value: a scalar, or a list of them."""
    if isinstance(value, list):
        return "[" + ", ".join(_code(v) for v in value) + "]"
    return value.code


def _pair_code(pair: tuple[Src, Src]) -> str:
    """``3`` for a square constant, ``(3, 1)`` or ``(k, k)`` otherwise."""
    a, b = pair
    if a.static and b.static and a.value == b.value:
        return a.code
    if a.code == b.code:
        return a.code
    return f"({a.code}, {b.code})"


def _tuple_code(pair: tuple[Src, Src]) -> str:
    return f"({pair[0].code}, {pair[1].code})"


# ---------------------------------------------------------------------------------------------
# one scope: the stem, the head, or a block type (with all its instances)


@dataclass
class _Unit:
    """One layer of a scope, as written in the spec, with its instances in the network."""

    uid: int
    layer: M.Layer
    path: tuple
    section: str  # body | shortcut | merge | post | stem | head
    nodes: list[Node]
    local: str
    part: str  # Keras name part (the whole name in the stem and head)
    case: int | None = None


@dataclass
class _Scope:
    kind: str  # block | stem | head
    units: list[_Unit]
    envs: list[dict[str, Any]]
    name_var: str | None  # "name" in a block function; None: literal names
    input_var: str  # where the scope's input is at entry
    keep_input_as: str  # the variable that keeps the input when it is needed later
    chain: str = "x"
    names_used: set[str] = field(default_factory=set)
    result: str = ""


class _Lowering:
    def __init__(self, network: Network):
        self.net = network
        self.loaded = network.spec
        self.spec = network.spec.spec
        self.vars = self._vars()
        self.arguments = model_arguments(network)  # the vars the model function takes
        self.torch_pooling = False
        self.helpers: set[str] = set()
        self.round_to = False
        self.uses_ops = False
        self.taken = {n.keras_name for n in network.nodes()}
        self.aux_names: dict[str, tuple] = {}  # helper layer name -> (its layer's spec path, kind)

    # -- module --------------------------------------------------------------------------------
    def module(self, inference: bool = False) -> Module:
        model_name = self._ident(self.net.name, MODULE_NAMES, "network name")
        block_types = list(dict.fromkeys(b.block_type for b in self.net.blocks))
        function_names = {model_name}
        for type_name in block_types:
            self._ident(type_name, MODULE_NAMES | function_names, "block type")
            function_names.add(type_name)
        blocks = [self._block_function(t, function_names) for t in block_types]
        model = self._model_function(model_name, function_names)
        header = render.header_lines(self.net, NAME)
        if inference:
            header[0] = header[0].replace(f"({NAME} backend)", f"({NAME} backend, inference form)", 1)
            header.insert(
                1,
                f"Keras model {self.net.name!r} (inference form: fuse_for_inference(model) returns a copy "
                "of a built model with each BatchNorm of BATCHNORM_FOLDS folded into the convolution "
                "before it).",
            )
        return Module(
            doc=_wrap(self.net.doc or f"The {self.net.name} network.", 0),
            header=[part for line in header for part in _wrap(line, 0)],
            folds=self._folds() if inference else None,
            uses_ops=self.torch_pooling
            or bool(
                {
                    "StdConv2D",
                    "BlurPool2D",
                    "ChannelConv",
                    "eca_kernel_size",
                    "RadixSum",
                    "RadixSoftmax",
                    "EvoNormS0",
                    "FilterResponseNormTlu",
                    "DilatedConv2D",
                }
                & self.helpers
            ),
            torch_pooling=self.torch_pooling,
            round_to=self.round_to,
            blocks=blocks,
            model=model,
            helpers=sorted(self.helpers),
        )

    def _folds(self) -> list[tuple[str, str]]:
        """The (BatchNorm, convolution) Keras layer names the inference form folds, as string
        literals: each pair the IR finds foldable in this network (every instance is listed by
        its own layer names), except a convolution written as DilatedConv2D (a stride with a
        dilation), whose subsampling is not a plain Conv2D's."""
        out = []
        for bn, conv in foldable_batchnorms(self.net).items():
            node = self.net.node(conv)
            if max(node.attrs.stride) > 1 and max(node.attrs.dilation) > 1:
                continue
            out.append((naming.literal(self.net.node(bn).keras_name), naming.literal(node.keras_name)))
        return out

    def _vars(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.spec.vars.items():
            out[key] = _evaluate(value, out)
        return out

    @staticmethod
    def _ident(name: str, reserved: frozenset[str] | set[str], what: str) -> str:
        try:
            return naming.identifier(name, reserved)
        except naming.NamingError as exc:
            raise BackendError(f"{what} {name!r} cannot be used in Keras code: {exc}") from None

    # -- block functions -----------------------------------------------------------------------
    def _block_function(self, type_name: str, function_names: set[str]) -> BlockFunction:
        resolved = self.loaded.block(type_name)
        definition = resolved.definition
        instances = [b for b in self.net.blocks if b.block_type == type_name]
        by_path: dict[tuple, list[tuple[BlockInstance, Node]]] = {}
        for block in instances:
            for node_id in block.nodes:
                node = self.net.node(node_id)
                by_path.setdefault(tuple(node.spec_path), []).append((block, node))

        units: list[_Unit] = []
        used_locals = {"input"}

        def add(layer: M.Layer, path: tuple, section: str, case: int | None = None) -> None:
            found = by_path.get(path, [])
            local, part = self._names(layer, found, used_locals, block_prefix=True)
            used_locals.add(local)
            units.append(_Unit(len(units), layer, path, section, [n for _, n in found], local, part, case))

        prefix = resolved.prefix
        for i, layer in enumerate(definition.body):
            add(layer, prefix + ("body", i), "body")
        if definition.merge is not None:
            for c, case in enumerate(definition.shortcut):
                for i, layer in enumerate(case.layers):
                    add(layer, prefix + ("shortcut", c, "layers", i), "shortcut", c)
            add(definition.merge, prefix + ("merge",), "merge")
        for i, layer in enumerate(definition.post):
            add(layer, prefix + ("post", i), "post")

        params = list(definition.params)
        lets = list(definition.let)
        reserved = MODULE_NAMES | BLOCK_VARIABLES | function_names
        for key in params + lets:
            if key == "in_channels":
                continue
            # block functions call layers only, never another block function: a parameter may be
            # named like one (or like its own function)
            self._ident(key, MODULE_NAMES | BLOCK_VARIABLES, f"parameter {key!r} of block type {type_name!r}:")
        scope = _Scope("block", units, [b.env for b in instances], "name", "x", "inputs")
        scope_reserved = reserved | set(params) | set(lets)

        # the layers first: they tell which names the function needs
        body = self._scope_statements(scope, definition, scope_reserved)
        head: list = []
        let_statements = []
        for key, value in definition.let.items():
            src = self._value(value, scope)
            let_statements.append(Assign(key, _code(src)))
        free = set(scope.names_used)
        if "in_channels" in free:
            head.append(Assign("in_channels", "x.shape[-1]", "channels last"))
        head.extend(let_statements)

        signature: list[Param] = []
        for key, default in definition.params.items():
            if default is None or isinstance(default, str):
                signature.append(Param(key))  # an expression default is evaluated by the caller
            else:
                signature.append(Param(key, _default_code(default)))
        for key in sorted(free & set(self.vars) - set(params) - set(lets)):
            signature.append(Param(self._ident(key, reserved, "variable"), naming.literal(self.vars[key])))
        signature.append(Param("name"))
        doc = _wrap(definition.doc or f"The {type_name} block.", 4)
        return BlockFunction(type_name, doc, "x", signature, head + body, scope.result)

    def _names(
        self,
        layer: M.Layer,
        found: list[tuple[BlockInstance | None, Node]],
        used: set[str],
        block_prefix: bool,
    ) -> tuple[str, str]:
        """The layer's local name and Keras name part, as the IR gave them (the same in every
        instance), or as the IR would give them when the layer is never instantiated."""
        seen: set[tuple[str, str]] = set()
        local = None
        for block, node in found:
            part = node.keras_name
            if block_prefix:
                assert block is not None
                start = block.keras_name + "_"
                if not part.startswith(start):
                    raise BackendError(f"Keras name {part!r} does not start with its block's name {start!r}")
                part = part[len(start) :]
            seen.add((local or node.local_name, part))
            local = local or node.local_name  # an auto-name may vary (add, add2): the first one
        if len(seen) > 1:
            variants = ", ".join(sorted(p for _, p in seen))
            raise BackendError(
                f"layer {layer.name or layer.op!r} gets different Keras names in different blocks "
                f"({variants}); give it a 'keras:' name"
            )
        if seen:
            return next(iter(seen))
        local = layer.name or auto_name(layer.op, used)
        return local, layer.keras or local.replace(".", "_")

    # -- stem and head ---------------------------------------------------------------------------
    def _model_function(self, model_name: str, function_names: set[str]) -> ModelFunction:
        reserved = MODULE_NAMES | MODEL_VARIABLES | function_names
        statements: list = []
        names_used: set[str] = set()

        current = "inputs"
        if self.spec.stem:
            scope = self._flat_scope("stem", self.spec.stem, current, "inputs")
            statements += self._scope_statements(scope, None, reserved | set(self.vars))
            names_used |= scope.names_used
            current = scope.result
        for stage in self.net.stages:
            blocks = [self.net.block(b) for b in stage.block_ids]
            if not blocks:
                continue
            kinds = list(dict.fromkeys(b.block_type for b in blocks))
            first, last = blocks[0], blocks[-1]
            text = (
                f"Stage {stage.index} ({stage.torch_name}): {len(blocks)} x {' / '.join(kinds)}, "
                f"{_nhwc(first.in_shape)} -> {_nhwc(last.out_shape)}"
            )
            for line in naming.comment_lines(text, render.LINE_LENGTH - 6):
                statements.append(Comment(line))
            for block in blocks:
                statements.append(FunctionCall("x", block.block_type, current, self._call_args(block)))
                current = "x"
        top: list = []
        if self.spec.head:
            scope = self._flat_scope("head", self.spec.head, current, "features")
            top = self._scope_statements(scope, None, reserved | set(self.vars))
            names_used |= scope.names_used
            if scope.result != current:
                top.append(Assign(current, scope.result))
        # keras.applications' conventions: the head ("top") is optional, a global pooling can
        # replace it, and an activation can follow the classifier.
        # keras.applications' names for these layers, unless the spec already uses one (the
        # pooling replaces the head, so the head's names are free for it)
        everything = {n.keras_name for n in self.net.ops()} | set(self.aux_names) | set(self.taken)
        head = {n.keras_name for n in self.net.ops() if n.part == "head"}

        def free(name: str, taken: set[str]) -> str:
            candidate, n = name, 1
            while candidate in taken:
                n += 1
                candidate = f"{name}_{n}"
            return naming.literal(candidate)

        activation = free("classifier_activation", everything)
        act = LayerCall(current, "layers.Activation", [Arg("classifier_activation")], activation, current)
        top.append(If([Branch("classifier_activation is not None", [act])]))
        avg = LayerCall(current, "layers.GlobalAveragePooling2D", [], free("avg_pool", everything - head), current)
        peak = LayerCall(current, "layers.GlobalMaxPooling2D", [], free("max_pool", everything - head), current)
        pools = [Branch('pooling == "avg"', [avg]), Branch('pooling == "max"', [peak])]
        statements.append(If([Branch("include_top", top), *pools]))

        c, h, w = self.net.input_shape
        params = [
            Param("include_top", "True"),
            Param("input_shape", naming.literal((h, w, c))),
            Param("pooling", "None"),
        ]
        for key in sorted(names_used & set(self.arguments)):
            params.append(Param(self._ident(key, reserved, "variable"), naming.literal(self.vars[key])))
        params.append(Param("classifier_activation", "None"))
        out = self.net.output_shape
        doc = (
            _wrap(self.net.doc or f"The {self.net.name} network.", 4)
            + [""]
            + _wrap(
                f"Input: channels-last images, {_batch_shape(self.net.input_shape)} at the spec's size; "
                f"output: {_describe_output(self.net)}, {_batch_shape(out)}.",
                4,
            )
        )
        self._ident("input", set(), "input")
        if "input" in {n.keras_name for n in self.net.ops()}:
            raise BackendError("a layer is named 'input', the name of the Keras input layer; rename it")
        return ModelFunction(
            model_name,
            doc,
            params,
            naming.literal("input"),
            statements,
            current,
            naming.literal(self.net.name),
        )

    def _flat_scope(self, part: str, layers: list[M.Layer], input_var: str, keep_as: str) -> _Scope:
        nodes = [n for n in self.net.ops() if n.part == part]
        by_path: dict[tuple, list[tuple[None, Node]]] = {}
        for node in nodes:
            by_path.setdefault(tuple(node.spec_path), []).append((None, node))
        units = []
        used = {"input"}
        for i, layer in enumerate(layers):
            path = (part, i)
            found = by_path.get(path, [])
            local, name = self._names(layer, found, used, block_prefix=False)
            used.add(local)
            units.append(_Unit(len(units), layer, path, part, [n for _, n in found], local, name))
        return _Scope(part, units, [dict(self.vars)], None, input_var, keep_as)

    def _call_args(self, block: BlockInstance) -> list[Arg]:
        definition = self.loaded.block(block.block_type).definition
        args = []
        for key, default in definition.params.items():
            value = block.args[key]
            required = default is None or isinstance(default, str)
            if not required and type(value) is type(default) and value == default:
                continue
            args.append(Arg(naming.literal(value), key))
        args.append(Arg(naming.literal(block.keras_name), "name"))
        return args

    # -- statements of a scope -------------------------------------------------------------------
    def _scope_statements(self, scope: _Scope, definition: M.BlockDef | None, reserved: set[str]) -> list:
        """Statements for a scope.  Each layer writes the scope's chain variable (``x``, or
        ``shortcut`` on the shortcut), except layers that later layers name in ``inputs:`` or
        ``from:``: those get their own variable.  The emission is redone with more variables
        until no value is read after its variable was overwritten."""
        keep: set[str] = set()  # values (local names, "input") that need their own variable
        for _ in range(len(scope.units) + 2):
            emitter = _Emitter(self, scope, definition, keep, reserved)
            statements = emitter.run()
            if not emitter.clobbered:
                scope.result = emitter.result
                return statements
            keep |= emitter.clobbered
        raise BackendError("could not allocate variables for the generated code")  # pragma: no cover

    # -- values ----------------------------------------------------------------------------------
    def _value(self, raw: Any, scope: _Scope, keywords: frozenset[str] = frozenset()) -> Any:
        """A spec value as generated code: a :class:`Src` per scalar, lists kept as lists."""
        if isinstance(raw, bool) or isinstance(raw, (int, float)):
            return _const(raw)
        if isinstance(raw, str):
            if raw in keywords:
                return _const(raw)
            return self._expression(raw, scope)
        if isinstance(raw, (list, tuple)):
            return [self._value(v, scope, keywords) for v in raw]
        if raw is None:
            return _const(None)
        raise BackendError(f"cannot write the value {raw!r} in Keras code")

    def _expression(self, text: str, scope: _Scope) -> Src:
        parsed = E.parse(text)
        tree = copy.deepcopy(parsed.tree)
        if scope.kind != "block":
            # in the stem and the head, a spec variable the function does not take is a constant
            fixed = {k: v for k, v in self.vars.items() if k in parsed.names and k not in self.arguments}
            if fixed and not (parsed.names - set(fixed)):
                value = parsed.evaluate(self.vars)
                return Src(naming.literal(value), value)
            tree = _Inline(fixed).visit(tree)
        tree = _DivisionToFloor(scope.envs).visit(tree)
        scope.names_used |= parsed.names
        if any(isinstance(n, ast.Call) and getattr(n.func, "id", None) == "round_to" for n in ast.walk(tree)):
            self.round_to = True
        if not parsed.names:
            value = parsed.evaluate({})
            return Src(naming.literal(value), value)
        return Src(ast.unparse(tree))

    def _aux_name(self, unit: _Unit, scope: _Scope, suffix: str, kind: str) -> str:
        """The name of a helper layer (padding, permute) next to ``unit``: ``conv1_conv`` ->
        ``conv1_pad``, ``2_conv`` -> ``2_pad``, ``maxpool`` -> ``maxpool_pad``.  When that name
        is taken (``stem_conv`` and ``stem_pool`` would both pad as ``stem_pad``), the unit's
        whole name part is kept (``stem_pool_pad``), then a number is added."""
        part = unit.part
        short = part
        for ending in ("_conv", "_pool"):
            if part.endswith(ending) and suffix == "pad":
                short = part[: -len(ending)]
                break
        candidates = [f"{short}_{suffix}", f"{part}_{suffix}"] + [f"{part}_{suffix}{i}" for i in range(2, 100)]
        for candidate in dict.fromkeys(candidates):
            fulls = [
                (node.keras_name[: len(node.keras_name) - len(unit.part)] + candidate, node) for node in unit.nodes
            ]
            if all(
                full not in self.taken and self.aux_names.get(full, (node.id, suffix)) == (node.id, suffix)
                for full, node in fulls
            ):
                for full, node in fulls:
                    self.aux_names[full] = (node.id, suffix)
                return _name_code(scope, candidate)
        raise BackendError(f"no free Keras name for the {kind} of {unit.part!r}; rename that layer")


class _Inline(ast.NodeTransformer):
    """Names replaced by their (literal) values."""

    def __init__(self, values: dict[str, Any]):
        self.values = values

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.values:
            return ast.parse(naming.literal(self.values[node.id]), mode="eval").body
        return node


def _name_code(scope: _Scope, part: str) -> str:
    if scope.name_var is None:
        return naming.literal(part)
    return f"{scope.name_var} + {naming.literal('_' + part)}"


def _default_code(value: Any) -> str:
    if isinstance(value, list):
        value = tuple(value)  # no mutable defaults
    return naming.literal(value)


def _evaluate(value: Any, env: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return E.evaluate(value, env)
    if isinstance(value, list):
        return [_evaluate(v, env) for v in value]
    return value


def _nhwc(shape: tuple[int, ...] | None) -> str:
    """A shape in Keras' own layout, written as the PyTorch backend writes its own: (N, H, W, C)."""
    if shape is None:
        return "?"
    if len(shape) == 3:
        c, h, w = shape
        return f"(N, {h}, {w}, {c})"
    return "(N, " + ", ".join(str(d) for d in shape) + ")"


def _wrap(text: str, indent: int) -> list[str]:
    """Spec text as docstring lines that fit the line length."""
    return naming.docstring_lines(text, render.LINE_LENGTH - indent - 4)


def _batch_shape(shape: tuple[int, ...] | None) -> str:
    return "(N, ?)" if shape is None else _nhwc(shape)


def _describe_output(network: Network) -> str:
    node = network.node(network.output)
    while node.op in ("flatten", "identity", "dropout") and node.inputs:
        node = network.node(node.inputs[0])
    if node.op == "softmax":
        return "probabilities"
    return "logits" if node.op in ("linear", "conv") else f"the {node.op} output"


class _DivisionToFloor(ast.NodeTransformer):
    """The spec's ``/`` on whole numbers must divide exactly and gives a whole number; Python's
    ``/`` gives a float.  Where every instance divides whole numbers, write ``//`` (equal then)."""

    def __init__(self, envs: list[dict[str, Any]]):
        self.envs = envs

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Div) and self.envs:
            try:
                operands = [
                    E.Expr(ast.unparse(side), side).evaluate(env)
                    for env in self.envs
                    for side in (node.left, node.right)
                ]
            except E.ExprError:
                return node
            if all(isinstance(v, int) and not isinstance(v, bool) for v in operands):
                node.op = ast.FloorDiv()
        return node


# ---------------------------------------------------------------------------------------------
# emitting one scope


class _Emitter:
    def __init__(
        self,
        lowering: _Lowering,
        scope: _Scope,
        definition: M.BlockDef | None,
        keep: set[str],
        reserved: set[str],
    ):
        self.low = lowering
        self.scope = scope
        self.definition = definition
        self.keep = keep
        self.reserved = reserved
        self.clobbered: set[str] = set()
        self.result = ""
        # variable -> the value it holds (a local name, "input", or None: unknown)
        self.holds: dict[str, str | None] = {}
        self.home: dict[str, str] = {}  # value -> the variable it was written to
        self.var_names: dict[str, str] = {}

    # -- variables -------------------------------------------------------------------------------
    def var_for(self, value: str) -> str:
        if value == "input":
            return self.scope.keep_input_as
        if value not in self.var_names:
            candidate = value.replace(".", "_")
            while candidate in self.reserved or candidate in self.var_names.values() or not candidate.isidentifier():
                candidate += "_out"
            self.var_names[value] = self.low._ident(candidate, self.reserved, "variable")
        return self.var_names[value]

    def write(self, var: str, value: str | None) -> None:
        self.holds[var] = value
        if value is not None:
            self.home[value] = var

    def read(self, value: str) -> str:
        """The variable holding ``value`` now; records a clobbered value if none does."""
        var = self.home.get(value)
        if var is None or self.holds.get(var) != value:
            self.clobbered.add(value)
            return self.var_for(value)
        return var

    # -- the walk --------------------------------------------------------------------------------
    def run(self) -> list:
        scope = self.scope
        out: list = []
        self.write(scope.input_var, "input")
        if "input" in self.keep:
            out.append(Assign(scope.keep_input_as, scope.input_var))
            self.write(scope.keep_input_as, "input")
        if scope.kind != "block":
            current = scope.input_var
            for unit in scope.units:
                current = self.unit(unit, out, current, scope.chain)
            self.result = current
            return out

        body = [u for u in scope.units if u.section == "body"]
        merge = [u for u in scope.units if u.section == "merge"]
        post = [u for u in scope.units if u.section == "post"]
        place = self.shortcut_place(body)
        current = scope.input_var
        if merge and place == -1:
            self.shortcut(out)
        for i, unit in enumerate(body):
            current = self.unit(unit, out, current, "x")
            if merge and place == i:
                self.shortcut(out)
        if merge:
            (unit,) = merge
            current = self.merge(unit, out, current)
        for unit in post:
            current = self.unit(unit, out, current, "x")
        self.result = current
        return out

    def shortcut_place(self, body: list[_Unit]) -> int:
        """Emit the shortcut right after the last body layer it reads (-1: before the body)."""
        assert self.definition is not None
        sources = set()
        for case in self.definition.shortcut:
            sources.add(case.from_)
            for layer in case.layers:
                sources.update(layer.inputs or [])
        place = -1
        for i, unit in enumerate(body):
            if unit.local in sources:
                place = i
        return place

    def shortcut(self, out: list) -> None:
        assert self.definition is not None
        scope = self.scope
        branches: list[Branch] = []
        for c, case in enumerate(self.definition.shortcut):
            condition = self.condition(case.when)
            if condition is False:
                continue
            statements: list = []
            units = [u for u in scope.units if u.section == "shortcut" and u.case == c]
            saved = dict(self.holds), dict(self.home)
            current = self.read(case.from_)
            for unit in units:
                current = self.unit(unit, statements, current, "shortcut")
            if current != "shortcut":
                statements.append(Assign("shortcut", current))
            self.holds, self.home = saved
            branches.append(Branch(None if condition is True else condition, statements))
            if condition is True:
                break
        if not branches or branches[-1].condition is not None:
            branches.append(Branch(None, [Assign("shortcut", self.read("input"))]))
        if len(branches) == 1:
            out.extend(branches[0].body)
        else:
            out.append(If(branches))
        self.write("shortcut", "@shortcut")

    def merge(self, unit: _Unit, out: list, current: str) -> str:
        # The IR's order is [main path, shortcut]; a sum or product does not depend on it, and
        # keras.applications writes Add([shortcut, x]), which orders model.layers as it does.
        commutative = unit.layer.op in ("add", "multiply")
        source = f"[shortcut, {current}]" if commutative else f"[{current}, shortcut]"
        out.extend(self.layer(unit, source, "x"))
        self.write("x", unit.local)
        return "x"

    def condition(self, when: Any) -> str | bool:
        if when is None:
            return True
        if isinstance(when, bool):
            return when
        src = self.low._expression(when, self.scope)
        if src.static:
            return bool(src.value)
        return src.code

    def unit(self, unit: _Unit, out: list, current: str, chain: str) -> str:
        """Emit one layer reading ``current`` (or its ``inputs:``); returns where its output is."""
        condition = self.condition(unit.layer.when)
        if condition is False:
            return current
        named = unit.local in self.keep
        conditional = condition is not True
        if conditional and current != chain:
            out.append(Assign(chain, current))  # so that skipping the layer keeps the value
            self.holds[chain] = self.holds.get(current)  # a copy: the value keeps its home
            current = chain
        if unit.layer.inputs:
            sources = [self.read(ref) for ref in unit.layer.inputs]
            source = f"[{', '.join(sources)}]" if len(sources) > 1 else sources[0]
        else:
            source = current
        target = self.var_for(unit.local) if named else chain
        statements = self.layer(unit, source, target)
        if not conditional:
            out.extend(statements)
            self.write(target, unit.local)
            return target
        if named:
            statements.append(Assign(chain, target))  # the chain goes on from this layer
        last = out[-1] if out else None
        if isinstance(last, If) and len(last.branches) == 1 and last.branches[0].condition == condition:
            last.branches[0].body.extend(statements)  # one `if` for consecutive layers under one condition
        else:
            out.append(If([Branch(condition, statements)]))
        self.write(chain, None)  # this layer's output or the previous value
        if named:
            self.write(target, unit.local)
        return chain

    # -- one layer -------------------------------------------------------------------------------
    def layer(self, unit: _Unit, source: str, target: str) -> list:
        return _LayerLowering(self.low, self.scope, unit).statements(source, target)


# ---------------------------------------------------------------------------------------------
# one layer -> Keras layers


class _LayerLowering:
    def __init__(self, lowering: _Lowering, scope: _Scope, unit: _Unit):
        self.low = lowering
        self.scope = scope
        self.unit = unit
        self.op = unit.layer.op
        self.opdef = O.get(self.op)
        if self.opdef is None:
            raise BackendError(f"unknown op {self.op!r}")
        self.attrs = self._attrs()
        self.name = _name_code(scope, unit.part)

    def _attrs(self) -> dict[str, Any]:
        assert self.opdef is not None
        raw: dict[str, Any] = {}
        for key, info in self.opdef.attrs.model_fields.items():
            if not info.is_required():
                raw[key] = info.get_default()
        for key, value in self.low.spec.defaults.get(self.op, {}).items():
            if key in raw or key in self.opdef.attrs.model_fields:
                raw[key] = value
        raw.update(self.unit.layer.attrs)
        if raw.get("pad_value") == "-inf":
            raw["pad_value"] = float("-inf")
        keywords = self.opdef.attrs.KEYWORDS
        return {key: self.low._value(value, self.scope, keywords.get(key, frozenset())) for key, value in raw.items()}

    # -- attribute helpers -----------------------------------------------------------------------
    def pair(self, key: str) -> tuple[Src, Src]:
        value = self.attrs[key]
        if isinstance(value, list):
            if len(value) != 2:
                raise BackendError(f"{key} must be a number or a pair")
            return value[0], value[1]
        return value, value

    def static_pair(self, key: str) -> tuple[int, int] | None:
        a, b = self.pair(key)
        return (a.value, b.value) if a.static and b.static else None

    def padding(self) -> str | tuple[Src, Src, Src, Src]:
        """``"same"``, ``"valid"`` or a (top, bottom, left, right) box."""
        value = self.attrs["padding"]
        if isinstance(value, Src) and value.static and value.value in ("same", "valid"):
            return value.value
        if isinstance(value, Src):
            return (value, value, value, value)
        if len(value) == 2 and all(isinstance(v, Src) for v in value):
            return (value[0], value[0], value[1], value[1])
        if len(value) == 2 and all(isinstance(v, list) and len(v) == 2 for v in value):
            return (value[0][0], value[0][1], value[1][0], value[1][1])
        if len(value) == 4 and all(isinstance(v, Src) for v in value):
            return (value[0], value[1], value[2], value[3])
        raise BackendError(f"cannot read the padding of {self.unit.part!r}")

    def is_zero(self, box: str | tuple) -> bool:
        if box == "valid":
            return True
        if isinstance(box, str):
            return False
        values = _static_values(list(box))
        return values is not None and not any(values)

    def zero_padding(self, box: tuple[Src, Src, Src, Src], source: str, target: str) -> LayerCall:
        top, bottom, left, right = box
        code = f"(({top.code}, {bottom.code}), ({left.code}, {right.code}))"
        name = self.low._aux_name(self.unit, self.scope, "pad", "padding")
        return LayerCall(target, "layers.ZeroPadding2D", [Arg(code, "padding")], name, source)

    def call(self, callee: str, args: list[Arg], source: str, target: str, comment: str | None = None) -> LayerCall:
        return LayerCall(target, callee, args, self.name, source, comment)

    def instances_nonneg(self) -> bool:
        """True when the input of every instance is provably non-negative (False if there are none)."""
        nodes = self.unit.nodes
        return bool(nodes) and all(self.low.net.node(n.inputs[0]).nonneg for n in nodes)

    # -- dispatch --------------------------------------------------------------------------------
    def statements(self, source: str, target: str) -> list:
        method = getattr(self, f"_op_{self.op}", None)
        if method is not None:
            return method(source, target)
        if self.op in _ACTIVATIONS:
            return [self.call("layers.Activation", [Arg(naming.literal(_ACTIVATIONS[self.op]))], source, target)]
        if self.op in _MERGES:
            return [self.call(_MERGES[self.op], [], source, target)]
        raise BackendError(f"the Keras backend has no lowering for op {self.op!r}")

    def _op_conv(self, source: str, target: str) -> list:
        kernel, stride, dilation = self.pair("kernel"), self.pair("stride"), self.pair("dilation")
        args = [Arg(self.attrs["filters"].code), Arg(_pair_code(kernel))]
        if not (self.static_pair("stride") == (1, 1)):
            args.append(Arg(_pair_code(stride), "strides"))
        box = self.padding()
        out: list = []
        static_kernel, static_stride = self.static_pair("kernel"), self.static_pair("stride")
        static_dilation = self.static_pair("dilation")
        # Keras refuses a stride with a dilation: DilatedConv2D convolves at stride 1 and keeps
        # every stride-th row and column, the values PyTorch's strided, dilated convolution gives
        subsample = any(max(n.attrs.stride) > 1 and max(n.attrs.dilation) > 1 for n in self.unit.nodes)
        if subsample:
            node = self.unit.nodes[0]
            if box == "same" or self.attrs["standardize"].value is not False:
                raise BackendError(
                    f"{node.keras_name}: Keras convolutions cannot combine a stride and a dilation; archspec "
                    "writes them as a stride-1 convolution then a subsampling only with explicit padding "
                    "and no standardization"
                )
            args = [a for a in args if a.key != "strides"]
        if box == "same":
            args.append(Arg(naming.literal("same"), "padding"))
        elif self.is_zero(box):
            pass
        elif (
            static_kernel
            and static_stride == (1, 1)
            and static_dilation
            and _static_values(list(box)) == _symmetric_same(static_kernel, static_dilation)
        ):
            args.append(Arg(naming.literal("same"), "padding"))  # stride 1, (k - 1) * d / 2 each side
        else:
            out.append(self.zero_padding(box, source, target))
            source = target
            args.append(Arg(naming.literal("valid"), "padding"))
        if static_dilation != (1, 1):
            args.append(Arg(_pair_code(dilation), "dilation_rate"))
        groups = self.attrs["groups"]
        if not (groups.static and groups.value == 1):
            args.append(Arg(groups.code, "groups"))
        args.append(Arg(self.attrs["bias"].code, "use_bias"))
        standardize = self.attrs["standardize"]
        if not standardize.static:
            raise BackendError("conv's standardize must be a plain true/false")
        if standardize.value:
            self.low.helpers.add("StdConv2D")
            args.append(Arg(self.attrs["std_eps"].code, "eps"))
            out.append(self.call("StdConv2D", args, source, target))
            return out
        if subsample:
            self.low.helpers.add("DilatedConv2D")
            args.append(Arg(_pair_code(stride), "subsample"))
            out.append(self.call("DilatedConv2D", args, source, target, "a stride with a dilation"))
            return out
        out.append(self.call("layers.Conv2D", args, source, target))
        return out

    def _op_groupnorm(self, source: str, target: str) -> list:
        args = [Arg(self.attrs["groups"].code, "groups"), Arg("-1", "axis"), Arg(self.attrs["eps"].code, "epsilon")]
        return [self.call("layers.GroupNormalization", args, source, target, "contiguous channel groups, as PyTorch")]

    def _op_evonorm_s0(self, source: str, target: str) -> list:
        self.low.helpers.add("EvoNormS0")
        args = [Arg(self.attrs["groups"].code, "groups"), Arg(self.attrs["eps"].code, "epsilon")]
        return [self.call("EvoNormS0", args, source, target, "contiguous channel groups, as PyTorch")]

    def _op_frn_tlu(self, source: str, target: str) -> list:
        self.low.helpers.add("FilterResponseNormTlu")
        return [self.call("FilterResponseNormTlu", [Arg(self.attrs["eps"].code, "epsilon")], source, target)]

    def _op_layernorm(self, source: str, target: str) -> list:
        args = [Arg("-1", "axis"), Arg(self.attrs["eps"].code, "epsilon")]
        return [self.call("layers.LayerNormalization", args, source, target, "over the channels")]

    def _op_gelu(self, source: str, target: str) -> list:
        approximate = self.attrs["approximate"]
        if not approximate.static:
            raise BackendError("gelu's approximate must be written plainly (none or tanh)")
        if approximate.value == "tanh":
            self.low.helpers.add("gelu_tanh")
            return [self.call("layers.Activation", [Arg("gelu_tanh")], source, target)]
        return [self.call("layers.Activation", [Arg(naming.literal("gelu"))], source, target, "exact (erf)")]

    def _op_channel_slice(self, source: str, target: str) -> list:
        self.low.helpers.add("ChannelSlice")
        start, size = self.attrs["start"], self.attrs["size"]
        stop = (
            naming.literal(start.value + size.value) if start.static and size.static else f"{start.code} + {size.code}"
        )
        return [self.call("ChannelSlice", [Arg(start.code), Arg(stop)], source, target)]

    def _op_radix_sum(self, source: str, target: str) -> list:
        self.low.helpers.add("RadixSum")
        return [self.call("RadixSum", [Arg(self.attrs["radix"].code)], source, target)]

    def _op_radix_softmax(self, source: str, target: str) -> list:
        self.low.helpers.add("RadixSoftmax")
        args = [Arg(self.attrs["radix"].code), Arg(self.attrs["groups"].code)]
        return [self.call("RadixSoftmax", args, source, target, "softmax across the radix parts, per group")]

    def _op_blur_pool(self, source: str, target: str) -> list:
        self.low.helpers.add("BlurPool2D")
        args = [Arg(self.attrs["filter"].code, "filt_size"), Arg(self.attrs["stride"].code, "stride")]
        return [self.call("BlurPool2D", args, source, target)]

    def _op_elu(self, source: str, target: str) -> list:
        return [self.call("layers.ELU", [Arg(self.attrs["alpha"].code, "alpha")], source, target)]

    def _op_prelu(self, source: str, target: str) -> list:
        per_channel = self.attrs["per_channel"]
        if not per_channel.static:
            raise BackendError("prelu's per_channel must be a plain true/false")
        ranks = {len(n.in_shapes[0]) for n in self.unit.nodes if n.in_shapes and n.in_shapes[0] is not None}
        if len(ranks) > 1:
            raise BackendError("prelu: the input is a feature map in some blocks and a vector in others")
        rank = ranks.pop() if ranks else 3
        shared = list(range(1, rank + (0 if per_channel.value else 1)))
        args = [Arg(f"keras.initializers.Constant({self.attrs['init'].code})", "alpha_initializer")]
        if shared:
            args.append(Arg(repr(shared), "shared_axes"))
        return [self.call("layers.PReLU", args, source, target)]

    def _op_channel_conv(self, source: str, target: str) -> list:
        kernel = self.attrs["kernel"]
        self.low.helpers.add("ChannelConv")
        if kernel.static and kernel.value == "auto":
            self.low.helpers.add("eca_kernel_size")
            gamma, beta = self.attrs["gamma"].code, self.attrs["beta"].code
            size = f"eca_kernel_size({source}.shape[-1], gamma={gamma}, beta={beta})"
        else:
            size = kernel.code
        return [self.call("ChannelConv", [Arg(size)], source, target)]

    def _op_batchnorm(self, source: str, target: str) -> list:
        momentum = self.attrs["momentum"]
        if momentum.static:
            keras_momentum = naming.literal(float(Decimal(1) - Decimal(repr(float(momentum.value)))))
        else:
            keras_momentum = f"1 - ({momentum.code})"
        args = [Arg(self.attrs["eps"].code, "epsilon"), Arg(keras_momentum, "momentum")]
        return [self.call("layers.BatchNormalization", args, source, target)]

    def _op_relu6(self, source: str, target: str) -> list:
        return [self.call("layers.ReLU", [Arg("6.0", "max_value")], source, target)]

    def _op_leaky_relu(self, source: str, target: str) -> list:
        return [
            self.call("layers.LeakyReLU", [Arg(self.attrs["negative_slope"].code, "negative_slope")], source, target)
        ]

    def _op_softmax(self, source: str, target: str) -> list:
        return [self.call("layers.Softmax", [Arg("-1", "axis")], source, target, "over channels: the last axis")]

    def _op_identity(self, source: str, target: str) -> list:
        return [self.call("layers.Identity", [], source, target)]

    def _op_dropout(self, source: str, target: str) -> list:
        return [self.call("layers.Dropout", [Arg(self.attrs["rate"].code)], source, target)]

    def _op_concat(self, source: str, target: str) -> list:
        return [self.call("layers.Concatenate", [Arg("-1", "axis")], source, target)]

    def _op_linear(self, source: str, target: str) -> list:
        args = [Arg(self.attrs["units"].code), Arg(self.attrs["bias"].code, "use_bias")]
        return [self.call("layers.Dense", args, source, target)]

    def _global(self, callee: str, source: str, target: str) -> list:
        keepdims = self.attrs["keepdims"]
        args = [] if keepdims.static and keepdims.value is False else [Arg(keepdims.code, "keepdims")]
        return [self.call(callee, args, source, target)]

    def _op_global_avg_pool(self, source: str, target: str) -> list:
        return self._global("layers.GlobalAveragePooling2D", source, target)

    def _op_global_max_pool(self, source: str, target: str) -> list:
        return self._global("layers.GlobalMaxPooling2D", source, target)

    def _op_flatten(self, source: str, target: str) -> list:
        shapes = [n.in_shapes[0] for n in self.unit.nodes]
        if shapes and all(s is not None and (len(s) == 1 or s[1:] == (1, 1)) for s in shapes):
            return [self.call("layers.Flatten", [], source, target)]
        name = self.low._aux_name(self.unit, self.scope, "permute", "channels-first permutation")
        permute = LayerCall(
            target,
            "layers.Permute",
            [Arg("(3, 1, 2)")],
            name,
            source,
            "channels first, so that the flattened order is PyTorch's (C, H, W)",
        )
        return [permute, self.call("layers.Flatten", [], target, target)]

    # -- pooling ---------------------------------------------------------------------------------
    def _op_maxpool(self, source: str, target: str) -> list:
        return self._pool("max", source, target)

    def _op_avgpool(self, source: str, target: str) -> list:
        return self._pool("avg", source, target)

    def _pool(self, mode: str, source: str, target: str) -> list:
        callee = "layers.MaxPooling2D" if mode == "max" else "layers.AveragePooling2D"
        kernel = self.pair("kernel")
        stride_value = self.attrs["stride"]
        stride = (
            kernel
            if isinstance(stride_value, Src) and stride_value.static and stride_value.value is None
            else self.pair("stride")
        )
        box = self.padding()
        ceil = self.attrs["ceil_mode"]
        include_pad = self.attrs.get("count_include_pad", _const(True))
        pad_value = self.attrs.get("pad_value", _const(float("-inf")))
        if not (ceil.static and include_pad.static and pad_value.static):
            return self._torch_pool(mode, kernel, stride, box, source, target)
        zero_padding_exact = mode == "avg" or pad_value.value == 0 or self.instances_nonneg()
        args = [Arg(_pair_code(kernel))]
        if _pair_code(stride) != _pair_code(kernel):
            args.append(Arg(_pair_code(stride), "strides"))
        static_kernel = self.static_pair("kernel")
        static_stride = static_kernel if stride is kernel else self.static_pair("stride")
        if ceil.value:
            # PyTorch's ceil mode without padding, kernel == stride <= 2: the windows are
            # TensorFlow's "same" windows (the last one partial, its missing cells ignored).
            if self.is_zero(box) and static_kernel and static_kernel == static_stride and max(static_kernel) <= 2:
                args.append(Arg(naming.literal("same"), "padding"))
                return [self.call(callee, args, source, target, "= ceil_mode: the last window is partial")]
            return self._torch_pool(mode, kernel, stride, box, source, target)
        if self.is_zero(box):
            return [self.call(callee, args, source, target)]
        if box == "same":
            # TensorFlow's "same" pooling leaves the padding out (of the max, of the average's count)
            if (mode == "max" and (pad_value.value != 0 or self.instances_nonneg())) or (
                mode == "avg" and include_pad.value is False
            ):
                args.append(Arg(naming.literal("same"), "padding"))
                return [self.call(callee, args, source, target)]
            return self._torch_pool(mode, kernel, stride, box, source, target)
        if zero_padding_exact and (mode == "max" or include_pad.value):
            comment = None
            if mode == "max" and pad_value.value != 0:
                comment = "zeros here equal PyTorch's -inf: the input is non-negative"
            pad = self.zero_padding(box, source, target)
            pad.comment = comment
            args.append(Arg(naming.literal("valid"), "padding"))
            return [pad, self.call(callee, args, target, target)]
        return self._torch_pool(mode, kernel, stride, box, source, target)

    def _torch_pool(
        self,
        mode: str,
        kernel: tuple[Src, Src],
        stride: tuple[Src, Src],
        box: str | tuple,
        source: str,
        target: str,
    ) -> list:
        self.low.torch_pooling = True
        if isinstance(box, str):
            padding = naming.literal(box) if box == "same" else "((0, 0), (0, 0))"
        else:
            top, bottom, left, right = box
            padding = f"(({top.code}, {bottom.code}), ({left.code}, {right.code}))"
        args = [
            Arg(naming.literal(mode)),
            Arg(_tuple_code(kernel), "pool_size"),
            Arg(_tuple_code(stride), "strides"),
            Arg(padding, "padding"),
            Arg(self.attrs["ceil_mode"].code, "ceil_mode"),
        ]
        if mode == "avg":
            args.append(Arg(self.attrs["count_include_pad"].code, "count_include_pad"))
        else:
            args.append(Arg(self.attrs["pad_value"].code, "pad_value"))
        return [self.call("TorchPooling2D", args, source, target)]


def _symmetric_same(kernel: tuple[int, int], dilation: tuple[int, int]) -> list[int] | None:
    """The padding that stride-1 ``same`` adds, when it is symmetric: [top, bottom, left, right]."""
    out = []
    for k, d in zip(kernel, dilation, strict=True):
        total = (k - 1) * d
        if total % 2:
            return None
        out += [total // 2, total // 2]
    return out


# ---------------------------------------------------------------------------------------------
# entry points


def view(network: Network) -> Module:
    """The view model of ``network``'s Keras module."""
    if not network.ok:
        raise BackendError("the network has errors; run archspec lint")
    return _Lowering(network).module()


def emit(network: Network, *, inference: bool = False) -> str:
    """The complete, formatted source of a standalone Keras module for ``network``.

    ``inference=True`` writes the inference form: the same functions and layers (a weights file
    of the plain form loads as it is), plus ``fuse_for_inference(model)``, which returns a copy
    of a built, loaded model with every BatchNorm the IR shows foldable folded into the
    convolution before it (kernel and bias take its scale and shift; a pass-through layer,
    ``FoldedBatchNorm``, keeps its name), and the table of those layer names, ``BATCHNORM_FOLDS``."""
    if not network.ok:
        raise BackendError("the network has errors; run archspec lint")
    module = _Lowering(network).module(inference=inference)
    source = render.render(NAME, "module.py.j2", module=module)
    return render.format_source(source)


def model_function_name(network: Network) -> str:
    return naming.identifier(network.name)


def load_module(source: str, network: Network) -> types.ModuleType:
    """Run the generated ``source`` in a fresh module; returns the module."""
    import keras  # noqa: F401  (fails early, with a clear message, when keras is missing)

    module = types.ModuleType(f"archspec_generated_keras_{network.name}")
    module.__file__ = f"<archspec keras {network.name}>"
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # our own generated code
    return module


def instantiate(source: str, network: Network, module: types.ModuleType | None = None):
    """Run the generated ``source`` in a fresh module (or use ``module``, loaded from it) and
    build its model at the network's input size; returns a built ``keras.Model``."""
    module = module or load_module(source, network)
    c, h, w = network.input_shape
    model = getattr(module, model_function_name(network))(input_shape=(h, w, c))
    shape = network.output_shape or ()
    expected = (shape[1], shape[2], shape[0]) if len(shape) == 3 else tuple(shape)
    if tuple(model.output_shape[1:]) != expected:
        raise BackendError(
            f"the Keras model's output {model.output_shape} differs from the IR's {network.output_shape}"
        )
    return model
