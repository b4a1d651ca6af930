"""A flat graph -> a readable spec: blocks, block types, stages and a stage table.

- **Blocks** are the outermost modules holding a residual merge (PyTorch: the module whose ``forward``
  adds or concatenates; Keras: the layers sharing the merge's name prefix).  Inside a block,
  the merge operand with the longer history is the body, the other the shortcut; what
  follows the merge is ``post``.
- **Block types**: instances with the same layers (ops, names, wiring) share a type.  An
  attribute equal in every instance is written as a literal; one that differs becomes a
  parameter (``width``, ``stride``, ...), and an attribute that is a fixed multiple of a
  parameter in every instance becomes an expression (``width * 4``).  A shortcut present
  in some instances gets the first condition that holds exactly where it exists:
  ``stride != 1 or in_channels != out``, then simpler ones, else a ``projection`` flag.
- **Stages** are runs of consecutive blocks under one parent module (``layer1.0``,
  ``layer1.1``...; Keras ``conv2_block1``, ``conv2_block2``...).  Stages of one block type
  whose parameters are constant per stage (the stride on the first or last block) become a
  stage table; the odd value out becomes an override.

Names are the module paths (PyTorch) relative to their block, so the generated model has the
original's state-dict keys; Keras layer names are kept through ``keras:`` parts and naming
patterns.  A layout the spec language cannot name (blocks that are not items of a
``Sequential``) is regrouped into stages, and :attr:`Recovered.renames` maps the original's
module paths to the spec's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archspec.importer.flat import FlatGraph, FNode
from archspec.ir import ops as O

MERGES = ("add", "concat")

# registry defaults, left out of the written layers
_OMIT = {
    "stride": 1,
    "padding": 0,
    "dilation": 1,
    "groups": 1,
    "ceil_mode": False,
    "count_include_pad": True,
    "keepdims": False,
    "rate": 0.0,
}
_SPEC_DEFAULTS = {("conv", "bias"), ("batchnorm", "eps"), ("batchnorm", "momentum"), ("leaky_relu", "negative_slope")}


class StructureError(Exception):
    """The graph has a shape the spec language cannot express (a message for the user)."""


@dataclass
class Layer:
    node: FNode
    name: str  # local name (explicit or the builder's automatic one)
    explicit: bool
    inputs: list[str]  # local names ("input" for the scope's input)
    default_inputs: bool
    keras: str | None = None


@dataclass
class Instance:
    path: str  # original block path (module path or Keras prefix)
    nodes: list[FNode]
    input: str
    output: str = ""
    in_channels: int = 0
    body: list[Layer] = field(default_factory=list)
    shortcut: list[Layer] = field(default_factory=list)
    shortcut_from: str = "input"
    merge: Layer | None = None
    post: list[Layer] = field(default_factory=list)
    keras_prefix: str | None = None
    type_name: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    spec_id: str = ""  # the spec's module path of this block


@dataclass
class Recovered:
    spec: dict[str, Any]  # the spec, as ordered data
    renames: dict[str, str]  # original module path prefix -> spec module path prefix
    node_paths: dict[str, tuple[str, str]]  # flat node id -> (spec module path, spec Keras name)
    unmapped: list[str]  # problems carried into a --partial spec


def _fmt_attr(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def _omit(op: str, key: str, value: Any, attrs: dict[str, Any]) -> bool:
    if key == "stride" and op in ("maxpool", "avgpool"):
        return value == attrs.get("kernel")
    if key == "pad_value":
        return value == float("-inf")
    if op == "linear" and key == "bias":
        return value is True
    if key in _OMIT:
        default = _OMIT[key]
        return value == default and isinstance(value, bool) == isinstance(default, bool)
    return False


class Expr(str):
    """A parameter expression (written as is), as opposed to a literal string such as 'same'."""


def _auto(op: str, used: set[str]) -> str:
    if op not in used:
        return op
    n = 2
    while f"{op}{n}" in used:
        n += 1
    return f"{op}{n}"


def _local(node: FNode, prefix: str, framework: str) -> str | None:
    """The written name of ``node`` inside a scope at ``prefix`` (None: automatic)."""
    if framework != "torch" or node.path is None:
        return None
    if not (node.weighted or node.calls == 1):
        return None
    if not prefix:
        return node.path
    if node.path.startswith(prefix + "."):
        return node.path[len(prefix) + 1 :]
    return None


def _name_scope(sections: list[list[FNode]], prefix: str, framework: str, scope_input: str, starts: list[str]):
    """Names and input references of a scope's layers, in lowering order.

    ``starts`` gives, per section, the id the section starts from (the builder's ``current``).
    """
    explicit = {}
    for section in sections:
        for node in section:
            local = _local(node, prefix, framework)
            if local is not None:
                explicit[node.id] = local
    weighted = {explicit[n.id] for section in sections for n in section if n.id in explicit and n.weighted}
    for section in sections:  # a parameter-free child of a layer with weights (timm's norm1.act)
        for n in section:
            if n.id in explicit and not n.weighted and any(explicit[n.id].startswith(w + ".") for w in weighted):
                del explicit[n.id]
    counts = Counter(explicit.values())
    for nid in [k for k, v in explicit.items() if counts[v] > 1]:
        del explicit[nid]  # a module called twice with weights: named once by its first call
    taken = set(explicit.values()) | {"input"}
    used = {"input"}
    names: dict[str, str] = {scope_input: "input"}
    out: list[list[Layer]] = []
    for section, start in zip(sections, starts):
        layers = []
        current = start
        for node in section:
            if node.id in explicit:
                name, written = explicit[node.id], True
            else:
                name, written = _auto(node.op or "unmapped", used), False
                if name in taken:
                    name, written = _auto(node.op or "unmapped", used | taken), True
            used.add(name)
            taken.add(name)
            refs = [names.get(i, "?") for i in node.inputs]
            layers.append(Layer(node, name, written, refs, node.inputs == [current]))
            names[node.id] = name
            current = node.id
        out.append(layers)
    return out, names


def _fuse_global_pool(flat: FlatGraph) -> None:
    """A global pooling that keeps its 1x1 dimensions, then a flatten (torchvision's
    ``avgpool`` then ``torch.flatten(x, 1)``), is one ``global_avg_pool``: the same values."""
    users = flat.users()
    by_id = flat.by_id()
    drop = set()
    for node in flat.nodes:
        if node.op in ("global_avg_pool", "global_max_pool") and node.attrs.get("keepdims"):
            after = users.get(node.id, [])
            if len(after) == 1 and by_id[after[0]].op == "flatten" and after[0] != node.id:
                flat_node = by_id[after[0]]
                node.attrs = {**node.attrs, "keepdims": False}
                node.shape = flat_node.shape
                drop.add(flat_node.id)
                for other in flat.nodes:
                    other.inputs = [node.id if i == flat_node.id else i for i in other.inputs]
                if flat.output == flat_node.id:
                    flat.output = node.id
    flat.nodes = [n for n in flat.nodes if n.id not in drop]


class Recover:
    def __init__(self, flat: FlatGraph, input_size: tuple[int, int]):
        _fuse_global_pool(flat)
        self.flat = flat
        self.framework = flat.framework
        self.input_size = input_size
        self.by_id = flat.by_id()
        self.users = flat.users()
        self.shape = {n.id: n.shape for n in flat.nodes}
        self.shape["input"] = flat.input_shape
        self.renames: dict[str, str] = {}
        self.node_paths: dict[str, tuple[str, str]] = {}

    # -- blocks -------------------------------------------------------------------------------
    def block_paths(self) -> list[str]:
        paths = []
        for n in self.flat.nodes:
            if n.op in MERGES and len(n.inputs) >= 2 and n.scope and n.scope not in paths:
                paths.append(n.scope)
        # the outermost: a merge inside a block's own layer (SKNet's stacked kernels in conv1)
        # belongs to that block
        return [p for p in paths if not any(q != p and p.startswith(q + ".") for q in paths)]

    def owner(self, node: FNode, paths: list[str]) -> str | None:
        where = node.path if (self.framework == "torch" and node.path) else node.scope
        if self.framework == "keras":
            return node.scope if node.scope in paths else None
        best = None
        for p in paths:
            if (where == p or where.startswith(p + ".") or node.scope == p or node.scope.startswith(p + ".")) and (
                best is None or len(p) > len(best)
            ):
                best = p
        return best

    def split(self):
        paths = self.block_paths()
        stem: list[FNode] = []
        head: list[FNode] = []
        instances: list[Instance] = []
        current: Instance | None = None
        for node in self.flat.nodes:
            own = self.owner(node, paths)
            if own is None:
                if instances:
                    head.append(node)
                else:
                    stem.append(node)
                current = None
                continue
            if head:
                where = node.path or node.scope
                raise StructureError(
                    f"{head[0].path or head[0].what} sits between residual blocks ({where} follows it); "
                    "a spec has a stem, stages of blocks and a head"
                )
            if current is None or current.path != own:
                if any(i.path == own for i in instances):
                    raise StructureError(f"block {own} is called twice or interleaved with another block")
                current = Instance(own, [], "")
                instances.append(current)
            current.nodes.append(node)
        for inst in instances:
            ids = {n.id for n in inst.nodes}
            ext = [i for n in inst.nodes for i in n.inputs if i not in ids]
            if len(set(ext)) != 1:
                raise StructureError(f"block {inst.path} reads {len(set(ext))} tensors from outside; blocks take one")
            inst.input = ext[0]
            outs = [
                n.id
                for n in inst.nodes
                if any(u not in ids for u in self.users.get(n.id, [])) or n.id == self.flat.output
            ]
            if len(outs) != 1:
                raise StructureError(f"block {inst.path} gives {len(outs)} tensors to later layers; blocks give one")
            inst.output = outs[0]
            shape = self.shape.get(inst.input)
            inst.in_channels = shape[0] if shape else 0
        return stem, instances, head

    def sections(self, inst: Instance, prefix: str) -> None:
        ids = [n.id for n in inst.nodes]
        merges = [n for n in inst.nodes if n.op in MERGES and len(n.inputs) >= 2]
        merge = merges[-1]
        if len(merge.inputs) != 2:
            raise StructureError(f"{inst.path}: a merge of {len(merge.inputs)} tensors (blocks merge two)")
        pos = {nid: i for i, nid in enumerate(ids)}

        def ancestors(start: str) -> set[str]:
            seen: set[str] = set()
            todo = [start]
            while todo:
                x = todo.pop()
                if x in seen or x not in pos:
                    continue
                seen.add(x)
                todo.extend(self.by_id[x].inputs)
            return seen

        a, b = merge.inputs
        anc_a, anc_b = ancestors(a), ancestors(b)
        if len(anc_b) > len(anc_a):
            if merge.op == "concat":
                raise StructureError(
                    f"{inst.path}: the concatenation puts the shortcut first; archspec blocks concatenate "
                    "[body, shortcut]"
                )
            a, b, anc_a, anc_b = b, a, anc_b, anc_a
        short_ids = anc_b - anc_a
        before = [n for n in inst.nodes if pos[n.id] < pos[merge.id]]
        short = [n for n in before if n.id in short_ids]
        body = [n for n in before if n.id not in short_ids and n.id != a] + [self.by_id[a]] if a in pos else []
        after = [n for n in inst.nodes if pos[n.id] > pos[merge.id]]
        if a not in pos:
            raise StructureError(f"{inst.path}: the residual's body is empty")
        if short:
            first_in = short[0].inputs[0] if short[0].inputs else inst.input
            start = first_in
        else:
            start = b
        sections, names = _name_scope(
            [body, short, [merge], after],
            prefix,
            self.framework,
            inst.input,
            [inst.input, start, a, merge.id],
        )
        inst.body, inst.shortcut, merged, inst.post = sections
        inst.merge = merged[0]
        inst.merge.default_inputs = True
        inst.shortcut_from = names.get(start, "input") if start != inst.input else "input"
        if short and short[-1].id != b:
            raise StructureError(f"{inst.path}: the shortcut does not end in the merge")

    # -- the whole ----------------------------------------------------------------------------
    def run(self, check: Callable[[dict[str, Any]], Any] | None = None) -> Recovered:
        """``check``: the spec's network as a comparable value (None: it does not build);
        with it, block types the library reproduces are written as library blocks."""
        stem, instances, head = self.split()
        self.instances = instances
        torch_ok = self.framework == "torch" and all(_indexed(i.path) for i in instances) and _stage_runs(instances)
        for inst in instances:
            prefix = inst.path if self.framework == "torch" else ""
            self.sections(inst, prefix)
            if self.framework == "keras":
                _keras_parts(inst)
        types = self.block_types(instances)
        self.defaults = _choose_defaults(self.flat.nodes)
        blocks = {name: self.block_def(name, group) for name, group in types.items()}
        (stem_layers,), _ = _name_scope([stem], "", self.framework, "input", ["input"])
        out_of_blocks = instances[-1].output if instances else (stem[-1].id if stem else "input")
        (head_layers,), _ = _name_scope([head], "", self.framework, out_of_blocks, [out_of_blocks])
        if self.framework == "keras":
            for lay in stem_layers + head_layers:
                lay.keras = lay.node.path

        def assemble(blocks: dict[str, Any]) -> dict[str, Any]:
            self.renames = {}
            spec: dict[str, Any] = {}
            spec["defaults"] = self.defaults
            spec["blocks"] = blocks
            spec["stem"] = [self.layer_dict(lay, False) for lay in stem_layers]
            spec["stages"] = self.stages(instances, torch_ok)
            spec["head"] = [self.layer_dict(lay, False) for lay in head_layers]
            return spec

        spec = assemble(blocks)
        if check is not None and instances:
            blocks = self.use_library(types, blocks, assemble, check)
            spec = assemble(blocks)
        if not spec["blocks"]:
            del spec["blocks"]
        for lay in stem_layers + head_layers:
            self.node_paths[lay.node.id] = (lay.name, lay.keras or lay.name.replace(".", "_"))
        for inst in instances:
            for lay in inst.body + inst.shortcut + [inst.merge] + inst.post:
                kpart = lay.keras or lay.name.replace(".", "_")
                self.node_paths[lay.node.id] = (f"{inst.spec_id}.{lay.name}", f"{inst.keras_prefix}_{kpart}")
        return Recovered(spec, self.renames, self.node_paths, list(self.flat.problems))

    # -- library blocks -------------------------------------------------------------------------
    def use_library(self, types: dict[str, list[Instance]], blocks: dict[str, Any], assemble, check) -> dict:
        """Each recovered type that a library block reproduces (the same network, node for
        node, with the library's arguments solved per instance) becomes that library block."""
        from archspec.importer import library

        base = check(assemble(blocks))
        if base is None:
            return blocks
        for name, group in types.items():
            for lib_name, definition in library.candidates():
                solved = self._fit_group(definition, group)
                if solved is None:
                    continue
                saved = [(i.type_name, i.args) for i in group]
                for inst, args in zip(group, solved):
                    inst.type_name, inst.args = lib_name, args
                _same_keys([i for i in self.instances if i.type_name == lib_name], definition.params)
                trial = {k: v for k, v in blocks.items() if k != name}
                if check(assemble(trial)) == base:
                    blocks = trial
                    break
                for inst, (type_name, args) in zip(group, saved):
                    inst.type_name, inst.args = type_name, args
        return blocks

    def _fit_group(self, definition, group: list[Instance]) -> list[dict[str, Any]] | None:
        from archspec.importer import library

        found: dict[tuple, dict[str, Any] | None] = {}
        out = []
        for inst in group:
            sig = (inst.in_channels, repr(sorted(inst.args.items())), bool(inst.shortcut), inst.shortcut_from)
            if sig not in found:
                found[sig] = library.solve(definition, self.framework, self._fit_sections(inst), inst.in_channels)
            if found[sig] is None:
                return None
            out.append(found[sig])
        # an argument is written where it is not the library's default somewhere
        keep = [
            p for p, default in definition.params.items() if default is None or any(args[p] != default for args in out)
        ]
        return [{p: args[p] for p in keep} for args in out]

    def _fit_sections(self, inst: Instance) -> dict[str, list]:
        from archspec.importer import library

        def entries(layers: list[Layer]) -> list:
            out = []
            for lay in layers:
                if lay.node.op == "identity":
                    continue
                if self.framework == "torch":
                    key = lay.name if lay.explicit else None
                    must = lay.node.weighted
                else:
                    key = lay.keras
                    must = key is not None
                attrs = library._normal(lay.node.op or "", {k: _fmt_attr(v) for k, v in lay.node.attrs.items()})
                out.append((key, lay.node.op, attrs, must))
            return out

        return {
            "body": entries(inst.body),
            "shortcut": entries(inst.shortcut),
            "merge": entries([inst.merge]) if inst.merge else [],
            "post": entries(inst.post),
        }

    # -- block types ----------------------------------------------------------------------------
    def block_types(self, instances: list[Instance]) -> dict[str, list[Instance]]:
        groups: dict[tuple, list[Instance]] = {}
        for inst in instances:
            key = (
                _sig(inst.body),
                inst.merge.node.op,
                _sig(inst.post),
            )
            groups.setdefault(key, []).append(inst)
        # one shortcut layout per type (identity allowed besides it)
        final: list[list[Instance]] = []
        for group in groups.values():
            by_short: dict[tuple, list[Instance]] = {}
            for inst in group:
                by_short.setdefault((_sig(inst.shortcut), inst.shortcut_from) if inst.shortcut else (), []).append(inst)
            layouts = [k for k in by_short if k]
            if len(layouts) <= 1:
                final.append(group)
            else:
                for k in layouts:
                    final.append(by_short[k] + (by_short.get((), []) if k == layouts[0] else []))
        names: dict[str, list[Instance]] = {}
        for group in final:
            base = _type_name(self.flat.classes.get(group[0].path) if self.framework == "torch" else None)
            name = base
            n = 2
            while name in names:
                name = f"{base}{n}"
                n += 1
            names[name] = group
            for inst in group:
                inst.type_name = name
        return names

    def block_def(self, name: str, group: list[Instance]) -> dict[str, Any]:
        # slots: (section, index, attr) -> values per instance (None: absent)
        sections = ("body", "shortcut", "merge", "post")

        def layers_of(inst: Instance, sec: str) -> list[Layer]:
            return {"body": inst.body, "shortcut": inst.shortcut, "merge": [inst.merge], "post": inst.post}[sec]

        template = {sec: next((layers_of(i, sec) for i in group if layers_of(i, sec)), []) for sec in sections}
        slots: dict[tuple, list[Any]] = {}
        for sec in sections:
            for j, lay in enumerate(template[sec]):
                for key in lay.node.attrs:
                    vals = []
                    for inst in group:
                        ls = layers_of(inst, sec)
                        vals.append(_fmt_attr(ls[j].node.attrs[key]) if ls else None)
                    slots[(sec, j, key)] = vals
        params: dict[str, list[Any]] = {}  # name -> values per instance
        exprs: dict[tuple, Any] = {}
        for slot, vals in slots.items():
            present = [v for v in vals if v is not None]
            found = None
            if all(v == present[0] for v in present):
                if len(present) < len(vals):  # a layer of some instances only: a parameter if one fits
                    for pname, pvals in params.items():
                        if all(v == p for v, p in zip(vals, pvals) if v is not None):
                            found = Expr(pname)
                            break
                exprs[slot] = found if found is not None else present[0]
                continue
            for pname, pvals in params.items():
                pairs = [(v, p) for v, p in zip(vals, pvals) if v is not None]
                if all(v == p for v, p in pairs):
                    found = Expr(pname)
                    break
                if all(isinstance(v, int) and isinstance(p, int) and not isinstance(v, bool) for v, p in pairs):
                    if all(p and v % p == 0 for v, p in pairs):
                        k = {v // p for v, p in pairs}
                        if len(k) == 1:
                            found = Expr(f"{pname} * {k.pop()}")
                            break
                    if all(v and p % v == 0 for v, p in pairs):
                        k = {p // v for v, p in pairs}
                        if len(k) == 1:
                            found = Expr(f"{pname} // {k.pop()}")
                            break
            if found is None:
                pname = _param_name(slot[2], params)
                fill = Counter(_key(v) for v in present).most_common(1)[0][0]
                fill = next(v for v in present if _key(v) == fill)
                params[pname] = [v if v is not None else fill for v in vals]
                found = Expr(pname)
            exprs[slot] = found
        # the shortcut's condition
        has_short = [bool(i.shortcut) for i in group]
        when = None
        if any(has_short) and not all(has_short):
            when = self._condition(group, params, exprs, template, has_short)
        for inst, k in zip(group, range(len(group))):
            inst.args = {p: v[k] for p, v in params.items()}
        # the definition
        out: dict[str, Any] = {}
        if self.framework == "torch":
            cls_name = _class_name(group[0], self.flat)
            taken = getattr(self, "_classes_taken", set())
            base, n = cls_name, 2
            while cls_name in taken:
                cls_name = f"{base}{n}"
                n += 1
            taken.add(cls_name)
            self._classes_taken = taken
            out["class_name"] = cls_name
        ordered = sorted(params, key=lambda p: (p != "width", p == "stride", p == "projection"))
        out["params"] = {p: (1 if p == "stride" else (False if p == "projection" else None)) for p in ordered}
        out["body"] = [self.layer_dict(lay, True, exprs, ("body", j)) for j, lay in enumerate(template["body"])]
        if template["shortcut"] or any(i.shortcut_from != "input" for i in group):
            proj = next((i for i in group if i.shortcut), None)
            cases = []
            if proj is not None:
                case: dict[str, Any] = {}
                if when:
                    case["when"] = when
                if proj.shortcut_from != "input":
                    case["from"] = proj.shortcut_from
                case["layers"] = [
                    self.layer_dict(lay, True, exprs, ("shortcut", j)) for j, lay in enumerate(template["shortcut"])
                ]
                cases.append(case)
            ident = next((i for i in group if not i.shortcut), None)
            if ident is not None and ident.shortcut_from != "input":
                cases.append({"from": ident.shortcut_from, "layers": []})
            out["shortcut"] = cases
        out["merge"] = self.layer_dict(template["merge"][0], True, exprs, ("merge", 0), merge=True)
        if template["post"]:
            out["post"] = [self.layer_dict(lay, True, exprs, ("post", j)) for j, lay in enumerate(template["post"])]
        return out

    def _condition(self, group, params, exprs, template, has_short) -> str:
        from archspec.spec import expr as E

        convs = [j for j, lay in enumerate(template["body"]) if lay.node.op == "conv"]
        candidates = []
        out = exprs.get(("body", convs[-1], "filters")) if convs else None
        if out is not None:
            out_expr = str(out)
            if "stride" in params:
                candidates.append(f"stride != 1 or in_channels != {out_expr}")
            candidates.append(f"in_channels != {out_expr}")
        if "stride" in params:
            candidates.append("stride != 1")
        for cand in candidates:
            ok = True
            for inst, k, want in zip(group, range(len(group)), has_short):
                env = {p: v[k] for p, v in params.items()}
                env["in_channels"] = inst.in_channels
                try:
                    if bool(E.evaluate(cand, env)) != want:
                        ok = False
                        break
                except E.ExprError:
                    ok = False
                    break
            if ok:
                return cand
        params["projection"] = list(has_short)
        return "projection"

    # -- stages ---------------------------------------------------------------------------------
    def stages(self, instances: list[Instance], keep_names: bool) -> Any:
        if not instances:
            return []
        runs: list[list[Instance]] = []
        if keep_names:
            for inst in instances:
                stage = inst.path.rpartition(".")[0]
                if runs and runs[-1][0].path.rpartition(".")[0] == stage:
                    runs[-1].append(inst)
                else:
                    runs.append([inst])
            names = [r[0].path.rpartition(".")[0] for r in runs]
        else:
            runs = _numbered_runs(instances) if self.framework == "keras" else []
            if not runs:
                for inst in instances:
                    if not runs or inst.shortcut:
                        runs.append([inst])
                    else:
                        runs[-1].append(inst)
            names = [f"layer{i + 1}" for i in range(len(runs))]
        for run, sname in zip(runs, names):
            for b, inst in enumerate(run):
                inst.spec_id = f"{sname}.{b}"
                if inst.spec_id != inst.path and self.framework == "torch":
                    self.renames[inst.path] = inst.spec_id
        keras_patterns = [_keras_pattern(run, s + 1) for s, run in enumerate(runs)] if self.framework == "keras" else []
        for s, run in enumerate(runs):
            for b, inst in enumerate(run):
                if self.framework == "keras":
                    pattern = keras_patterns[s]
                    inst.keras_prefix = _fill(pattern, s + 1, b + 1) if pattern else inst.spec_id.replace(".", "_")
                else:
                    inst.keras_prefix = inst.spec_id.replace(".", "_")
        types = {inst.type_name for inst in instances}
        name_pattern = _name_pattern(names)
        table_keras = None
        if self.framework == "keras":
            if keras_patterns and all(p == keras_patterns[0] and p for p in keras_patterns):
                table_keras = keras_patterns[0]
        if len(types) == 1 and name_pattern and (self.framework == "torch" or table_keras):
            table = self._table(runs, name_pattern, table_keras)
            if table is not None:
                return table
        out = []
        for s, (run, sname) in enumerate(zip(runs, names)):
            stage: dict[str, Any] = {"name": sname, "_origin": ", ".join(i.path for i in run)}
            stage["_origins"] = [i.path for i in run]
            if self.framework == "keras" and keras_patterns[s]:
                stage["keras"] = keras_patterns[s]
            if len({i.type_name for i in run}) == 1:
                stage["block"] = run[0].type_name
                common = {k: v for k, v in run[0].args.items() if all(i.args.get(k) == v for i in run)}
                if common:
                    stage["args"] = common
                entries = []
                for inst in run:
                    rest = {k: v for k, v in inst.args.items() if k not in common}
                    entries.append({"args": rest} if rest else {})
                if any(entries):
                    stage["blocks"] = entries
                else:
                    stage["depth"] = len(run)
            else:
                stage["blocks"] = [{"block": i.type_name, "args": dict(i.args)} for i in run]
            out.append(stage)
        return out

    def _table(self, runs: list[list[Instance]], name_pattern: str, keras_pattern: str | None) -> dict | None:
        params = list(runs[0][0].args)
        stride_at = None
        if "stride" in params:
            for where in ("first", "last"):
                ok = True
                for run in runs:
                    at = 0 if where == "first" else len(run) - 1
                    if any(i.args["stride"] != 1 for j, i in enumerate(run) if j != at):
                        ok = False
                if ok:
                    stride_at = where
                    break
        columns = ["depth"]
        rows: list[list[Any]] = [[len(run)] for run in runs]
        args: dict[str, Any] = {}
        overrides: dict[str, dict[str, Any]] = {}
        for p in params:
            if p == "stride" and stride_at:
                continue
            values = [i.args[p] for run in runs for i in run]
            if all(v == values[0] for v in values):
                args[p] = values[0]
                continue
            columns.append(p)
            for s, run in enumerate(runs):
                mode = Counter(_key(i.args[p]) for i in run).most_common(1)[0][0]
                value = next(i.args[p] for i in run if _key(i.args[p]) == mode)
                rows[s].append(value)
                for b, inst in enumerate(run):
                    if _key(inst.args[p]) != mode:
                        overrides.setdefault(f"{s + 1}.{b + 1}", {})[p] = inst.args[p]
        if stride_at:
            columns.append("stride")
            for s, run in enumerate(runs):
                rows[s].append(run[0 if stride_at == "first" else -1].args["stride"])
        table: dict[str, Any] = {"block": runs[0][0].type_name, "name": name_pattern}
        if keras_pattern:
            table["keras"] = keras_pattern
        if stride_at == "last":
            table["stride_at"] = "last"
        table["columns"] = columns
        table["table"] = rows
        table["_origins"] = [", ".join(i.path for i in run) for run in runs]
        if args:
            table["args"] = args
        if overrides:
            table["overrides"] = overrides
        return table

    # -- layers ----------------------------------------------------------------------------------
    def layer_dict(
        self, lay: Layer, in_block: bool, exprs: dict | None = None, slot: tuple | None = None, merge: bool = False
    ) -> dict[str, Any]:
        node = lay.node
        d: dict[str, Any] = {"op": node.op or "unmapped"}
        if lay.explicit:
            d["name"] = lay.name
        if lay.keras and lay.keras != lay.name.replace(".", "_"):
            d["keras"] = lay.keras
        if not lay.default_inputs and not merge:
            d["inputs"] = lay.inputs
        for key, value in node.attrs.items():
            v = exprs[(slot[0], slot[1], key)] if exprs is not None and slot is not None else _fmt_attr(value)
            if not isinstance(v, Expr):
                if (node.op, key) in _SPEC_DEFAULTS and self.defaults.get(node.op, {}).get(key) == v:
                    continue
                if _omit(node.op or "", key, v, {k: _fmt_attr(x) for k, x in node.attrs.items()}):
                    continue
            if key == "pad_value" and v == 0.0:
                v = 0
            d[key] = v
        origin = node.path or (f"{node.what} in {node.scope}" if node.scope else node.what)
        d["_origin"] = origin + (f" ({node.source})" if node.source else "")
        if node.op is None:
            d["source"] = f"{node.what} at {node.path or node.scope or 'the model'}" + (
                f" ({node.source})" if node.source else ""
            )
        return d


def _same_keys(instances: list[Instance], params: dict[str, Any]) -> None:
    """Instances of one library type, solved separately, all get the arguments any of them has."""
    keys = {k for i in instances for k in i.args}
    for inst in instances:
        inst.args = {p: inst.args.get(p, params[p]) for p in params if p in keys}


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _sig(layers: list[Layer]) -> tuple:
    return tuple(
        (lay.node.op, lay.name, lay.explicit, lay.keras, tuple(lay.inputs), lay.default_inputs, tuple(lay.node.attrs))
        for lay in layers
    )


def _indexed(path: str) -> bool:
    stage, _, index = path.rpartition(".")
    return bool(stage) and index.isdigit()


def _stage_runs(instances: list[Instance]) -> bool:
    seen: dict[str, int] = {}
    last = None
    for inst in instances:
        stage, _, index = inst.path.rpartition(".")
        if stage != last:
            if stage in seen:
                return False
            seen[stage] = 0
            last = stage
        if int(index) != seen[stage]:
            return False
        seen[stage] += 1
    return True


def _numbered_runs(instances: list[Instance]) -> list[list[Instance]]:
    """Keras stages by block name: ``conv2_block1``, ``conv2_block2``... are one stage (the
    blocks' numbers counting from 1 under one prefix); [] when the names do not say."""
    runs: list[list[Instance]] = []
    prefixes: list[str] = []
    for inst in instances:
        found = re.fullmatch(r"(.*\D)(\d+)", inst.path or "")
        if found is None:
            return []
        prefix, number = found.group(1), int(found.group(2))
        if runs and prefixes[-1] == prefix and number == len(runs[-1]) + 1:
            runs[-1].append(inst)
        elif number == 1 and prefix not in prefixes:
            runs.append([inst])
            prefixes.append(prefix)
        else:
            return []
    return runs


def _param_name(attr: str, params: dict[str, Any]) -> str:
    base = {"filters": "width", "units": "units", "kernel": "kernel"}.get(attr, attr)
    name = base
    n = 2
    while name in params:
        name = f"{base}{n}"
        n += 1
    return name


def _snake(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    s = re.sub(r"[^a-z0-9_]", "_", s).strip("_") or "block"
    return s if s[0].isalpha() else f"b_{s}"


def _class_name(inst: Instance, flat: FlatGraph) -> str:
    cls = flat.classes.get(inst.path)
    if cls and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", cls):
        return cls
    return "Block"


def _type_name(cls: str | None) -> str:
    from archspec.spec.load import library_index

    base = _snake(cls) if cls else "block"
    if base in set(library_index()):
        base = f"{base}_imported"
    return base


def _keras_parts(inst: Instance) -> None:
    prefix = inst.path
    for lay in inst.body + inst.shortcut + [inst.merge] + inst.post:
        name = lay.node.path or ""
        if prefix and name.startswith(prefix + "_"):
            lay.keras = name[len(prefix) + 1 :]


def _keras_pattern(run: list[Instance], stage: int) -> str | None:
    """A Keras block-name pattern over {stage} and {block} that gives every prefix of ``run``."""
    prefixes = [i.path for i in run]
    if not all(prefixes):
        return None
    parts = [re.split(r"(\d+)", p) for p in prefixes]
    if len({len(p) for p in parts}) != 1:
        return None
    out = []
    for k in range(len(parts[0])):
        column = [p[k] for p in parts]
        if k % 2 == 0:
            if len(set(column)) != 1:
                return None
            out.append(column[0].replace("{", "{{").replace("}", "}}"))
            continue
        nums = [int(c) for c in column]
        if len(run) > 1 and all(n - b == nums[0] for b, n in enumerate(nums)):
            off = nums[0] - 1
            out.append("{block}" if off == 0 else f"{{block + {off}}}" if off > 0 else f"{{block - {-off}}}")
        elif len(set(nums)) == 1:
            n = nums[0]
            if len(run) == 1 and n == 1 and k == len(parts[0]) - 2:
                out.append("{block}")
                continue
            off = n - stage
            out.append("{stage}" if off == 0 else f"{{stage + {off}}}" if off > 0 else f"{{stage - {-off}}}")
        else:
            return None
    pattern = "".join(out)
    return pattern if "{block" in pattern else None


def _fill(pattern: str, stage: int, block: int) -> str:
    from archspec.spec.expr import format_pattern

    return format_pattern(pattern, {"stage": stage, "block": block})


def _name_pattern(names: list[str]) -> str | None:
    parts = [re.split(r"(\d+)", n) for n in names]
    if len({len(p) for p in parts}) != 1 or len(parts[0]) < 2:
        return None
    out = []
    for k in range(len(parts[0])):
        column = [p[k] for p in parts]
        if k % 2 == 0:
            if len(set(column)) != 1:
                return None
            out.append(column[0])
            continue
        nums = [int(c) for c in column]
        offs = {n - s for s, n in enumerate(nums, start=1)}
        if len(offs) == 1 and len(names) > 1 or (len(names) == 1 and k == len(parts[0]) - 2):
            off = offs.pop()
            out.append("{stage}" if off == 0 else f"{{stage + {off}}}" if off > 0 else f"{{stage - {-off}}}")
        elif len(set(nums)) == 1:
            out.append(column[0])
        else:
            return None
    pattern = "".join(out)
    return pattern if "{stage" in pattern else None


def _choose_defaults(nodes: list[FNode]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for op, key in sorted(_SPEC_DEFAULTS):
        values = [n.attrs[key] for n in nodes if n.op == op and key in n.attrs]
        if values:
            out.setdefault(op, {})[key] = Counter(values).most_common(1)[0][0]
    return out


def recover(flat: FlatGraph, input_size: tuple[int, int], check=None) -> Recovered:
    return Recover(flat, input_size).run(check)


__all__ = ["recover", "Recovered", "StructureError", "O"]
