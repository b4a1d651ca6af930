"""PyTorch backend: IR -> view model -> ``templates/torch/module.py.j2`` -> formatted source.

The generated module reads like torchvision's ``resnet.py``: one ``nn.Module`` class per block
type the network uses, written from the block *definition* (its parameters are ``__init__``
arguments, its ``let:`` values locals, its ``when:`` conditions and shortcut cases ``if``s,
the spec's expressions Python), then the model class, whose stem and head come from the IR
and whose stages are ``nn.Sequential`` of block instances with their arguments.  Module paths
are the spec's names, so the state-dict keys are ``network.state_dict_shapes()``; the
backend checks every block instance of the IR against the class it writes (module paths,
input channels) and refuses, with a :class:`BackendError`, what it cannot express exactly.
"""

from __future__ import annotations

import ast
import linecache
import types
from dataclasses import dataclass, field
from typing import Any

from archspec.backends import BackendError, naming, render
from archspec.backends import torch_lowering as L
from archspec.backends import torch_scope as S
from archspec.backends.arguments import model_arguments
from archspec.backends.folding import foldable_batchnorms
from archspec.ir import ops as O
from archspec.ir.build import auto_name
from archspec.ir.graph import BlockInstance, Network, Node
from archspec.ir.shortcuts import kept_cases
from archspec.spec import expr as E
from archspec.spec import model as M

NAME = "torch"
TEMPLATE = "module.py.j2"
DOC_WIDTH = 96

#: names a block class's ``__init__`` uses besides its parameters
INIT_RESERVED = (
    frozenset(
        {
            "self",
            "nn",
            "torch",
            "F",
            "super",
            "min",
            "max",
            "int",
            "float",
            "bool",
            "list",
            "tuple",
            "None",
            "True",
            "False",
            "isinstance",
            "len",
            "range",
            "print",
            "object",
            "type",
        }
    )
    | L.HELPER_NAMES
)


# --------------------------------------------------------------------------------------------
# view model (what the template sees)


@dataclass
class Param:
    name: str
    annotation: str
    default: str  # "" when required


@dataclass
class ClassView:
    name: str
    doc: list[str]
    params: list[Param]
    lets: list[tuple[str, str]]
    init: list[S.Stmt]
    forward: list[S.Stmt]
    bn_folds: list[tuple[str, str]] = field(default_factory=list)  # inference form
    # the model class only, when its forward is a chain stem -> stages -> head:
    features: list[S.Stmt] | None = None  # forward_features
    head: list[S.Stmt] | None = None  # forward_head (holds the pre_logits return)
    stem: list[S.Stmt] = field(default_factory=list)  # forward_stages: the stem...
    stages: list[str] = field(default_factory=list)  # ...then these stage modules


@dataclass
class ModuleView:
    header: list[str]
    doc: list[str]
    imports: list[str]
    helpers: list[str]
    blocks: list[ClassView]
    model: ClassView
    inference: bool = False


# --------------------------------------------------------------------------------------------
# entry points


def emit(network: Network, *, inplace: bool = True, inference: bool = False) -> str:
    """The complete, formatted source of a standalone PyTorch module for ``network``.

    ``inplace=True`` (the default, as torchvision writes it) lets activations overwrite their
    input where nothing else reads it (``nn.ReLU(inplace=True)``), and a block's residual add
    its body's output (``out += shortcut``).  The results are bit-identical to the
    out-of-place form (``inplace=False``); only a forward hook that keeps a reference to a
    layer's output, instead of a copy, may later see it overwritten by the activation after
    it (the cross-check's hooks copy).

    ``inference=True`` writes the inference form: the same classes, constructors and state-dict
    keys (checkpoints load as into the plain form), activations in place, and a
    ``fuse_for_inference()`` method on the model that, once the weights are loaded, folds every
    BatchNorm into the convolution before it and switches to eval mode and the channels-last
    memory format.  The pairs it folds are found here, on the IR: a BatchNorm whose only input
    is a convolution that nothing else reads (in every instance of a block class).
    """
    view = build_view(network, inplace=inplace or inference, inference=inference)
    source = render.render(NAME, TEMPLATE, module=view)
    return render.format_source(source)


def model_class_name(network: Network) -> str:
    try:
        return naming.identifier(naming.class_name(network.name), INIT_RESERVED)
    except naming.NamingError as exc:
        raise BackendError(f"network name {network.name!r}: {exc}") from None


