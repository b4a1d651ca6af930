"""Lowering a loaded spec to the IR, with static shape inference.

The builder walks the stem, every block of every stage and the head, evaluates expressions,
validates op attributes against the op registry, infers every output shape, and counts
parameters and multiply-accumulates.  It does not stop at the first problem: spec errors
become diagnostics on :attr:`Network.diagnostics`, shape errors stay on their node
(``node.error``) for the lint rules to report, and downstream shapes become unknown.
"""

from __future__ import annotations

import gc
import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from archspec.diagnostics import Diagnostic, Fix, Severity
from archspec.ir import ops as O
from archspec.ir.graph import BlockInstance, Network, Node, StageInfo
from archspec.ir.provenance import blame
from archspec.spec import expr as E
from archspec.spec import model as M
from archspec.spec.load import LoadedSpec, ResolvedBlock, key_fix

MAX_BLOCKS = 100_000
MAX_NODES = 500_000  # every command finishes within about a minute and 2 GB (bench/limits.py)


class _Abort(Exception):
    """Stop building: the spec is too broken (or too large) to go on."""


class Builder:
    def __init__(self, loaded: LoadedSpec, input_size: tuple[int, int] | None = None):
        self.loaded = loaded
        self.spec = loaded.spec
        self.spans = loaded.spans
        size = tuple(input_size) if input_size else tuple(self.spec.input.size)
        self.net = Network(
            name=self.spec.name,
            doc=self.spec.doc,
            spec=loaded,
            input_shape=(self.spec.input.channels, size[0], size[1]),
        )
        self.torch_paths: dict[str, Node] = {}
        self.keras_names: dict[str, Node] = {}
        self.vars: dict[str, Any] = {}
        # Deep networks repeat the same layers: validated attributes and inferred figures are
        # computed once per distinct input (failures are never cached, so every error is reported
        # where it occurs).
        self._attrs_cache: dict[tuple, O.Attrs] = {}
        self._infer_cache: dict[tuple, tuple] = {}
        # and whole blocks: a block whose type, scope values and input are those of an earlier
        # block that lowered cleanly is replayed from that block's layers (see _replay)
        self._block_cache: dict[tuple, _BlockRecord] = {}
        self._keras_parts: dict[str, tuple[str, tuple]] = {}  # block layer -> Keras name part, report path

    # -- diagnostics ------------------------------------------------------------------------------
    def error(
        self,
        code: str,
        name: str,
        message: str,
        path: tuple,
        hint: str | None = None,
        key: bool = False,
        notes: list[str] | None = None,
        fix: Fix | None = None,
    ) -> None:
        span = self.spans.key(path) if key else self.spans.value(path)
        self.net.diagnostics.append(Diagnostic(code, name, Severity.ERROR, message, span, hint, list(notes or []), fix))

    def _rename(self, path: tuple, key: str, candidates) -> Fix | None:
        """The fix of the misspelt ``key`` at ``path``: its single close match among ``candidates``."""
        return key_fix(self.spans.key(path), key, candidates, self.spans, path)

    # -- entry ------------------------------------------------------------------------------------
    def build(self) -> Network:
        net = self.net
        node = Node(
            "input",
            "input",
            None,
            [],
            "",
            "input",
            "input",
            "input",
            True,
            self.spans.value(("input",)),
            self.spans.value(("input",)),
            ("input",),
        )
        node.shape = net.input_shape
        self._add(node)
        self._vars()
        self._defaults()
        self._merge_conditions()
        try:
            current = self._scope(self.spec.stem, "stem", ("stem",), "input", {}, "", "")
            current = self._stages(current)
            current = self._scope(self.spec.head, "head", ("head",), current, {}, "", "")
        except _Abort:
            return net
        net.output = current
        net.complete = True
        self._unused_blocks()
        return net

    def _merge_conditions(self) -> None:
        """A block's merge is the residual itself: it runs in every instance of the block, so a
        ``when:`` on it (which neither backend could honour) is refused, used block or not."""
        for resolved in self.loaded.blocks.values():
            merge = resolved.definition.merge
            if merge is not None and merge.when is not None and merge.when is not True:
                self.error(
                    "AS101",
                    "schema-error",
                    "a block's merge cannot have a 'when:' condition: it is the residual of every block of this type",
                    resolved.prefix + ("merge", "when"),
                    "for blocks without a residual, define a second block type with 'merge: null' and use it there",
                )

    def _unused_blocks(self) -> None:
        """Block types the spec (or a ``use:`` file) defines but no stage uses are never lowered:
        check what can be checked without arguments (ops, attribute names, expressions and the
        names they read, references), so that a later use does not meet old mistakes."""
        from archspec.spec.load import LIBRARY_DIR

        used = {b.block_type for b in self.net.blocks}
        for name, resolved in self.loaded.blocks.items():
            origin = resolved.prefix
            if name in used or (origin[:1] == ("@file",) and str(origin[1]).startswith(str(LIBRARY_DIR))):
                continue
            d = resolved.definition
            scope = {"in_channels", *self.vars, *d.params, *d.let}
            for key, value in d.let.items():
                self._static_value(value, scope, origin + ("let", key), key)
            for key, value in d.params.items():
                if isinstance(value, str):
                    self._static_value(value, scope, origin + ("params", key), key)
            sections: list[tuple[tuple, list[M.Layer]]] = [(("body",), d.body)]
            sections += [(("shortcut", c, "layers"), case.layers) for c, case in enumerate(d.shortcut)]
            for c, case in enumerate(d.shortcut):
                if isinstance(case.when, str):
                    self._static_value(case.when, scope, origin + ("shortcut", c, "when"), "when")
            if d.merge is not None:
                sections.append((("merge",), [d.merge]))
            sections.append((("post",), d.post))
            known = {"input"}
            for section, layers in sections:
                used_names = set(known)
                for i, layer in enumerate(layers):
                    path = origin + section + ((i,) if section != ("merge",) else ())
                    for j, ref in enumerate(layer.inputs or []):
                        if ref not in used_names:
                            self.error(
                                "AS106",
                                "bad-reference",
                                f"no layer named {ref!r} before this one",
                                path + ("inputs", j),
                                f"known here: {', '.join(sorted(used_names))}",
                            )
                    used_names.add(layer.name or auto_name(layer.op, used_names))
                    self._static_layer(layer, scope, path)
                if section[0] == "body":
                    known = set(used_names)

    def _static_value(self, value: Any, scope: set[str], path: tuple, what: str) -> None:
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str):
                continue
            try:
                unknown = E.parse(item).names - scope
            except E.ExprError as exc:
                self.error("AS104", "bad-expression", f"{what}: {exc.message}", path, exc.hint)
                continue
            if unknown:
                self.error(
                    "AS104",
                    "bad-expression",
                    f"{what}: unknown name {sorted(unknown)[0]!r}",
                    path,
                    f"names in scope: {', '.join(sorted(scope))}",
                )

    def _static_layer(self, layer: M.Layer, scope: set[str], path: tuple) -> None:
        opdef = O.get(layer.op)
        if opdef is None:
            self.error("AS103", "unknown-op", f"unknown op {layer.op!r}", path + ("op",), _op_hint(layer.op))
            return
        if isinstance(layer.when, str):
            self._static_value(layer.when, scope, path + ("when",), "when")
        for key, value in layer.attrs.items():
            if key not in opdef.attrs.model_fields:
                self.error(
                    "AS101",
                    "schema-error",
                    f"op {layer.op!r} has no attribute {key!r}",
                    path + (key,),
                    _attr_hint(opdef, key),
                    key=True,
                )
                continue
            if isinstance(value, str) and value in opdef.attrs.KEYWORDS.get(key, frozenset()):
                continue
            self._static_value(value, scope, path + (key,), key)

    def _vars(self) -> None:
        for key, value in self.spec.vars.items():
            try:
                self.vars[key] = self._value(value, dict(self.vars))
            except E.ExprError as exc:
                self.error("AS104", "bad-expression", exc.message, ("vars", key), exc.hint)

    def _defaults(self) -> None:
        for kind, attrs in self.spec.defaults.items():
            opdef = O.get(kind)
            if opdef is None:
                self.error(
                    "AS103",
                    "unknown-op",
                    f"defaults given for unknown op kind {kind!r}",
                    ("defaults", kind),
                    _op_hint(kind),
                    key=True,
                )
                continue
            for attr in attrs:
                if attr not in opdef.attrs.model_fields:
                    self.error(
                        "AS101",
                        "schema-error",
                        f"op {kind!r} has no attribute {attr!r}",
                        ("defaults", kind, attr),
                        _attr_hint(opdef, attr),
                        key=True,
                        fix=self._rename(("defaults", kind, attr), attr, opdef.attrs.model_fields),
                    )

    # -- values ---------------------------------------------------------------------------------
    def _value(self, value: Any, env: dict[str, Any]) -> Any:
        """A spec value with its expressions evaluated (strings are expressions)."""
        if isinstance(value, str):
            return E.evaluate(value, env)
        if isinstance(value, list):
            return [self._value(v, env) for v in value]
        return value

    def _blamed(
        self,
        code: str,
        name: str,
        message: str,
        vpath: tuple,
        hint: str | None,
        block: BlockInstance | None,
        attr: str,
        raw: Any,
        value: Any = None,
    ) -> None:
        """Report a problem with a value written in a block definition at the user's text that
        supplied it (see :mod:`archspec.ir.provenance`), or at the definition when no
        argument of the user's is involved."""
        resolved = self.loaded.block(block.block_type) if block is not None else None
        site = blame(block, resolved.definition.let, attr, raw, value) if resolved and vpath[0] != "defaults" else None
        if site is None:
            self.error(code, name, message, vpath, hint)
            return
        path, notes = site
        defined = self.spans.value(vpath)
        if defined is not None:
            notes.append(f"defined at {defined}")
        self.error(code, name, message, path, hint, notes=notes)

    def _attrs(
        self, opdef: O.OpDef, layer: M.Layer, env: dict[str, Any], path: tuple, block: BlockInstance | None = None
    ) -> O.Attrs | None:
        raw: dict[str, Any] = {}
        defaults = self.spec.defaults.get(layer.op, {})
        for key, value in defaults.items():
            if key in opdef.attrs.model_fields:
                raw[key] = (value, ("defaults", layer.op, key))
        for key, value in layer.attrs.items():
            raw[key] = (value, path + (key,))
        values: dict[str, Any] = {}
        ok = True
        for key, (value, vpath) in raw.items():
            if key not in opdef.attrs.model_fields:
                self.error(
                    "AS101",
                    "schema-error",
                    f"op {layer.op!r} has no attribute {key!r}",
                    vpath,
                    _attr_hint(opdef, key),
                    key=True,
                    fix=self._rename(vpath, key, opdef.attrs.model_fields),
                )
                ok = False
                continue
            keywords = opdef.attrs.KEYWORDS.get(key, frozenset())
            try:
                if isinstance(value, str) and value in keywords:
                    values[key] = value
                elif isinstance(value, list):
                    values[key] = [self._value(v, env) for v in value]
                else:
                    values[key] = self._value(value, env)
            except E.ExprError as exc:
                self._blamed("AS104", "bad-expression", f"{key}: {exc.message}", vpath, exc.hint, block, key, value)
                ok = False
        if not ok:
            return None
        key = (layer.op, _freeze(values))
        cached = self._attrs_cache.get(key)
        if cached is not None:
            return cached
        try:
            attrs = opdef.attrs.model_validate(values)
            self._attrs_cache[key] = attrs
            return attrs
        except ValidationError as exc:
            for err in exc.errors():
                key = err["loc"][0] if err["loc"] else None
                vpath = raw[key][1] if key in raw else path
                message = err["msg"].removeprefix("Value error, ")
                if err["type"] == "missing":
                    message = f"op {layer.op!r} needs attribute {key!r}"
                    vpath = path
                else:
                    message = f"{key}: {message}" if key else message
                if key in raw:
                    value = values.get(key)
                    self._blamed("AS101", "schema-error", message, vpath, None, block, key, raw[key][0], value)
                else:
                    self.error("AS101", "schema-error", message, vpath)
            return None

    def _condition(self, when: Any, env: dict[str, Any], path: tuple) -> bool:
        if when is None:
            return True
        if isinstance(when, bool):
            return when
        try:
            return bool(E.evaluate(when, env))
        except E.ExprError as exc:
            self.error("AS104", "bad-expression", f"when: {exc.message}", path, exc.hint)
            return False

    # -- graph --------------------------------------------------------------------------------------
    def _add(self, node: Node) -> None:
        if len(self.net.order) >= MAX_NODES:
            self.error("AS101", "schema-error", f"the network has more than {MAX_NODES:,} layers", node.spec_path)
            raise _Abort
        self.net.add_node(node)

    def _unique(self, table: dict[str, Node], name: str, node_path: tuple, what: str, report: bool = True) -> str:
        if name not in table:
            return name
        other = table[name]
        if report:
            self.error(
                "AS107",
                "duplicate-name",
                f"{what} {name!r} is used twice",
                node_path,
                "give each layer its own name",
                notes=[f"first used at {other.span}"] if other.span else None,
            )
        n = 2
        while f"{name}_{n}" in table:
            n += 1
        return f"{name}_{n}"

    def _layer(
        self,
        layer: M.Layer,
        path: tuple,
        site_path: tuple | None,
        inputs: list[str],
        env: dict[str, Any],
        part: str,
        local: str,
        named: bool,
        prefix: str,
        keras_prefix: str,
        stage: int | None = None,
        block: BlockInstance | None = None,
    ) -> Node:
        opdef = O.get(layer.op)
        torch_path = f"{prefix}.{local}" if prefix else local
        keras_local = layer.keras or local.replace(".", "_")
        keras_name = f"{keras_prefix}_{keras_local}" if keras_prefix else keras_local
        span = self.spans.value(path)
        site = self.spans.value(site_path) if site_path is not None else span
        torch_dup = torch_path in self.torch_paths
        torch_path = self._unique(self.torch_paths, torch_path, path, "module path")
        keras_path = path + ("keras",) if layer.keras else path
        keras_name = self._unique(self.keras_names, keras_name, keras_path, "Keras layer name", report=not torch_dup)
        node = Node(
            torch_path,
            layer.op,
            None,
            inputs,
            torch_path,
            keras_name,
            part,
            local,
            named,
            span,
            site,
            path,
            stage,
            block.index if block else None,
            block.id if block else None,
        )
        self.torch_paths[torch_path] = node
        self.keras_names[keras_name] = node
        if opdef is None:
            self.error("AS103", "unknown-op", f"unknown op {layer.op!r}", path + ("op",), _op_hint(layer.op))
        else:
            node.attrs = self._attrs(opdef, layer, env, path, block)
            if opdef.arity == 1 and len(inputs) != 1:
                self.error(
                    "AS106", "bad-reference", f"op {layer.op!r} takes one input, got {len(inputs)}", path + ("inputs",)
                )
                node.attrs = None
            elif opdef.arity is None and len(inputs) < 2:
                self.error(
                    "AS106",
                    "bad-reference",
                    f"op {layer.op!r} combines two or more inputs, got {len(inputs)}",
                    path + ("inputs",) if layer.inputs else path,
                    "list them in 'inputs:', e.g. inputs: [conv2, input]",
                )
                node.attrs = None
        if layer.in_channels is not None:
            try:
                declared = self._value(layer.in_channels, env)
                node.declared_in_channels = declared if isinstance(declared, int) else None
            except E.ExprError as exc:
                self.error("AS104", "bad-expression", f"in_channels: {exc.message}", path + ("in_channels",))
        self._infer(node)
        self._add(node)
        if block is not None:
            block.nodes.append(node.id)
            self._keras_parts[node.id] = (keras_local, keras_path)
        return node

    def _infer(self, node: Node) -> None:
        preds = [self.net.node(i) for i in node.inputs]
        node.in_shapes = [p.shape for p in preds]
        opdef = node.opdef
        if opdef is None or node.attrs is None or any(s is None for s in node.in_shapes):
            return
        nonneg = [p.nonneg for p in preds]
        # attrs come from the cache above, which keeps them alive: their id identifies them
        key = (node.op, id(node.attrs), tuple(node.in_shapes), tuple(nonneg))
        cached = self._infer_cache.get(key)
        if cached is not None:
            node.shape, node.pads, node.params, node.macs, node.nonneg = cached
            return
        extra: dict[str, Any] = {}
        try:
            node.shape = opdef.shape(node.attrs, node.in_shapes, extra)  # type: ignore[arg-type]
        except O.ShapeError as exc:
            node.error = exc
            return
        node.pads = extra.get("pads")
        node.params = opdef.params(node.attrs, node.in_shapes)  # type: ignore[arg-type]
        node.macs = opdef.macs(node.attrs, node.in_shapes, node.shape)  # type: ignore[arg-type]
        node.nonneg = opdef.nonneg(node.attrs, nonneg)
        self._infer_cache[key] = (node.shape, node.pads, node.params, node.macs, node.nonneg)

    def _scope(
        self,
        layers: list[M.Layer],
        part: str,
        path: tuple,
        current: str,
        env: dict[str, Any],
        prefix: str,
        keras_prefix: str,
        local: dict[str, str] | None = None,
        block: BlockInstance | None = None,
        site_path: tuple | None = None,
        stage: int | None = None,
    ) -> str:
        """Lower a list of layers; returns the id of the last node."""
        local = local if local is not None else {"input": current}
        used = set(local)
        if part == "head":
            # an unnamed head layer is named apart from the stem's layers and the stages, which
            # share the model's top level with it (a stem relu and a head relu: relu, relu2)
            used |= {p.split(".", 1)[0] for p in self.torch_paths}
        env = {**self.vars, **env}
        for i, layer in enumerate(layers):
            lpath = path + (i,)
            if not self._condition(layer.when, env, lpath + ("when",)):
                continue
            if layer.inputs:
                inputs = []
                for j, ref in enumerate(layer.inputs):
                    if ref not in local:
                        self.error(
                            "AS106",
                            "bad-reference",
                            f"no layer named {ref!r} before this one",
                            lpath + ("inputs", j),
                            f"known here: {', '.join(sorted(local))}",
                        )
                        continue
                    inputs.append(local[ref])
                if len(inputs) != len(layer.inputs):
                    raise _Abort
            else:
                inputs = [current]
            name = layer.name or auto_name(layer.op, used)
            used.add(name)
            node = self._layer(
                layer,
                lpath,
                site_path,
                inputs,
                env,
                part,
                name,
                layer.name is not None,
                prefix,
                keras_prefix,
                stage,
                block,
            )
            local[name] = node.id
            current = node.id
        return current

    # -- stages -------------------------------------------------------------------------------------
    def _stages(self, current: str) -> str:
        stages = self.spec.stages
        if isinstance(stages, M.StageTable):
            plans = self._plan_table(stages)
        else:
            plans = self._plan_list(stages)
        self.net.plans = plans
        count = sum(len(p["blocks"]) for p in plans)
        if count > MAX_BLOCKS:
            self.error(
                "AS101", "schema-error", f"the network has {count:,} blocks; the limit is {MAX_BLOCKS:,}", ("stages",)
            )
            raise _Abort
        first_named: dict[str, dict] = {}
        for plan in plans:
            earlier = first_named.setdefault(plan["torch"], plan)
            if earlier is not plan and plan["torch"]:
                # one cause (a stage copied with its neighbour's name), one finding, at that name;
                # lowering its blocks would report every layer of them twice
                self.error(
                    "AS107",
                    "duplicate-name",
                    f"stages {earlier['index']} and {plan['index']} are both named {plan['torch']!r}",
                    plan["name_path"],
                    "give each stage its own name (a stage copied from its neighbour keeps the neighbour's name:)",
                    notes=[f"stage {earlier['index']} is named at {self.spans.value(earlier['name_path'])}"],
                )
                raise _Abort
        for plan in plans:
            info = StageInfo(
                plan["index"],
                plan["torch"],
                plan["keras"],
                [],
                self.spans.value(plan["path"]),
                plan["name_path"],
                plan["keras_path"],
            )
            self.net.stages.append(info)
            for entry in plan["blocks"]:
                current = self._block(entry, plan, info, current)
        return current

    def _stage_name(self, pattern: str, stage: int, path: tuple) -> str:
        try:
            name = E.format_pattern(pattern, {**self.vars, "stage": stage})
        except E.ExprError as exc:
            self.error("AS104", "bad-expression", f"name pattern: {exc.message}", path, exc.hint)
            return f"layer{stage}"
        if not M.NAME_RE.match(name):
            self.error("AS101", "schema-error", f"stage name {name!r} is not a valid module path", path)
            return f"layer{stage}"
        return name

    def _block_name(self, plan: dict, stage: int, block: int) -> str:
        pattern = plan["block_name"]
        if pattern == "{block - 1}":
            return str(block - 1)
        try:
            name = E.format_pattern(pattern, {**self.vars, "stage": stage, "block": block})
        except E.ExprError as exc:
            self.error(
                "AS104", "bad-expression", f"block name pattern: {exc.message}", plan["block_name_path"], exc.hint
            )
            raise _Abort from None
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+", name):
            self.error(
                "AS101",
                "schema-error",
                f"block name {name!r} is not a module path part (letters, digits and '_', or a number)",
                plan["block_name_path"],
            )
            raise _Abort
        return name

    def _plan_table(self, table: M.StageTable) -> list[dict]:
        plans = []
        cols = table.columns
        if "depth" not in cols:
            self.error("AS101", "schema-error", "the stage table needs a 'depth' column", ("stages", "columns"))
            raise _Abort
        for i, row in enumerate(table.table):
            rpath = ("stages", "table", i)
            if len(row) != len(cols):
                self.error(
                    "AS101",
                    "schema-error",
                    f"stage row has {len(row)} values but the table has {len(cols)} columns ({', '.join(cols)})",
                    rpath,
                )
                raise _Abort
            values = dict(zip(cols, row))
            paths = {c: rpath + (j,) for j, c in enumerate(cols)}
            depth = values.pop("depth")
            if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_BLOCKS:
                self.error(
                    "AS101",
                    "schema-error",
                    f"depth must be a whole number from 1 to {MAX_BLOCKS}, got {depth!r}",
                    paths["depth"],
                )
                raise _Abort
            stride = values.pop("stride", None)
            stage = i + 1
            base_args = {k: (v, ("stages", "args", k)) for k, v in table.args.items()}
            base_args.update({k: (v, paths[k]) for k, v in values.items()})
            blocks = []
            for b in range(1, depth + 1):
                args = dict(base_args)
                if stride is not None:
                    at = 1 if table.stride_at == "first" else depth
                    args["stride"] = (stride, paths["stride"]) if b == at else (1, None)
                override = table.overrides.get(f"{stage}.{b}", {})
                for k, v in override.items():
                    args[k] = (v, ("stages", "overrides", f"{stage}.{b}", k))
                first = b == 1 and table.first_block is not None
                blocks.append(
                    {
                        "block": table.first_block if first else table.block,
                        "block_path": ("stages", "first_block" if first else "block"),
                        "args": args,
                        "path": rpath,
                        "in_channels": None,
                    }
                )
            plans.append(
                {
                    "index": stage,
                    "torch": self._stage_name(table.name, stage, ("stages", "name")),
                    "name_path": ("stages", "name"),
                    "block_name": table.block_name,
                    "block_name_path": ("stages", "block_name"),
                    "keras": table.keras,
                    "keras_path": ("stages", "keras"),
                    "path": rpath,
                    "blocks": blocks,
                }
            )
        for key in table.overrides:
            s, b = (int(x) for x in key.split("."))
            if s > len(table.table) or b > _depth_of(table, s):
                self.error(
                    "AS101",
                    "schema-error",
                    f"override {key!r} names a block that does not exist",
                    ("stages", "overrides", key),
                    key=True,
                )
        return plans

    def _plan_list(self, stages: list[M.Stage]) -> list[dict]:
        plans = []
        for i, stage in enumerate(stages):
            spath = ("stages", i)
            index = i + 1
            base_args = {k: (v, spath + ("args", k)) for k, v in stage.args.items()}
            blocks = []
            if stage.blocks is not None:
                if stage.depth is not None and stage.depth != len(stage.blocks):
                    self.error(
                        "AS101",
                        "schema-error",
                        f"depth {stage.depth} does not match the {len(stage.blocks)} blocks listed",
                        spath + ("depth",),
                    )
                entries = stage.blocks
                for b, entry in enumerate(entries, start=1):
                    args = dict(base_args)
                    args.update({k: (v, spath + ("blocks", b - 1, "args", k)) for k, v in entry.args.items()})
                    blocks.append(
                        {
                            "block": entry.block or stage.block,
                            "args": args,
                            "path": spath + ("blocks", b - 1),
                            "in_channels": entry.in_channels,
                        }
                    )
            elif stage.depth is not None:
                for _ in range(stage.depth):
                    blocks.append({"block": stage.block, "args": dict(base_args), "path": spath, "in_channels": None})
            else:
                self.error("AS101", "schema-error", "a stage needs 'depth' or a 'blocks' list", spath)
                raise _Abort
            if stage.stride is not None:
                at = 0 if stage.stride_at == "first" else len(blocks) - 1
                for j, blk in enumerate(blocks):
                    if "stride" not in blk["args"]:
                        blk["args"]["stride"] = (stage.stride, spath + ("stride",)) if j == at else (1, None)
            for b, override in stage.overrides.items():
                if not 1 <= b <= len(blocks):
                    self.error(
                        "AS101",
                        "schema-error",
                        f"override for block {b}, but the stage has {len(blocks)}",
                        spath + ("overrides", b),
                        key=True,
                    )
                    continue
                for k, v in override.items():
                    blocks[b - 1]["args"][k] = (v, spath + ("overrides", b, k))
            plans.append(
                {
                    "index": index,
                    "torch": self._stage_name(stage.name or "layer{stage}", index, spath + ("name",)),
                    "name_path": spath + ("name",) if stage.name else spath,
                    "block_name": stage.block_name or "{block - 1}",
                    "block_name_path": spath + ("block_name",),
                    "keras": stage.keras,
                    "keras_path": spath + ("keras",),
                    "path": spath,
                    "blocks": blocks,
                }
            )
        return plans

    def _block(self, entry: dict, plan: dict, info: StageInfo, current: str) -> str:
        index = len(info.block_ids) + 1
        block_id = f"{info.torch_name}.{self._block_name(plan, info.index, index)}"
        site_path = entry["path"]
        type_name = entry["block"]
        resolved: ResolvedBlock | None = self.loaded.block(type_name) if type_name else None
        if resolved is None:
            known = ", ".join(sorted(self.loaded.blocks))
            path = entry.get("block_path", site_path)
            self.error(
                "AS102",
                "unknown-block",
                f"unknown block type {type_name!r}" if type_name else "no block type given for this block",
                path + (("block",) if path == site_path else ()),
                f"block types available: {known}",
            )
            raise _Abort
        definition = resolved.definition
        if plan["keras"]:
            try:
                keras_prefix = E.format_pattern(plan["keras"], {**self.vars, "stage": info.index, "block": index})
            except E.ExprError as exc:
                self.error(
                    "AS104", "bad-expression", f"keras name pattern: {exc.message}", plan["keras_path"], exc.hint
                )
                raise _Abort from None
        else:
            keras_prefix = block_id.replace(".", "_")
        in_node = self.net.node(current)
        block = BlockInstance(
            block_id,
            keras_prefix,
            type_name,
            info.index,
            index,
            {},
            {},
            {},
            self.spans.value(site_path),
            site_path,
            current,
            in_shape=in_node.shape,
            declared_in_channels=entry["in_channels"],
        )
        info.block_ids.append(block_id)
        self.net.blocks.append(block)

        # parameters: defaults, then arguments
        env: dict[str, Any] = dict(self.vars)
        env["in_channels"] = in_node.shape[0] if in_node.shape else None
        scope = {**self.vars, "stage": info.index, "block": index}
        unknown: list[str] = []
        for key, (value, vpath) in entry["args"].items():
            if key not in definition.params:
                if key == "stride" and vpath is None:
                    continue  # the stage stride goes to blocks that take one
                unknown.append(key)
                if vpath is not None and vpath[:2] == ("stages", "table") and len(vpath) == 4:
                    vpath = ("stages", "columns", vpath[3])  # a column name: say it once, where it is written
                self.error(
                    "AS101",
                    "schema-error",
                    f"block type {type_name!r} has no parameter {key!r}",
                    vpath or site_path,
                    _param_hint(definition, key),
                    key=True,
                    fix=self._rename(vpath, key, definition.params) if vpath else None,
                )
                continue
            try:
                block.args[key] = self._value(value, scope)
            except E.ExprError as exc:
                self.error("AS104", "bad-expression", f"{key}: {exc.message}", vpath or site_path, exc.hint)
                raise _Abort from None
            if vpath is not None:
                block.arg_paths[key] = vpath
        for key, default in definition.params.items():
            if key in block.args:
                continue
            if default is None:
                if any(_close(u, key) for u in unknown):
                    raise _Abort  # a misspelled argument, already reported with this name as its hint
                self.error(
                    "AS101",
                    "schema-error",
                    f"block type {type_name!r} needs argument {key!r}",
                    site_path,
                    f"add {key} to the stage's args or the table's columns",
                )
                raise _Abort
            try:
                block.args[key] = self._value(default, {**scope, **block.args})
            except E.ExprError as exc:
                self.error(
                    "AS104", "bad-expression", f"{key}: {exc.message}", resolved.prefix + ("params", key), exc.hint
                )
                raise _Abort from None
        env.update(block.args)
        if env["in_channels"] is None:
            raise _Abort  # upstream error already reported
        block.env = env
        for key, value in definition.let.items():
            try:
                env[key] = self._value(value, env)
            except E.ExprError as exc:
                site = blame(block, definition.let, key, value)
                if site is None:
                    self.error(
                        "AS104",
                        "bad-expression",
                        f"{key}: {exc.message}",
                        resolved.prefix + ("let", key),
                        exc.hint,
                        notes=[f"in block {block_id} ({type_name}), from {block.site}"],
                    )
                else:
                    path, notes = site
                    notes.append(f"defined at {self.spans.value(resolved.prefix + ('let', key))}")
                    self.error("AS104", "bad-expression", f"{key}: {exc.message}", path, exc.hint, notes=notes)
                raise _Abort from None

        try:
            memo = (type_name, _freeze(env), in_node.shape, in_node.nonneg)
            hash(memo)
        except TypeError:  # an unhashable value: lower this block without the cache
            memo = None
        record = self._block_cache.get(memo) if memo is not None else None
        if record is not None:
            return self._replay(record, block, current, keras_prefix, site_path, info.index)
        diagnostics_before = len(self.net.diagnostics)

        prefix = block_id
        local: dict[str, str] = {"input": current}
        body_out = self._scope(
            definition.body,
            "body",
            resolved.prefix + ("body",),
            current,
            env,
            prefix,
            keras_prefix,
            local,
            block,
            site_path,
            info.index,
        )
        out = body_out
        if definition.merge is not None:
            short_out = current
            for c, case in enumerate(definition.shortcut):
                cpath = resolved.prefix + ("shortcut", c)
                if self._condition(case.when, env, cpath + ("when",)):
                    block.shortcut_case = c
                    if case.from_ not in local:
                        self.error(
                            "AS106",
                            "bad-reference",
                            f"shortcut starts from {case.from_!r}, which is not a layer of this block",
                            cpath + ("from",),
                            f"known: {', '.join(sorted(local))}",
                        )
                        raise _Abort
                    short_out = self._scope(
                        case.layers,
                        "shortcut",
                        cpath + ("layers",),
                        local[case.from_],
                        env,
                        prefix,
                        keras_prefix,
                        local,
                        block,
                        site_path,
                        info.index,
                    )
                    break
            merge = definition.merge
            mname = merge.name or auto_name(merge.op, set(local))
            mnode = self._layer(
                merge,
                resolved.prefix + ("merge",),
                site_path,
                [body_out, short_out],
                env,
                "merge",
                mname,
                merge.name is not None,
                prefix,
                keras_prefix,
                info.index,
                block,
            )
            local[mname] = mnode.id
            out = self._scope(
                definition.post,
                "post",
                resolved.prefix + ("post",),
                mnode.id,
                env,
                prefix,
                keras_prefix,
                local,
                block,
                site_path,
                info.index,
            )
        elif definition.shortcut:
            self.error(
                "AS101",
                "schema-error",
                "a block with 'merge: null' cannot have a shortcut",
                resolved.prefix + ("shortcut",),
            )
        else:
            out = self._scope(
                definition.post,
                "post",
                resolved.prefix + ("post",),
                body_out,
                env,
                prefix,
                keras_prefix,
                local,
                block,
                site_path,
                info.index,
            )
        block.output = out
        block.out_shape = self.net.node(out).shape
        if memo is not None and len(self.net.diagnostics) == diagnostics_before:
            record = _BlockRecord.of(block, self.net, self._keras_parts)
            if record is not None:
                self._block_cache[memo] = record
        return out

    def _replay(
        self, record: _BlockRecord, block: BlockInstance, current: str, keras_prefix: str, site_path: tuple, stage: int
    ) -> str:
        """Lower ``block`` as the recorded block was lowered: the same layers, attributes and
        figures, under this block's names (duplicates are still found and reported)."""
        site = self.spans.value(site_path)
        ids: list[str] = []
        for t in record.layers:
            torch_path = f"{block.id}.{t.local}"
            keras_name = f"{keras_prefix}_{t.keras_local}" if keras_prefix else t.keras_local
            torch_dup = torch_path in self.torch_paths
            torch_path = self._unique(self.torch_paths, torch_path, t.path, "module path")
            keras_name = self._unique(
                self.keras_names, keras_name, t.keras_path, "Keras layer name", report=not torch_dup
            )
            node = Node(
                torch_path,
                t.op,
                t.attrs,
                [current if i < 0 else ids[i] for i in t.inputs],
                torch_path,
                keras_name,
                t.part,
                t.local,
                t.named,
                t.span,
                site,
                t.path,
                stage,
                block.index,
                block.id,
                list(t.in_shapes),
                t.shape,
                t.pads,
                t.params,
                t.macs,
                t.nonneg,
                None,
                t.declared_in_channels,
            )
            self.torch_paths[torch_path] = node
            self.keras_names[keras_name] = node
            self._add(node)
            block.nodes.append(node.id)
            ids.append(node.id)
        block.shortcut_case = record.shortcut_case
        block.output = current if record.output < 0 else ids[record.output]
        block.out_shape = self.net.node(block.output).shape
        return block.output


