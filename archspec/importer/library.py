"""Shorter specs: a recovered block type that a block of the shipped library reproduces is
written as that library block, with the library's arguments.

For each instance of a recovered type, the library block's arguments are *solved*: every
layer of the library block that names a layer of the instance (its module path, or its Keras
part) gives equations, ``filters: mid`` equal to the instance's 128, ``groups: groups`` equal
to 32, ``when: se`` true exactly where the instance has the layer.  A small search, defaults
first, finds arguments that satisfy them all (ResNeXt's grouped bottleneck is ``bottleneck``
with ``groups: 32, base_width: 4``).  The solution is only a candidate: it is accepted when the
whole network it gives is the same IR as the recovered spec's, node for node (see
:func:`fingerprint`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from archspec.spec import expr as E

# a budget of condition checks per instance and library block: a block the search cannot fit
# quickly is left as recovered
_BUDGET = 200_000


def fingerprint(text: str, framework: str) -> list[tuple] | None:
    """The network of ``text``, node by node, as far as the generated model's behaviour and
    weights go: op, attributes, inputs and shape; the name of every node with weights or
    buffers (the state-dict keys; Keras: the layers weights are given to by name) and, for
    Keras, of each block's output (the round trip compares blocks by name).
    Identity ops are left out (a no-op; timm's ``drop_block`` and ``aa`` modules), and a
    stride-1 'same' padding of an odd kernel is the symmetric padding it is."""
    from archspec.ir.build import build_ir
    from archspec.spec.load import load_spec

    try:
        network = build_ir(load_spec("imported.yaml", text=text))
    except Exception:  # noqa: BLE001 - a candidate that does not load is simply not a match
        return None
    if any(d.is_error for d in network.diagnostics) or not network.complete:
        return None
    block_outputs = {b.output for b in network.blocks}
    skip: dict[str, str] = {}
    for n in network.nodes():
        if n.op == "identity" and len(n.inputs) == 1:
            skip[n.id] = skip.get(n.inputs[0], n.inputs[0])
    content: dict[str, tuple] = {}
    sources: dict[str, list[str]] = {}
    for n in network.nodes():
        if n.id in skip:
            continue
        if n.tensors():
            name = n.torch_path if framework == "torch" else n.keras_name
        elif framework == "keras" and n.id in block_outputs:
            name = n.keras_name  # the round trip compares blocks by their output layer's name
        else:
            name = None
        attrs = _normal(n.op, n.attrs.model_dump()) if n.attrs is not None else None
        if n.op == "channel_conv" and n.attrs is not None:
            attrs = {"kernel": n.attrs.size(n.shape[0])}  # 'auto' or written out: the same layer
        content[n.id] = (name or "", n.op, repr(attrs), tuple(n.shape or ()))
        sources[n.id] = [skip.get(i, i) for i in n.inputs]
    return _canonical(content, sources)


def _canonical(content: dict[str, tuple], sources: dict[str, list[str]]) -> list[tuple]:
    """The nodes in an order that depends on the graph only, not on the order the layers are
    written in: of the nodes whose inputs are all placed, the next is the least by its content
    and its inputs' places (Res2Net's scales traced slice, conv, slice, conv... and written
    slices first are the same network).  Two ready nodes equal in both are interchangeable."""
    import heapq

    users: dict[str, list[str]] = {nid: [] for nid in content}
    waiting: dict[str, int] = {}
    for nid, ins in sources.items():
        known = [i for i in ins if i in content]
        waiting[nid] = len(set(known))
        for i in set(known):
            users[i].append(nid)
    index: dict[str, int] = {}
    out: list[tuple] = []

    def key(nid: str) -> tuple:
        inputs = tuple(index.get(i, -1) for i in sources[nid])
        return (content[nid], inputs, nid)

    ready = [key(nid) for nid, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    while ready:
        (name, op, attrs, shape), inputs, nid = heapq.heappop(ready)
        index[nid] = len(index)
        out.append((name or None, op, attrs, inputs, shape))
        for u in users[nid]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, key(u))
    return out


def _normal(op: str, attrs: dict[str, Any]) -> dict[str, Any]:
    if op in ("maxpool", "avgpool") and attrs.get("stride") is None and "kernel" in attrs:
        attrs = {**attrs, "stride": attrs["kernel"]}  # a pool's stride defaults to its kernel
    if attrs.get("padding") == "same" and op in ("conv", "maxpool", "avgpool"):
        kernel, stride, dilation = (attrs.get(k, 1) for k in ("kernel", "stride", "dilation"))
        if isinstance(kernel, int):  # a layer as the importer reads it
            if kernel % 2 == 1 and stride == 1 and dilation == 1:
                attrs = {**attrs, "padding": (kernel - 1) // 2}
        elif (
            len(set(kernel)) == 1 and kernel[0] % 2 == 1 and set(stride or (1,)) == {1} and set(dilation or (1,)) == {1}
        ):  # the IR's (kh, kw), (sh, sw)
            p = (kernel[0] - 1) // 2
            attrs = {**attrs, "padding": (p, p, p, p)}
    return attrs


def _weighted(op: str) -> bool:
    from archspec.ir.ops import REGISTRY, OpDef

    opdef = REGISTRY.get(op)
    return opdef is None or opdef.tensors is not OpDef.__dataclass_fields__["tensors"].default


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _Fit:
    """The arguments of one library block that reproduce one recovered block instance."""

    def __init__(self, definition, framework: str):
        self.d = definition
        self.framework = framework
        self.deps: dict[str, set[str]] = {}
        for key, value in definition.let.items():
            self.deps[key] = self._names(value)

    def _names(self, value: Any) -> set[str]:
        if not isinstance(value, str):
            return set()
        try:
            names = E.parse(value).names
        except E.ExprError:
            return set()
        out: set[str] = set()
        for n in names:
            if n in self.d.params:
                out.add(n)
            elif n in self.deps:
                out |= self.deps[n]
        return out

    def _key(self, layer) -> str | None:
        return layer.name if self.framework == "torch" else layer.keras

    def env(self, assign: dict[str, Any], in_channels: int) -> dict[str, Any]:
        env = {**assign, "in_channels": in_channels}
        for key, value in self.d.let.items():
            try:
                env[key] = E.evaluate(value, env) if isinstance(value, str) else value
            except (E.ExprError, TypeError, ZeroDivisionError):
                pass
        return env

    @staticmethod
    def value(value: Any, env: dict[str, Any]) -> Any:
        if isinstance(value, str):
            try:
                return E.evaluate(value, env)
            except E.ExprError:
                return value  # a literal string ('same')
        return value

    def truth(self, when: Any, env: dict[str, Any]) -> bool:
        if when is None:
            return True
        return bool(self.value(when, env))

    def solve(self, sections: dict[str, list], in_channels: int) -> dict[str, Any] | None:
        """``sections``: section -> [(key, op, attrs, must_cover)] of the instance."""
        constraints: list[tuple[set[str], Callable[[dict], bool]]] = []
        numbers: set[Any] = {in_channels}
        entries = {
            "body": [(None, layer) for layer in self.d.body],
            "shortcut": [(c, layer) for c, case in enumerate(self.d.shortcut) for layer in case.layers],
            "merge": [(None, self.d.merge)] if self.d.merge is not None else [],
            "post": [(None, layer) for layer in self.d.post],
        }
        for sec, layers in sections.items():
            known = {self._key(layer) for _, layer in entries[sec]} - {None}
            for key, _op, attrs, must in layers:
                if must and key not in known:
                    return None  # the instance has a layer this block never makes
                for v in attrs.values():
                    for x in v if isinstance(v, list) else [v]:
                        if isinstance(x, (int, float, str)) and not isinstance(x, bool):
                            numbers.add(x)
        for sec, items in entries.items():
            target = {key: (op, attrs) for key, op, attrs, _ in sections.get(sec, []) if key is not None}
            for case, layer in items:
                key = self._key(layer)
                if (key is None and sec != "merge") or layer.op == "identity":
                    continue  # identities are not compared (the instance's are left out too)
                if sec == "merge":
                    found = sections["merge"][0][1:3] if sections.get("merge") else None
                else:
                    found = target.get(key)
                present = found is not None and found[0] == layer.op
                if found is None and not _weighted(layer.op):
                    continue  # a parameter-free layer may have another name (the fingerprint decides)
                cond_vars = self._names(layer.when)
                whens = []
                if case is not None:
                    whens = [c.when for c in self.d.shortcut[: case + 1]]
                    for w in whens:
                        cond_vars |= self._names(w)

                def cond(env, layer=layer, case=case, whens=whens) -> bool:
                    if case is not None:
                        if any(self.truth(w, env) for w in whens[:-1]) or not self.truth(whens[-1], env):
                            return False
                    return self.truth(layer.when, env)

                constraints.append((cond_vars, lambda env, cond=cond, present=present: cond(env) == present))
                if not present:
                    continue
                for attr, expr in layer.attrs.items():
                    if attr not in found[1]:
                        continue
                    want = _plain(found[1][attr])
                    constraints.append(
                        (
                            self._names(expr),
                            lambda env, expr=expr, want=want: _plain(self.value(expr, env)) == want,
                        )
                    )
        # the shortcut: a case with layers the instance does not have is covered above; a
        # shortcut the instance has must come from some case
        return self._search(constraints, numbers, in_channels)

    def _domain(self, name: str, numbers: set[Any]) -> list[Any]:
        default = self.d.params[name]
        if isinstance(default, bool):
            return [default, not default]
        if default is None or isinstance(default, int):
            ints = {n for n in numbers if isinstance(n, int)}
            more = {v // k for v in ints for k in (2, 4, 8, 16, 32, 64) if v % k == 0}
            pool = sorted((ints | more | {1, 2, 3, 4, 8, 16, 32, 64}) - {0})
            return ([default] if default is not None else []) + [v for v in pool if v != default]
        if isinstance(default, float):
            return [default] + sorted({n for n in numbers if isinstance(n, float) and n != default})
        if isinstance(default, str):
            return [default] + sorted({n for n in numbers if isinstance(n, str) and n != default})
        return [default]

    def _search(self, constraints, numbers, in_channels) -> dict[str, Any] | None:
        budget = [_BUDGET]
        domains = {p: self._domain(p, numbers) for p in self.d.params}

        def holds(assign: dict[str, Any]) -> bool:
            env = self.env(assign, in_channels)
            for names, check in constraints:
                if names <= assign.keys():
                    budget[0] -= 1
                    try:
                        if not check(env):
                            return False
                    except (E.ExprError, TypeError, ZeroDivisionError, KeyError):
                        return False
            return True

        order = {p: i for i, p in enumerate(self.d.params)}

        def cost(assign: dict[str, Any]) -> tuple:
            """Fewest arguments away from their defaults, then the earliest parameters (ResNeXt
            is groups and base_width, not groups and expansion)."""
            changed = sorted(
                (order[p] for p, v in assign.items() if self.d.params[p] is not None and v != self.d.params[p]),
                reverse=True,
            )
            return (len(changed), changed)

        best: list[Any] = [None, None]  # cost, assignment

        def search(assign: dict[str, Any]) -> None:
            if budget[0] <= 0 or (best[0] is not None and cost(assign) >= best[0]):
                return
            pending = [names - assign.keys() for names, _ in constraints if not names <= assign.keys()]
            if not pending:
                best[0], best[1] = cost(assign), assign
                return
            free = sorted(min(pending, key=len))[:3]
            combos = sorted(
                itertools.product(*(range(len(domains[v])) for v in free)),
                key=lambda c: (sum(1 for i, v in zip(c, free) if domains[v][i] != self.d.params[v]), c),
            )
            for combo in combos:
                trial = {**assign, **{v: domains[v][i] for v, i in zip(free, combo)}}
                if holds(trial):
                    search(trial)
                if budget[0] <= 0:
                    return

        if not holds({}):
            return None
        search({})
        found = best[1]
        if found is None:
            return None
        out = {}
        for p, default in self.d.params.items():
            if p in found:
                out[p] = found[p]
            elif default is None:
                return None  # a required argument no layer determines
            else:
                out[p] = default
        return out


def solve(definition, framework: str, sections: dict[str, list], in_channels: int) -> dict[str, Any] | None:
    return _Fit(definition, framework).solve(sections, in_channels)


def candidates() -> list[tuple[str, Any]]:
    """The library's blocks, the ones with fewer parameters first (the simplest that fits wins)."""
    from archspec.spec.load import _library_blocks

    blocks = _library_blocks()
    return sorted(((name, d) for name, (_, d) in blocks.items()), key=lambda x: (len(x[1].params), x[0]))