def instantiate(source: str, network: Network) -> Any:
    """Run the generated ``source`` in a fresh module and return its model, as constructed
    (training mode, like torchvision's builders)."""
    filename = f"<archspec:{NAME}:{network.name}>"
    module = types.ModuleType(f"archspec_generated_{network.name}")
    module.__file__ = filename
    # generated code (never spec text): registered with linecache so tracebacks show it
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102
    return getattr(module, model_class_name(network))()


# --------------------------------------------------------------------------------------------
# the view


def build_view(network: Network, *, inplace: bool = False, inference: bool = False) -> ModuleView:
    if not network.ok:
        raise BackendError(f"{network.name}: the network has errors; lint it first")
    constants = L.spec_vars(network.spec.spec.vars)
    model_name = model_class_name(network)
    used_types: list[str] = []
    for block in network.blocks:
        if block.block_type not in used_types:
            used_types.append(block.block_type)
    classes: dict[str, str] = {}
    blocks = []
    helpers: set[str] = set()
    for type_name in used_types:
        instances = [b for b in network.blocks if b.block_type == type_name]
        view, used = _BlockClass(network, type_name, instances, constants, inplace).build()
        if view.name in classes.values() or view.name == model_name:
            raise BackendError(
                f"block type {type_name!r}: class name {view.name!r} is used twice; set a distinct class_name"
            )
        classes[type_name] = view.name
        blocks.append(view)
        helpers |= used
    model_class = _ModelClass(network, model_name, classes, inplace)
    model, used = model_class.build()
    helpers |= used
    if helpers & L.SAME_HELPERS:
        helpers.add("pad_same")
    source = network.spec.label
    doc = _wrap(f"PyTorch model {network.name!r}, generated by archspec from {source}.")
    header = render.header_lines(network, NAME)
    if inference:
        _add_bn_folds(network, blocks, model, used_types)
        doc = _wrap(
            f"PyTorch model {network.name!r} (inference form: fuse_for_inference() folds the "
            f"BatchNorms), generated by archspec from {source}."
        )
        header[0] = header[0].replace(f"({NAME} backend)", f"({NAME} backend, inference form)")
    if model_class.named_stages:
        helpers.add(L.NAMED_SEQUENTIAL)
    imports = ["import torch"]  # generated code imports the framework only
    if helpers & L.FUNCTIONAL_HELPERS:
        imports.append("import torch.nn.functional as F")
    imports.append("from torch import nn")
    return ModuleView(
        header=[part for line in header for part in naming.comment_lines(line, DOC_WIDTH - 2)],
        doc=doc,
        imports=imports,
        helpers=sorted(helpers),
        blocks=blocks,
        model=model,
        inference=inference,
    )


def _add_bn_folds(network: Network, blocks: list[ClassView], model: ClassView, used_types: list[str]) -> None:
    """The (convolution, BatchNorm) module paths each class folds.  A block class folds a pair
    only if it is foldable in every instance that has both layers, as the class cannot tell
    its instances apart at run time."""
    folds = foldable_batchnorms(network)
    model.bn_folds = [
        (network.node(conv).torch_path, network.node(bn).torch_path)
        for bn, conv in folds.items()
        if network.node(bn).part in ("stem", "head")
    ]
    for type_name, view in zip(used_types, blocks, strict=True):
        verdict: dict[tuple[str, str], bool] = {}  # pair -> foldable in every instance with both layers
        for block in network.blocks:
            if block.block_type != type_name:
                continue
            nodes = [network.node(i) for i in block.nodes]
            local = {n.id: n.local_name for n in nodes}
            ok = {(local[folds[n.id]], n.local_name) for n in nodes if n.id in folds and folds[n.id] in local}
            convs = [n.local_name for n in nodes if n.op == "conv"]
            for bn in (n.local_name for n in nodes if n.op == "batchnorm"):
                for conv in convs:
                    verdict[(conv, bn)] = verdict.get((conv, bn), True) and (conv, bn) in ok
        view.bn_folds = [pair for pair, good in verdict.items() if good]


def _wrap(text: str, indent: int = 0) -> list[str]:
    """Raw text as escaped docstring lines (the template adds the indent and the quotes, so room
    is kept for them)."""
    return naming.docstring_lines(text, DOC_WIDTH - indent - 6)