@dataclass(frozen=True)
class _LayerRecord:
    op: str
    attrs: O.Attrs | None
    inputs: tuple[int, ...]  # indices of earlier layers of the block; -1: the block's input
    part: str
    local: str
    keras_local: str
    named: bool
    span: Any
    path: tuple
    keras_path: tuple  # where a duplicate Keras name is reported
    in_shapes: tuple
    shape: Any
    pads: Any
    params: int
    macs: int
    nonneg: bool
    declared_in_channels: int | None


@dataclass(frozen=True)
class _BlockRecord:
    """A block that lowered without a finding, to replay for identical blocks."""

    layers: tuple[_LayerRecord, ...]
    shortcut_case: int | None
    output: int  # index of the output layer; -1: the block's input

    @staticmethod
    def of(block: BlockInstance, net: Network, keras: dict[str, tuple[str, tuple]]) -> _BlockRecord | None:
        index = {node_id: i for i, node_id in enumerate(block.nodes)}
        index[block.input] = -1
        layers = []
        for node_id in block.nodes:
            node = net.node(node_id)
            keras_local, keras_path = keras[node_id]
            keras_name = f"{block.keras_name}_{keras_local}" if block.keras_name else keras_local
            if (
                node.error is not None
                or node.torch_path != f"{block.id}.{node.local_name}"
                or node.keras_name != keras_name
            ):
                return None
            layers.append(
                _LayerRecord(
                    node.op,
                    node.attrs,
                    tuple(index[i] for i in node.inputs),
                    node.part,
                    node.local_name,
                    keras_local,
                    node.named,
                    node.span,
                    node.spec_path,
                    keras_path,
                    tuple(node.in_shapes),
                    node.shape,
                    node.pads,
                    node.params,
                    node.macs,
                    node.nonneg,
                    node.declared_in_channels,
                )
            )
        return _BlockRecord(tuple(layers), block.shortcut_case, index[block.output])


