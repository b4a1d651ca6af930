"""One scope of generated PyTorch code (a block class, or the model class): its layers as
*units*, their data flow through ``forward``, their modules in ``__init__``.

A unit is one layer of the scope, or several alternative layers that share one name and hold
under different ``when:`` conditions (ResNet-D's ``downsample.0``: an average pool at stride
2, an identity at stride 1).  The pieces, in the order the backend uses them:

1. :class:`Flow` turns the units into ``forward`` statements over variables (a running
   ``out``/``x``, named variables for layers referenced later, ``shortcut``), and decides where
   an activation may work in place (its input is a fresh tensor nobody else reads).
2. :func:`place_modules` gives every unit its module: its own attribute at its module path
   (dotted paths become ``nn.Sequential``/``nn.ModuleDict`` containers, so the state-dict keys
   are the spec's), or a shared parameterless module (``self.relu``, as torchvision does).
3. :func:`init_items` and :func:`render_forward` produce the statements the template places.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field
from typing import Any

from archspec.backends import BackendError, naming
from archspec.backends.reserved_names import TORCH_CONTAINER_ATTRS, TORCH_MODULE_ATTRS
from archspec.backends.torch_lowering import INLINE_OPS, TENSOR_OPS, Lowered

#: attributes of nn.Module (and instance attributes set by its __init__): a layer module must
#: not shadow them; and of its containers, whose children by these names are subscripted.  Both
#: generated from torch (archspec/backends/reserved_names_gen.py).
MODULE_ATTRS = TORCH_MODULE_ATTRS
CONTAINER_ATTRS = MODULE_ATTRS | TORCH_CONTAINER_ATTRS
#: ops whose output may be their input tensor itself (or a view of it)
ALIASING_OPS = frozenset({"identity", "dropout", "flatten", "channel_slice"})
#: names the generated ``forward`` uses for itself
FORWARD_NAMES = frozenset({"x", "out", "shortcut", "self", "torch", "nn", "F"})

_DIGITS = re.compile(r"^[0-9]+$")
_BUILTINS = frozenset(dir(builtins))


# --------------------------------------------------------------------------------------------
# data


@dataclass(frozen=True)
class Cond:
    """A ``when:`` condition: as Python (in ``__init__``) and in the spec language."""

    python: str
    spec: str


@dataclass
class Alt:
    """One alternative of a unit: a layer, the condition it holds under, its lowering."""

    op: str
    cond: Cond | None
    source: Any = None  # the spec layer (block classes) or the IR node (model class)
    def_path: tuple = ()
    lowered: Lowered | None = None


@dataclass
class Unit:
    key: str  # local name: the module path of its own module
    alts: list[Alt]
    inputs: list[str] | None  # explicit references ('input' = the scope's input); None: the previous unit
    named: bool  # the spec names it (its module path is part of the interface)
    placement: int | None = None  # shortcut case whose branch builds it; None: always built
    total: bool = True  # (alternatives) one of them exists in every instance
    comment: str | None = None
    stage_ctor: str | None = None  # a stage of the model class: its nn.Sequential
    inplace: bool = False  # set by Flow: an activation here may work in place
    owns: bool = False
    access: str = ""  # Python expression of its module, e.g. self.downsample[0]
    top: str = ""  # the top-level attribute holding its module
    pad_attr: str | None = None

    @property
    def op(self) -> str:
        return self.alts[0].op

    @property
    def inline(self) -> bool:
        return self.op in INLINE_OPS

    @property
    def conditional(self) -> bool:
        """Whether ``forward`` must test that its module exists."""
        if len(self.alts) == 1:
            return self.alts[0].cond is not None
        return not self.total

    @property
    def guard_key(self) -> str | None:
        if not self.conditional:
            return None
        return self.alts[0].cond.python if len(self.alts) == 1 else f"unit:{self.key}"  # type: ignore[union-attr]

    @property
    def lowered(self) -> Lowered:
        lowered = self.alts[0].lowered
        assert lowered is not None
        return lowered


@dataclass
class Case:
    """A shortcut case: its condition (None: always), where it starts, its units."""

    cond: Cond | None
    origin: str
    units: list[Unit]
    marker: str | None = None  # an attribute set only when this case is built (see mark_cases)


# abstract forward statements -----------------------------------------------------------------


@dataclass
class Call:
    unit: Unit
    args: list[str]
    target: str


@dataclass
class Copy:
    target: str
    source: str


@dataclass
class Merge:
    unit: Unit
    args: list[str]
    target: str


@dataclass
class Guarded:
    unit: Unit  # the first unit; its guard is tested
    body: list


@dataclass
class Cases:
    branches: list[tuple[Case, list]]
    identity: bool = False  # some case (left out of ``branches``) keeps the identity


@dataclass
class Return:
    var: str


# statements the template places ---------------------------------------------------------------


@dataclass
class Stmt:
    """A line of code (``code``, optional ``comment``) or a branch (``branches``: keyword,
    test, body)."""

    code: str = ""
    comment: str = ""
    branches: list[Branch] = field(default_factory=list)


@dataclass
class Branch:
    keyword: str  # if | elif | else
    test: str
    body: list[Stmt]


# --------------------------------------------------------------------------------------------
# 1. data flow


class Flow:
    """``forward`` statements for a scope.  ``chain`` is the running variable."""

    def __init__(self, units: list[Unit], referenced: set[str], chain: str, where: str, inplace: bool = False):
        self.chain = chain
        self.where = where
        self.inplace = inplace
        self.vars: dict[str, str] = {}
        taken = set(FORWARD_NAMES) | {chain}
        for unit in units:
            if unit.key in referenced and unit.key not in self.vars:
                self.vars[unit.key] = _variable(unit.key, taken)

    def var(self, ref: str) -> str:
        if ref == "input":
            return "x"
        if ref not in self.vars:
            raise BackendError(f"{self.where}: cannot follow the reference to {ref!r}")
        return self.vars[ref]

    def section(
        self, units: list[Unit], cur: str, fresh: bool, chain: str | None = None, inplace: bool = True
    ) -> tuple[list, str, bool]:
        """Statements for consecutive units; returns them, the current variable, and whether it
        holds a fresh tensor that only the next unit reads."""
        chain = chain or self.chain
        out: list = []
        i = 0
        while i < len(units):
            unit = units[i]
            if unit.conditional:
                run = [unit]
                while i + len(run) < len(units) and units[i + len(run)].guard_key == unit.guard_key:
                    run.append(units[i + len(run)])
                if cur != chain:
                    out.append(Copy(chain, cur))
                    cur = chain
                body: list = []
                for member in run:
                    body.append((Merge if member.inline else Call)(member, self._args(member, cur), chain))
                    if member.key in self.vars:
                        body.append(Copy(self.vars[member.key], chain))
                out.append(Guarded(unit, body))
                fresh = False
                i += len(run)
                continue
            target = self.vars.get(unit.key, chain)
            chained = unit.inputs is None and cur == chain and fresh
            unit.inplace = self.inplace and inplace and chained
            args = self._args(unit, cur, units[i - 1].key if i else None)
            out.append((Merge if unit.inline else Call)(unit, args, target))
            if any(a.op in ALIASING_OPS for a in unit.alts):
                fresh = target == chain and chained  # still the same (fresh) tensor, or an alias
            else:
                fresh = target == chain
            cur = target
            i += 1
        return out, cur, fresh

    def _args(self, unit: Unit, cur: str, previous: str | None = None) -> list[str]:
        if unit.inputs is None:
            return [cur]
        return [cur if ref == previous and ref not in self.vars else self.var(ref) for ref in unit.inputs]

    def shortcut(self, cases: list[Case]) -> tuple[list, str]:
        """The shortcut: the first case whose condition holds (an identity when none does)."""
        if not cases:
            return [], "x"
        if cases[0].cond is None:
            stmts, cur, _ = self.section(cases[0].units, self.var(cases[0].origin), False, "shortcut", False)
            return stmts, cur
        for case in cases:
            if not case.units and case.origin != "input":
                raise BackendError(
                    f"{self.where}: a shortcut case without layers must start from the block "
                    "input when other cases exist"
                )
        stmts: list = []
        if cases[-1].cond is not None or any(not c.units for c in cases):
            stmts.append(Copy("shortcut", "x"))
        branches = []
        for case in cases:
            if not case.units:
                continue
            body, cur, _ = self.section(case.units, self.var(case.origin), False, "shortcut", False)
            if cur != "shortcut":
                body.append(Copy("shortcut", cur))
            branches.append((case, body))
        stmts.append(Cases(branches, identity=any(not c.units for c in cases)))
        return stmts, "shortcut"


def references(sections: list[list[Unit]], origins: list[str]) -> set[str]:
    """Layers whose output needs its own variable: read by name (``inputs:``, a shortcut's
    ``from:``) anywhere but by the unconditional layer right after them."""
    far = {o for o in origins if o != "input"}
    for section in sections:
        for i, unit in enumerate(section):
            for ref in unit.inputs or []:
                if ref == "input":
                    continue
                before = section[i - 1] if i else None
                adjacent = before is not None and before.key == ref and not before.conditional and not unit.conditional
                if not adjacent:
                    far.add(ref)
    return far


def _variable(key: str, taken: set[str]) -> str:
    base = key.replace(".", "_")
    try:
        naming.identifier(base, taken | _BUILTINS)
    except naming.NamingError:
        base = f"{base}_out"
    name, n = base, 2
    while name in taken or not _is_identifier(name):
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def _is_identifier(name: str) -> bool:
    try:
        naming.identifier(name)
    except naming.NamingError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# 2. modules


@dataclass
class _Node:
    """A node of the module tree: a leaf (one unit) or a container of children."""

    name: str
    unit: Unit | None = None
    children: dict[str, _Node] = field(default_factory=dict)

    @property
    def sequential(self) -> bool:
        keys = list(self.children)
        return (
            bool(keys)
            and all(_DIGITS.match(k) for k in keys)
            and sorted(int(k) for k in keys) == list(range(len(keys)))
        )

    def leaves(self) -> list[Unit]:
        if self.unit is not None:
            return [self.unit]
        return [u for child in self.children.values() for u in child.leaves()]


@dataclass
class TopAttr:
    """One ``self.<name> = ...`` of ``__init__``."""

    name: str
    ctor: str
    placement: int | None
    cond: Cond | None


def _alt_chain(unit: Unit) -> str:
    """The constructor of a unit: ``A if c1 else B if c2 else None`` for alternatives."""
    if len(unit.alts) == 1 and unit.alts[0].cond is None:
        return _ctor(unit.alts[0])
    parts = []
    for alt in unit.alts:
        if alt.cond is None:
            parts.append(_ctor(alt))
            return "(" + " else ".join(parts) + ")"
        parts.append(f"{_ctor(alt)} if {alt.cond.python}")
    return "(" + " else ".join(parts) + " else None)"


def _ctor(alt: Alt) -> str:
    assert alt.lowered is not None and alt.lowered.ctor is not None
    return alt.lowered.ctor


def place_modules(units: list[Unit], where: str) -> list[TopAttr]:
    """Give every non-inline unit its module; returns the ``__init__`` attributes in order."""
    for unit in units:
        if unit.inline:
            continue
        if len(unit.alts) > 1 and any(a.lowered and a.lowered.pad for a in unit.alts):
            raise BackendError(f"{where}: alternatives of {unit.key!r} need explicit padding; give them distinct names")
        unit.owns = (
            unit.named
            or unit.conditional
            or len(unit.alts) > 1
            or unit.placement is not None
            or any(a.op in TENSOR_OPS for a in unit.alts)
            or bool(unit.lowered.pad)
            or unit.stage_ctor is not None
        )

    owned = [u for u in units if not u.inline and u.owns]
    root = _Node("self")
    for unit in owned:
        parts = unit.key.split(".")
        for part in parts:
            if part.startswith("_") or part in MODULE_ATTRS:
                raise BackendError(f"{where}: the layer name {unit.key!r} would shadow nn.Module's {part!r}; rename it")
        try:
            naming.identifier(parts[0])
        except naming.NamingError as exc:
            raise BackendError(f"{where}: layer name {unit.key!r}: {exc}") from None
        node = root
        for part in parts[:-1]:
            child = node.children.setdefault(part, _Node(part))
            if child.unit is not None:
                raise BackendError(f"{where}: {unit.key!r} needs {part!r} to be a group, but it is a layer")
            node = child
        if parts[-1] in node.children:
            raise BackendError(
                f"{where}: the module path {unit.key!r} is used twice (or both as a layer and as a group)"
            )
        node.children[parts[-1]] = _Node(parts[-1], unit=unit)

    taken = set(root.children)
    attrs: list[TopAttr] = []
    emitted: set[str] = set()
    shared: dict[str, str] = {}  # constructor -> attribute
    for name, node in root.children.items():
        if node.unit is not None and _shareable_owner(node.unit):
            shared.setdefault(node.unit.lowered.ctor or "", name)

    for unit in units:
        if unit.inline:
            if unit.conditional:
                # a merge under a ``when:`` has no module: a flag set by ``__init__`` tells ``forward``
                if len(unit.alts) > 1:
                    raise BackendError(f"{where}: alternatives of the merge {unit.key!r}; give them distinct names")
                unit.top = _fresh(f"has_{unit.key.replace('.', '_')}", taken)
                unit.access = f"self.{unit.top}"
                attrs.append(TopAttr(unit.top, "True", unit.placement, unit.alts[0].cond))
            continue
        if unit.lowered.pad:
            unit.pad_attr = _fresh(f"{unit.key.replace('.', '_')}_pad", taken)
            attrs.append(
                TopAttr(
                    unit.pad_attr,
                    unit.lowered.pad,
                    unit.placement,
                    unit.alts[0].cond if len(unit.alts) == 1 else None,
                )
            )
        if not unit.owns:
            ctor = unit.lowered.ctor or ""
            if ctor not in shared:
                shared[ctor] = _fresh(unit.op, taken)
                attrs.append(TopAttr(shared[ctor], ctor, None, None))
            unit.top = shared[ctor]
            unit.access = f"self.{unit.top}"
            continue
        top = unit.key.split(".")[0]
        unit.top = top
        if top in emitted:
            continue
        emitted.add(top)
        attrs.append(_top_attr(root.children[top], where))
    _accessors(root, "self")
    # a pad attribute precedes its layer's attribute; keep that order but list each once
    seen: set[str] = set()
    ordered = []
    for attr in attrs:
        if attr.name not in seen:
            seen.add(attr.name)
            ordered.append(attr)
    return ordered


def mark_cases(cases: list[Case], attrs: list[TopAttr]) -> None:
    """``forward`` tells which shortcut case an instance built by testing a module of that case;
    a case whose modules all hang on further ``when:`` conditions gets a marker attribute
    instead (``self.shortcut_case1 = True``, set by its branch of ``__init__``)."""
    taken = {a.name for a in attrs}
    identity = any(not c.units for c in cases)
    for index, case in enumerate(cases):
        tested = case.cond is not None or identity
        if tested and case.units and not any(u.owns and not u.conditional for u in case.units):
            case.marker = _fresh(f"shortcut_case{index + 1}", taken)
            attrs.append(TopAttr(case.marker, "True", index, None))


def _shareable_owner(unit: Unit) -> bool:
    """A module named after its op (torchvision's ``self.relu``), always built, parameterless and
    top-level: unnamed layers of the same kind may share it."""
    return (
        unit.key == unit.op
        and len(unit.alts) == 1
        and unit.alts[0].cond is None
        and unit.placement is None
        and unit.stage_ctor is None
        and unit.lowered.pad is None
        and not any(a.op in TENSOR_OPS for a in unit.alts)
        and "." not in unit.key
    )


def _fresh(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken or name in MODULE_ATTRS:
        name, n = f"{base}{n}", n + 1
    taken.add(name)
    return name


def _top_attr(node: _Node, where: str) -> TopAttr:
    leaves = node.leaves()
    placements = {u.placement for u in leaves}
    if len(placements) != 1:
        raise BackendError(
            f"{where}: the layers of group {node.name!r} are built under different shortcut "
            "cases; keep a group within one case"
        )
    placement = placements.pop()
    if node.unit is not None:
        unit = node.unit
        if unit.stage_ctor is not None:
            return TopAttr(node.name, unit.stage_ctor, placement, None)
        if len(unit.alts) == 1 and unit.alts[0].cond is not None:
            return TopAttr(node.name, _ctor(unit.alts[0]), placement, unit.alts[0].cond)
        return TopAttr(node.name, _alt_chain(unit), placement, None)
    conds = {(u.alts[0].cond if len(u.alts) == 1 else "alts") for u in leaves}
    group_cond = None
    if len(conds) == 1:
        only = conds.pop()
        group_cond = only if isinstance(only, Cond) else None
    return TopAttr(node.name, _container(node, group_cond is not None), placement, group_cond)


def _container(node: _Node, bare: bool) -> str:
    if node.unit is not None:
        if node.unit.stage_ctor is not None:
            return node.unit.stage_ctor
        return _ctor(node.unit.alts[0]) if bare else _alt_chain(node.unit)
    if node.sequential:
        items = [_container(node.children[str(i)], bare) for i in range(len(node.children))]
        return "nn.Sequential(" + "".join(f"{item}, " for item in items) + ")"
    items = [f"{naming.literal(name)}: {_container(child, bare)}" for name, child in node.children.items()]
    return "nn.ModuleDict({" + "".join(f"{item}, " for item in items) + "})"


def _accessors(node: _Node, prefix: str) -> None:
    for name, child in node.children.items():
        if prefix == "self":
            access = f"self.{name}"
        elif node.sequential:
            access = f"{prefix}[{int(name)}]"
        elif _is_identifier(name) and name not in CONTAINER_ATTRS:
            access = f"{prefix}.{name}"
        else:
            access = f"{prefix}[{naming.literal(name)}]"
        if child.unit is not None:
            child.unit.access = access
        else:
            _accessors(child, access)


# --------------------------------------------------------------------------------------------
# 3. statements


def init_items(attrs: list[TopAttr], cases: list[Case]) -> list[Stmt]:
    """``__init__`` statements: plain assignments, ``if`` blocks for conditional layers, and the
    shortcut cases as an ``if``/``elif`` chain with every case's modules set to None first."""
    out: list[Stmt] = []
    i = 0
    case_done = False
    while i < len(attrs):
        attr = attrs[i]
        if attr.placement is not None:
            if not case_done:
                case_done = True
                in_cases = [a for a in attrs if a.placement is not None]
                out.extend(Stmt(f"self.{a.name} = None") for a in in_cases)
                branches = []
                for index, case in enumerate(cases):
                    members = [a for a in in_cases if a.placement == index]
                    if not members and case.units:
                        continue
                    keyword = "if" if not branches else ("elif" if case.cond is not None else "else")
                    body = _conditional_assigns(members, nones=False) or [Stmt("pass")]
                    branches.append(Branch(keyword, case.cond.python if case.cond else "", body))
                out.append(Stmt(branches=branches))
            i += 1
            continue
        if attr.cond is None:
            out.append(Stmt(f"self.{attr.name} = {attr.ctor}"))
            i += 1
            continue
        run = [attr]
        while (
            i + len(run) < len(attrs)
            and attrs[i + len(run)].placement is None
            and attrs[i + len(run)].cond == attr.cond
        ):
            run.append(attrs[i + len(run)])
        out.extend(_conditional_assigns(run, nones=True))
        i += len(run)
    return out


def _conditional_assigns(attrs: list[TopAttr], nones: bool) -> list[Stmt]:
    out: list[Stmt] = []
    i = 0
    while i < len(attrs):
        attr = attrs[i]
        if attr.cond is None:
            out.append(Stmt(f"self.{attr.name} = {attr.ctor}"))
            i += 1
            continue
        run = [attr]
        while i + len(run) < len(attrs) and attrs[i + len(run)].cond == attr.cond:
            run.append(attrs[i + len(run)])
        if nones:
            out.extend(Stmt(f"self.{a.name} = None") for a in run)
        body = [Stmt(f"self.{a.name} = {a.ctor}") for a in run]
        out.append(Stmt(branches=[Branch("if", attr.cond.python, body)]))
        i += len(run)
    return out


def _guard(unit: Unit, group_conds: dict[str, bool]) -> str:
    """The test that the module of a conditional unit exists."""
    if group_conds.get(unit.top):
        return f"self.{unit.top} is not None"
    return f"{unit.access} is not None"


def render_forward(stmts: list, flow: Flow, groups: dict[str, Any], conditional_tops: dict[str, bool]) -> list[Stmt]:
    """Concrete statements; runs of calls that walk a whole ``nn.Sequential`` in order become
    one call of the container (``self.downsample(x)``), as in torchvision."""
    out: list[Stmt] = []
    i = 0
    while i < len(stmts):
        stmt = stmts[i]
        if isinstance(stmt, Call):
            run = _sequential_run(stmts, i, flow, groups)
            if run:
                first, last = stmts[i], stmts[i + run - 1]
                access = groups[first.unit.key.rsplit(".", 1)[0]]
                out.append(Stmt(f"{last.target} = {access}({', '.join(first.args)})"))
                _after(out, last)
                i += run
                continue
            out.extend(_call(stmt))
        elif isinstance(stmt, Copy):
            out.append(Stmt(f"{stmt.target} = {stmt.source}"))
        elif isinstance(stmt, Merge):
            unit = stmt.unit
            if unit.inplace and len(stmt.args) == 2 and stmt.args[0] == stmt.target and unit.op in ("add", "multiply"):
                code = f"{stmt.target} {'+' if unit.op == 'add' else '*'}= {stmt.args[1]}"  # set by the block class
            else:
                code = f"{stmt.target} = {_merge(unit.op, stmt.args)}"
            out.append(Stmt(code, unit.comment or ""))
        elif isinstance(stmt, Guarded):
            body = render_forward(stmt.body, flow, groups, conditional_tops)
            out.append(Stmt(branches=[Branch("if", _guard(stmt.unit, conditional_tops), body)]))
        elif isinstance(stmt, Cases):
            branches = []
            for case, body in stmt.branches:
                first = next((u.top for u in case.units if u.owns and not u.conditional), case.marker)
                if case.cond is None and not stmt.identity:
                    keyword, test = "else", ""
                else:
                    if first is None:
                        raise BackendError(f"{flow.where}: a conditional shortcut case needs a layer with a module")
                    keyword, test = ("if" if not branches else "elif"), f"self.{first} is not None"
                branches.append(Branch(keyword, test, render_forward(body, flow, groups, conditional_tops)))
            out.append(Stmt(branches=branches))
        elif isinstance(stmt, Return):
            out.append(Stmt(f"return {stmt.var}"))
        i += 1
    return out


def _call(stmt: Call) -> list[Stmt]:
    unit = stmt.unit
    out = []
    args = list(stmt.args)
    if unit.inline:  # a merge under a condition (an optional attention's multiply)
        out.append(Stmt(f"{stmt.target} = {_merge(unit.op, args)}"))
        _after(out, stmt)
        return out
    if unit.pad_attr:
        out.append(Stmt(f"{stmt.target} = self.{unit.pad_attr}({args[0]})"))
        args[0] = stmt.target
    out.append(Stmt(f"{stmt.target} = {unit.access}({', '.join(args)})"))
    _after(out, stmt)
    return out


def _after(out: list[Stmt], stmt: Call) -> None:
    if stmt.unit.lowered.flatten:
        out.append(Stmt(f"{stmt.target} = torch.flatten({stmt.target}, 1)"))
    if stmt.unit.comment:
        out[-1].comment = stmt.unit.comment


def _merge(op: str, args: list[str]) -> str:
    if op == "add":
        return " + ".join(args)
    if op == "multiply":
        return " * ".join(args)
    return f"torch.cat([{', '.join(args)}], dim=1)"


def _sequential_run(stmts: list, i: int, flow: Flow, groups: dict[str, Any]) -> int:
    """Length of a run of calls starting at ``i`` that is a whole nn.Sequential, or 0."""
    first = stmts[i]
    unit = first.unit
    if not unit.owns or "." not in unit.key:
        return 0
    group = unit.key.rsplit(".", 1)[0]
    members = groups.get(("members", group))
    if not members or unit.key != members[0]:
        return 0
    n = len(members)
    if i + n > len(stmts):
        return 0
    for j in range(n):
        stmt = stmts[i + j]
        if not isinstance(stmt, Call) or stmt.unit.key != members[j] or stmt.unit.pad_attr:
            return 0
        if j < n - 1:
            if stmt.unit.lowered.flatten or stmt.unit.key in flow.vars:
                return 0
            nxt = stmts[i + j + 1]
            if not isinstance(nxt, Call) or nxt.unit.inputs is not None or nxt.args != [stmt.target]:
                return 0
    return n


def sequential_groups(units: list[Unit]) -> dict:
    """Container paths of ``nn.Sequential`` groups made only of layers -> their accessor, and
    ``("members", path)`` -> the member keys in index order."""
    by_group: dict[str, dict[str, Unit]] = {}
    for unit in units:
        if unit.owns and "." in unit.key:
            group, last = unit.key.rsplit(".", 1)
            by_group.setdefault(group, {})[last] = unit
    out: dict = {}
    nested = {key.rsplit(".", 1)[0] for key in by_group if "." in key}
    for group, members in by_group.items():
        if group in nested:
            continue
        keys = list(members)
        if not all(_DIGITS.match(k) for k in keys) or sorted(int(k) for k in keys) != list(range(len(keys))):
            continue
        first = members["0"]
        out[group] = first.access.rsplit("[", 1)[0]
        out[("members", group)] = [members[str(i)].key for i in range(len(keys))]
    return out