def _shape(shape: tuple[int, ...] | None) -> str:
    return "(N, " + ", ".join(str(d) for d in shape) + ")" if shape else ""


def _node_vals(node: Node) -> tuple[dict[str, L.Val], L.Padding | None]:
    attrs = node.attrs
    assert attrs is not None
    vals = {name: L.known(getattr(attrs, name)) for name in type(attrs).model_fields}
    padding = None
    if "padding" in vals:
        padding = L.Padding("same") if attrs.padding == "same" else L.Padding.of_box(node.pads or (0, 0, 0, 0))
    return vals, padding


def _check_pool(node: Node, lowered: L.Lowered, where: str) -> None:
    """An explicit pad + unpadded pool with ceil_mode must give the IR's output size."""
    if node.op not in ("maxpool", "avgpool") or not lowered.pad or node.pads is None:
        return
    attrs = node.attrs
    assert attrs is not None and node.shape is not None
    _, h, w = node.in_shapes[0]  # type: ignore[misc]
    t, b, left, right = node.pads
    size = (
        L.pool_output(h, t, b, attrs.kernel[0], attrs.strides[0], attrs.ceil_mode),
        L.pool_output(w, left, right, attrs.kernel[1], attrs.strides[1], attrs.ceil_mode),
    )
    if size != tuple(node.shape[1:]):
        raise BackendError(
            f"{where}: with ceil_mode and this padding (applied before the pool), PyTorch would give "
            f"{size[0]}x{size[1]} where the spec says {node.shape[1]}x{node.shape[2]}"
        )


# --------------------------------------------------------------------------------------------
# the model class