def _depth_of(table: M.StageTable, stage: int) -> int:
    row = table.table[stage - 1]
    value = dict(zip(table.columns, row)).get("depth")
    return value if isinstance(value, int) else 0


def auto_name(op: str, used: set[str]) -> str:
    """The name of an unnamed layer: its op kind, numbered from 2 when taken (``relu``, ``relu2``).
    Backends that rebuild a block's layers from its definition use this same rule."""
    if op not in used:
        return op
    n = 2
    while f"{op}{n}" in used:
        n += 1
    return f"{op}{n}"


def _op_hint(kind: str) -> str:
    import difflib

    close = difflib.get_close_matches(kind, list(O.REGISTRY), n=1)
    known = ", ".join(sorted(O.REGISTRY))
    return f"did you mean {close[0]!r}?" if close else f"known ops: {known}"


def _attr_hint(opdef: O.OpDef, attr: str) -> str:
    import difflib

    fields = list(opdef.attrs.model_fields)
    close = difflib.get_close_matches(attr, fields, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"{opdef.kind} takes: {', '.join(fields) or 'no attributes'}"


def _close(written: str, name: str) -> bool:
    import difflib

    return bool(difflib.get_close_matches(written, [name], n=1))


def _param_hint(definition: M.BlockDef, key: str) -> str:
    import difflib

    params = list(definition.params)
    close = difflib.get_close_matches(key, params, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"parameters: {', '.join(params) or 'none'}"


def build_ir(loaded: LoadedSpec, input_size: tuple[int, int] | None = None) -> Network:
    """Lower ``loaded`` to a :class:`Network`, inferring shapes at ``input_size`` (default: the spec's)."""
    # The builder allocates many objects and frees none of them: pausing the cyclic garbage
    # collector keeps a deep network's build linear (each full collection would walk them all).
    paused = gc.isenabled()
    gc.disable()
    try:
        return Builder(loaded, input_size).build()
    finally:
        if paused:
            gc.enable()


def _freeze(value: Any) -> Any:
    """A hashable key for evaluated attribute values that tells apart what validation would
    (1, 1.0 and True; -0.0 and 0.0; lists and scalars)."""
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(_freeze(v) for v in value))
    if isinstance(value, dict):
        return (dict, tuple((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, float):
        return (float, repr(value))
    return (type(value), value)


def tensor_count(shape: tuple[int, ...]) -> int:
    return math.prod(shape)