class _ModelClass:
    def __init__(self, network: Network, name: str, classes: dict[str, str], inplace: bool):
        self.inplace = inplace
        self.net = network
        self.arguments = model_arguments(network)  # spec vars the constructor takes
        spec = network.spec.spec
        self.render = L.ExprRenderer(
            self.arguments, {k: v for k, v in L.spec_vars(spec.vars).items() if k not in self.arguments}, [], name
        )
        self.name = name
        self.classes = classes
        self.helpers: set[str] = set()
        self.named_stages = False  # a stage whose blocks have names (RegNet's b1, b2, ...)

    def build(self) -> tuple[ClassView, set[str]]:
        net = self.net
        owner: dict[str, str] = {"input": "input"}  # IR node -> unit key that produces it
        units: list[S.Unit] = []
        nodes = [n for n in net.ops() if n.part in ("stem", "head")]
        stem = [n for n in nodes if n.part == "stem"]
        head = [n for n in nodes if n.part == "head"]
        for node in stem:
            units.append(self._layer(node, owner))
        for stage in net.stages:
            units.append(self._stage(stage, owner))
        for node in head:
            units.append(self._layer(node, owner))
        previous = "input"
        for unit in units:
            if unit.inputs == [previous]:
                unit.inputs = None
            previous = unit.key
        referenced = S.references([units], [])
        chain = "out" if any("input" in (u.inputs or []) for u in units) else "x"
        flow = S.Flow(units, referenced, chain, f"model {net.name}", self.inplace)
        n_stem, n_stages = len(stem), len(net.stages)
        # A chain (no layer read out of order) splits into forward_features / forward_head, as
        # timm's models do; the head's classifier is its last layer with parameters.
        split = not referenced and chain == "x" and n_stages > 0
        sections: list[list[S.Unit]] = [units]
        if split:
            head_units = units[n_stem + n_stages :]
            classifier = max((i for i, u in enumerate(head_units) if u.alts[0].source.params), default=len(head_units))
            sections = [
                units[:n_stem],
                units[n_stem : n_stem + n_stages],
                head_units[:classifier],
                head_units[classifier:],
            ]
        parts, cur, fresh = [], "x", False
        for section in sections:
            stmts, cur, fresh = flow.section(section, cur, fresh)
            parts.append(stmts)
        for unit in units:
            if unit.stage_ctor is None:
                self._lower(unit)
        attrs = S.place_modules(units, f"model {net.name}")
        init = S.init_items(attrs, [])
        groups = S.sequential_groups(units)
        tops = {a.name: a.cond is not None for a in attrs}
        rendered = [S.render_forward(stmts, flow, groups, tops) for stmts in parts]
        in_shape = net.input_shape
        doc = _wrap(net.doc or f"The {net.name} network.", 4)
        doc += [""] + _wrap(
            f"Spec {net.name}; the shapes in comments are for an input of {_shape(in_shape)}.",
            4,
        )
        params = [
            Param(naming.identifier(key, INIT_RESERVED), _annotation([value]), naming.literal(value))
            for key, value in self.arguments.items()
        ]
        if not split:
            forward = rendered[0] + S.render_forward([S.Return(cur)], flow, groups, tops)
            return ClassView(self.name, doc, params, [], init, forward), self.helpers
        stem_code, stages_code, pre_logits, logits = rendered
        ret = S.Stmt(f"return {cur}")
        features = [*stem_code, *stages_code, ret]
        head = [*pre_logits]
        if logits:
            head += [S.Stmt(branches=[S.Branch("if", "pre_logits", [ret])]), *logits]
        head.append(ret)
        forward = [S.Stmt("x = self.forward_features(x)"), S.Stmt("x = self.forward_head(x)"), S.Stmt("return x")]
        stages = [u.access for u in units[n_stem : n_stem + n_stages]]
        view = ClassView(self.name, doc, params, [], init, forward, features=features, head=head)
        view.stem, view.stages = stem_code, stages
        return view, self.helpers

    def _layer(self, node: Node, owner: dict[str, str]) -> S.Unit:
        owner[node.id] = node.id
        inputs = [owner[i] for i in node.inputs]
        alt = S.Alt(node.op, None, node, node.spec_path)
        return S.Unit(node.id, [alt], inputs, node.named, comment=_shape(node.shape))

    def _lower(self, unit: S.Unit) -> None:
        alt = unit.alts[0]
        node: Node = alt.source
        vals, padding = _node_vals(node)
        if self.arguments and node.spec_path[:1] in (("stem",), ("head",)):
            raw = getattr(self.net.spec.spec, node.spec_path[0])[node.spec_path[1]].attrs
            for key, text in raw.items():
                if key in vals and isinstance(text, str) and self.arguments.keys() & _expression_names(text):
                    vals[key] = L.Val(self.render.python(text), vals[key].value)  # a constructor argument
        in_shape = node.in_shapes[0] if node.in_shapes else None
        where = f"{node.torch_path} ({node.span})" if node.span else node.torch_path
        alt.lowered = L.lower(
            node.op,
            vals,
            padding,
            L.known(in_shape[0]) if in_shape else None,
            len(in_shape) if in_shape else None,
            unit.inplace,
            where,
        )
        _check_pool(node, alt.lowered, where)
        self.helpers |= alt.lowered.helpers

    def _stage(self, stage, owner: dict[str, str]) -> S.Unit:
        net = self.net
        blocks = [net.block(b) for b in stage.block_ids]
        items = [self._block_call(b) for b in blocks]
        names = [b.id[len(stage.torch_name) + 1 :] for b in blocks]
        if names == [str(i) for i in range(len(blocks))]:
            ctor = "nn.Sequential(" + "".join(f"{item}, " for item in items) + ")"
        else:  # named blocks (RegNet's b1, b2, ...): the names are the module paths
            self.named_stages = True
            pairs = "".join(f"({naming.literal(n)}, {item}), " for n, item in zip(names, items))
            ctor = f"{L.NAMED_SEQUENTIAL}([{pairs}])"
        inputs = [owner[blocks[0].input]]
        owner[blocks[-1].output] = stage.torch_name
        for block in blocks:
            for node_id in block.nodes:
                owner.setdefault(node_id, stage.torch_name)
        alt = S.Alt("stage", None, stage, (), L.Lowered("stage", ctor))
        return S.Unit(stage.torch_name, [alt], inputs, True, comment=_shape(blocks[-1].out_shape), stage_ctor=ctor)

    def _block_call(self, block: BlockInstance) -> str:
        definition = self.net.spec.block(block.block_type).definition
        args = [naming.literal(block.in_shape[0])]  # type: ignore[index]
        for key in definition.params:
            value = block.args[key]
            default = definition.params[key]
            if _is_literal_default(default) and _same_value(value, default):
                continue
            args.append(f"{key}={naming.literal(value)}")
        return f"{self.classes[block.block_type]}({', '.join(args)})"


def _is_literal_default(default: Any) -> bool:
    return default is not None and not isinstance(default, str)


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, list) or isinstance(b, (list, tuple)):
        return isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and list(a) == list(b)
    return type(a) is type(b) and a == b


# --------------------------------------------------------------------------------------------
# block classes


class _BlockClass:
    """One class per block type, written from its definition and checked on its instances."""

    def __init__(
        self,
        network: Network,
        type_name: str,
        instances: list[BlockInstance],
        constants: dict[str, Any],
        inplace: bool,
    ):
        self.inplace = inplace
        self.net = network
        self.type_name = type_name
        resolved = network.spec.block(type_name)
        assert resolved is not None
        self.definition: M.BlockDef = resolved.definition
        self.prefix = resolved.prefix
        self.instances = instances
        self.where = f"block type {type_name!r} ({resolved.origin})"
        d = self.definition
        self.scope = ["in_channels", *d.params, *d.let]
        for name in self.scope:
            try:
                naming.identifier(name, INIT_RESERVED)
            except naming.NamingError as exc:
                raise BackendError(f"{self.where}: {exc}; rename the parameter") from None
        if len(set(self.scope)) != len(self.scope):
            raise BackendError(f"{self.where}: a parameter or let value is named twice (in_channels is implicit)")
        self.render = L.ExprRenderer(self.scope, constants, [b.env for b in instances], self.where)
        self.nodes: list[dict[tuple, Node]] = []
        for block in instances:
            by_path = {}
            for node_id in block.nodes:
                node = network.node(node_id)
                by_path[tuple(node.spec_path[len(self.prefix) :])] = node
            self.nodes.append(by_path)
        self.helpers: set[str] = set()

    # -- structure -------------------------------------------------------------------------------
    def _cond(self, when: Any) -> S.Cond | None | bool:
        """None: always; False: never; else the condition."""
        if when is None or when is True:
            return None
        if when is False:
            return False
        if isinstance(when, str):
            return S.Cond(self.render.python(when), when)
        raise BackendError(f"{self.where}: cannot read the condition {when!r}")

    def _units(self, layers: list[M.Layer], section: tuple, used: set[str], placement: int | None) -> list[S.Unit]:
        units: list[S.Unit] = []
        for i, layer in enumerate(layers):
            cond = self._cond(layer.when)
            name = layer.name or auto_name(layer.op, used)
            used.add(name)
            if cond is False:
                continue
            alt = S.Alt(layer.op, cond, layer, section + (i,))  # type: ignore[arg-type]
            last = units[-1] if units else None
            if last is not None and layer.name is not None and last.named and last.key == name:
                if last.inputs != layer.inputs:
                    raise BackendError(f"{self.where}: the alternatives of {name!r} read different inputs")
                last.alts.append(alt)
                continue
            units.append(
                S.Unit(
                    name,
                    [alt],
                    list(layer.inputs) if layer.inputs else None,
                    layer.name is not None,
                    placement,
                )
            )
        return units

    def build(self) -> tuple[ClassView, set[str]]:
        d = self.definition
        used = {"input"}
        body = self._units(d.body, ("body",), used, None)
        body_names = set(used)
        cases: list[S.Case] = []
        case_index: dict[int, int] = {}  # filtered case -> index in the definition
        all_case_names: set[str] = set()
        if d.merge is not None:
            for c in kept_cases(d, (b.shortcut_case for b in self.instances)):
                case = d.shortcut[c]
                cond = self._cond(case.when)
                names = set(body_names)
                placement = None if cond is None and not cases else len(cases)
                units = self._units(case.layers, ("shortcut", c, "layers"), names, placement)
                all_case_names |= names
                case_index[len(cases)] = c
                cases.append(S.Case(cond, case.from_, units))  # type: ignore[arg-type]
                if cond is None:
                    break
        used = body_names | all_case_names
        merge = None
        if d.merge is not None:
            mname = d.merge.name or auto_name(d.merge.op, used)
            used.add(mname)
            merge = S.Unit(mname, [S.Alt(d.merge.op, None, d.merge, ("merge",))], None, d.merge.name is not None)
        post = self._units(d.post, ("post",), used, None)
        case_units = [u for case in cases for u in case.units]
        units = body + case_units + ([merge] if merge else []) + post
        self._totality(units, case_index)

        sections = [body, *(case.units for case in cases), ([merge] if merge else []) + post]
        referenced = S.references(sections, [c.origin for c in cases])
        flow = S.Flow(units, referenced, "out", self.where, self.inplace)
        stmts, cur, fresh = flow.section(body, "x", False)
        if merge is not None:
            short_stmts, short = flow.shortcut(cases)
            stmts += short_stmts
            target = flow.vars.get(merge.key, "out")
            # in place (out += shortcut, as torchvision) only when activations may work in place,
            # the body's output is a fresh tensor nothing else reads, and it has the result's shape
            merge.inplace = (
                self.inplace
                and fresh
                and cur == target
                and short != cur
                and merge.op in ("add", "multiply")
                and all(node.in_shapes[0] == node.shape for _, node in self._instances_of(merge.alts[0]))
            )
            stmts.append(S.Merge(merge, [cur, short], target))
            cur, fresh = target, target == "out"
        post_stmts, cur, _ = flow.section(post, cur, fresh)
        stmts += post_stmts
        stmts.append(S.Return(cur))

        self._lower_all(body, cases, merge, post)
        attrs = S.place_modules(units, self.where)
        S.mark_cases(cases, attrs)
        self._verify_paths(units)
        init = S.init_items(attrs, cases)
        groups = S.sequential_groups(units)
        forward = S.render_forward(stmts, flow, groups, {a.name: a.cond is not None for a in attrs})
        lets = self._lets(init)
        name = d.class_name or naming.class_name(self.type_name)
        try:
            naming.identifier(name, INIT_RESERVED)
        except naming.NamingError as exc:
            raise BackendError(f"{self.where}: class name: {exc}") from None
        doc = _wrap(d.doc or f"The {self.type_name} block.", 4)
        doc += [""] + _wrap(f"Block type {self.type_name}.", 4)
        return ClassView(name, doc, self._params(), lets, init, forward), self.helpers

    def _totality(self, units: list[S.Unit], case_index: dict[int, int]) -> None:
        for unit in units:
            if len(unit.alts) < 2:
                continue
            for block, by_path in zip(self.instances, self.nodes, strict=True):
                active = unit.placement is None or block.shortcut_case == case_index.get(unit.placement)
                if active and not any(alt.def_path in by_path for alt in unit.alts):
                    unit.total = False

    # -- lowering ----------------------------------------------------------------------------------
    def _instances_of(self, alt: S.Alt) -> list[tuple[BlockInstance, Node]]:
        pairs = zip(self.instances, self.nodes, strict=True)
        return [(b, by[alt.def_path]) for b, by in pairs if alt.def_path in by]

    def _lower_all(self, body: list[S.Unit], cases: list[S.Case], merge: S.Unit | None, post: list[S.Unit]) -> None:
        chan: dict[str, str | None] = {"input": "in_channels"}
        cur = self._walk(body, "in_channels", chan)
        if merge is not None:
            shorts = []
            for case in cases:
                shorts.append(self._walk(case.units, chan.get(case.origin), chan))
            short: str | None = "in_channels"
            if cases and cases[-1].cond is None:
                short = shorts[-1]
            for case, text in reversed(list(zip(cases, shorts, strict=True))):
                if case.cond is not None:
                    short = _if_text(case.cond.spec, text, short)
            merge.alts[0].lowered = L.Lowered(merge.op, None)
            chan[merge.key] = _sum([cur, short]) if merge.op == "concat" else cur
            cur = chan[merge.key]
        self._walk(post, cur, chan)

    def _walk(self, units: list[S.Unit], cur: str | None, chan: dict[str, str | None]) -> str | None:
        for unit in units:
            inputs = [chan.get(r) for r in unit.inputs] if unit.inputs else [cur]
            outs = []
            for alt in unit.alts:
                outs.append(self._lower_alt(unit, alt, inputs))
            only = unit.alts[0]
            # a layer whose condition is false passes on the previous layer's output, as the IR
            # does; not its first input (they differ for a layer with inputs: of its own)
            if len(unit.alts) == 1:
                out = outs[0] if only.cond is None else _if_text(only.cond.spec, outs[0], cur)
            else:
                out = cur if not unit.total else outs[-1]
                tail = unit.alts if not unit.total else unit.alts[:-1]
                for a, text in reversed(list(zip(tail, outs, strict=False))):
                    out = _if_text(a.cond.spec, text, out) if a.cond is not None else text
            chan[unit.key] = out
            cur = out
        return cur

    def _lower_alt(self, unit: S.Unit, alt: S.Alt, inputs: list[str | None]) -> str | None:
        """Lower one alternative; returns its output channels as a spec expression."""
        layer: M.Layer = alt.source
        op = layer.op
        where = f"{self.where}, layer {unit.key!r}"
        instances = self._instances_of(alt)
        if op in L.INLINE_OPS:
            alt.lowered = L.Lowered(op, None)
            return _sum(inputs) if op == "concat" else inputs[0]
        raw = dict(self.net.spec.spec.defaults.get(op, {}))
        raw = {k: v for k, v in raw.items() if k in L.attr_defaults(op) or k in _required(op)}
        raw.update(layer.attrs)
        vals: dict[str, L.Val] = {}
        for name, default in L.attr_defaults(op).items():
            vals[name] = self._attr(op, name, raw[name]) if name in raw else L.known(default)
        for name in _required(op):
            vals[name] = self._attr(op, name, raw[name])
        padding = self._padding(raw.get("padding", MISSING_RAW), instances, where) if "padding" in vals else None
        in_text = inputs[0]
        in_channels = None
        rank = None
        if op in L.CHANNEL_OPS:
            in_channels = self._in_channels(in_text, instances, where)
            ranks = {len(node.in_shapes[0]) for _, node in instances if node.in_shapes[0] is not None}
            if len(ranks) > 1:
                raise BackendError(f"{where}: the input is a feature map in some blocks and a vector in others")
            rank = ranks.pop() if ranks else 3
        alt.lowered = L.lower(op, vals, padding, in_channels, rank, unit.inplace, where)
        for _, node in instances:
            _check_pool(node, alt.lowered, where)
        self.helpers |= alt.lowered.helpers
        if op == "conv":
            return _text(raw["filters"])
        if op == "linear":
            return _text(raw["units"])
        if op == "channel_slice":
            return _text(raw["size"])
        if op == "radix_sum":
            return None if in_text is None else f"({in_text}) // {_text(raw['radix'])}"
        if op == "flatten":
            return None
        return in_text

    def _attr(self, op: str, name: str, raw: Any) -> L.Val:
        opdef = O.get(op)
        assert opdef is not None
        keywords = opdef.attrs.KEYWORDS.get(name, frozenset())
        if isinstance(raw, str) and raw in keywords:
            if name == "pad_value":
                return L.known(float("-inf"))
            return L.Val(naming.literal(raw), raw)
        return self.render.value(raw)

    def _padding(self, raw: Any, instances: list[tuple[BlockInstance, Node]], where: str) -> L.Padding:
        if raw is MISSING_RAW or raw == "valid":
            return L.Padding.of_box((0, 0, 0, 0))
        if raw == "same":
            return L.Padding("same")
        if isinstance(raw, list) and len(raw) == 2 and not any(isinstance(v, list) for v in raw):
            h, w = (self.render.value(v) for v in raw)
            if h.known and w.known:
                return L.Padding.of_box((h.value, h.value, w.value, w.value))
            return L.Padding("expr", expr=L.Val(f"({h.src}, {w.src})"))
        if isinstance(raw, list) and len(raw) == 2:
            (t, b), (left, right) = raw
            box = tuple(self.render.value(v) for v in (t, b, left, right))
            return L.Padding("box", box)  # type: ignore[arg-type]
        if isinstance(raw, list) and len(raw) == 4:
            return L.Padding("box", tuple(self.render.value(v) for v in raw))  # type: ignore[arg-type]
        val = self.render.value(raw)
        if val.known:
            return L.Padding.of_box(O._padding(val.value))  # type: ignore[arg-type]
        for block, _ in instances:
            value = E.evaluate(raw, block.env)
            if not (
                isinstance(value, int)
                or (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value))
            ):
                raise BackendError(
                    f"{where}: padding {raw!r} must evaluate to a number or a pair for the "
                    "torch backend; write [[top, bottom], [left, right]] for explicit boxes"
                )
        return L.Padding("expr", expr=val)

    def _in_channels(self, text: str | None, instances: list[tuple[BlockInstance, Node]], where: str) -> L.Val:
        """The input channels as Python: the spec expression when it gives every instance's
        channels, else the one number all instances share."""
        actual = [node.in_shapes[0][0] for _, node in instances]  # type: ignore[index]
        if text is not None:
            ok = True
            for (block, _node), expected in zip(instances, actual, strict=True):
                try:
                    value = E.Expr(text, ast.parse(text, mode="eval").body).evaluate(block.env)
                except (E.ExprError, SyntaxError):
                    ok = False
                    break
                if value != expected or isinstance(value, bool):
                    ok = False
                    break
            if ok:
                return L.Val(self.render.python(text))
        if actual and len(set(actual)) == 1:
            return L.known(actual[0])
        raise BackendError(f"{where}: cannot express this layer's input channels in the block class")

    def _verify_paths(self, units: list[S.Unit]) -> None:
        """Every tensor-holding layer of every instance sits at the module path the class gives it."""
        for unit in units:
            for alt in unit.alts:
                for _block, node in self._instances_of(alt):
                    if node.tensors() and (not unit.owns or node.local_name != unit.key):
                        raise BackendError(
                            f"{self.where}: layer {node.torch_path} would not keep its module path in the "
                            f"generated class (it is {unit.key!r} there); give the layer an explicit name"
                        )

    # -- signature -----------------------------------------------------------------------------------
    def _params(self) -> list[Param]:
        out = [Param("in_channels", "int", "")]
        for key, default in self.definition.params.items():
            values = [b.args[key] for b in self.instances if key in b.args]
            if _is_literal_default(default):
                values.append(default)
                default_src = naming.literal(tuple(default) if isinstance(default, list) else default)
            else:
                default_src = ""
            out.append(Param(key, _annotation(values), default_src))
        return out

    def _lets(self, init: list[S.Stmt]) -> list[tuple[str, str]]:
        """The ``let:`` values the constructor uses, as Python."""
        used = _names_in(init)
        lets = []
        for key, value in reversed(list(self.definition.let.items())):
            if key not in used:
                continue
            src = self.render.python(value) if isinstance(value, str) else self.render.value(value).src
            used |= _names_in([S.Stmt(src)])
            lets.append((key, src))
        return list(reversed(lets))


MISSING_RAW = object()


def _expression_names(text: str) -> set[str]:
    try:
        return set(E.parse(text).names)
    except E.ExprError:
        return set()


def _required(op: str) -> list[str]:
    opdef = O.get(op)
    assert opdef is not None
    return [name for name, info in opdef.attrs.model_fields.items() if info.is_required()]


def _text(raw: Any) -> str:
    if isinstance(raw, str):
        return f"({raw})"
    return naming.literal(raw)


#: the parts of every conditional channel expression made: text -> (condition, then, else)
_IF_PARTS: dict[str, tuple[str, str, str]] = {}


def _if_text(cond: str, then: str | None, other: str | None) -> str | None:
    if then is None or other is None:
        return None
    # under the same condition, a nested choice is already decided: (a if c else b) is a in the
    # then-branch and b in the else-branch (a chain of layers under one `when:`)
    while then in _IF_PARTS and _IF_PARTS[then][0] == cond:
        then = _IF_PARTS[then][1]
    while other in _IF_PARTS and _IF_PARTS[other][0] == cond:
        other = _IF_PARTS[other][2]
    if then == other:
        return then
    text = f"({then}) if ({cond}) else ({other})"
    _IF_PARTS[text] = (cond, then, other)
    return text


def _sum(parts: list[str | None]) -> str | None:
    if any(p is None for p in parts):
        return None
    return " + ".join(f"({p})" for p in parts)  # type: ignore[misc]


def _annotation(values: list[Any]) -> str:
    kinds = set()
    for value in values:
        if isinstance(value, bool):
            kinds.add("bool")
        elif isinstance(value, int):
            kinds.add("int")
        elif isinstance(value, float):
            kinds.add("float")
        else:
            kinds.add("other")
    if kinds == {"int", "float"}:
        return "float"
    if len(kinds) == 1 and "other" not in kinds:
        return kinds.pop()
    return ""


def _names_in(stmts: list[S.Stmt]) -> set[str]:
    names: set[str] = set()
    for stmt in stmts:
        texts = [stmt.code] + [b.test for b in stmt.branches]
        for text in texts:
            if not text:
                continue
            try:
                tree = ast.parse(text)
            except SyntaxError:
                tree = ast.parse(text, mode="eval")
            names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        for branch in stmt.branches:
            names |= _names_in(branch.body)
    return names
