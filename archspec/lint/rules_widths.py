"""AS204: widths that look like typos, reported at the value the user wrote.

Three comparisons, each reported at the text that supplied the width (a stage-table cell, an
``overrides:`` entry, a block argument, an element of a transcribed filter list):

- *siblings*: the blocks of one stage given different values for the same argument, one of
  them a typo of the others' (``overrides: {"3.2": {width: 265}}`` beside 256);
- *progression*: one stage's value breaking the rule every other stage follows (ResNets double
  the width stage over stage; any exact geometric or arithmetic progression counts), when it is
  one typo away from the value the rule gives, or half or double it in the middle of the table;
- *layers*: the convolution widths of one stage, for widths computed from arguments that are
  not literal numbers (not those computed from the block's input channels, which follow
  the previous stage).

A "typo" is a slip of one keystroke: two adjacent digits swapped, a digit dropped, added or
changed, or a factor of ten.  Irregular networks stay quiet: a value is suspect only when the
widths it is compared with are all multiples of 8 and it is not, or (for a factor of ten or a
halved/doubled stage) when every other stage follows an exact progression.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from archspec.diagnostics import Diagnostic, Fix, Severity, Span
from archspec.ir.graph import BlockInstance, Network
from archspec.ir.provenance import reached_names
from archspec.lint.registry import RULES, rule
from archspec.lint.rules_design import by_op

MIN_WIDTH = 16  # below this, values are strides, kernels, expansions: not widths
ROUND = 8  # widths people mean are multiples of 8 (or the value is deliberately irregular)
POWERS = tuple(2**k for k in range(4, 15))


def two_adic(value: int) -> int:
    """How many times 2 divides ``value`` (how "round" a channel count is)."""
    count = 0
    while value and value % 2 == 0:
        value //= 2
        count += 1
    return count


def typo_kind(wrote: int, meant: int) -> str | None:
    """How ``wrote`` could be a one-keystroke slip for ``meant``, in words; None if it cannot."""
    if wrote == meant or wrote <= 0 or meant <= 0:
        return None
    if wrote == meant * 10 or meant == wrote * 10:
        return "a factor of ten"
    a, b = str(wrote), str(meant)
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return "one digit changed"
        if len(diffs) == 2 and diffs[1] == diffs[0] + 1 and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]]:
            return "two digits swapped"
        return None
    if len(a) == len(b) + 1 and any(a[:i] + a[i + 1 :] == b for i in range(len(a))):
        return "a digit added"
    if len(a) + 1 == len(b) and any(b[:i] + b[i + 1 :] == a for i in range(len(b))):
        return "a digit dropped"
    return None


def _plausible(wrote: int, meant: int, context: list[int], predicted: bool = False) -> str | None:
    """The typo's kind when ``wrote`` should be reported as a slip for ``meant``: the widths it is
    compared with (``context``, ``meant`` among them) are all round and ``meant`` is rounder
    than it (and, unless an exact progression ``predicted`` ``meant``, it is not round)."""
    if max(wrote, meant) < MIN_WIDTH:
        return None
    kind = typo_kind(wrote, meant)
    if kind is None:
        return None
    if any(v % ROUND for v in context):
        return None  # an irregular network: its widths are not all round
    if kind == "a factor of ten":
        return kind
    if (wrote % ROUND == 0 and not predicted) or two_adic(meant) <= two_adic(wrote):
        return None
    return kind


# -------------------------------------------------------------------------------------------------
# The values the user wrote: one per block argument (or list element) with its spec path.


@dataclass
class Written:
    block_id: str  # layer3.0
    block_type: str
    stage: int
    label: str  # "width", "filters[1]"
    value: int
    path: tuple


def _what(label: str, value: int) -> str:
    return f"width {value}" if label == "width" else f"{label} = {value}"


def _literal_values(key: str, value, path: tuple) -> Iterator[tuple[str, int, tuple]]:
    if isinstance(value, int) and not isinstance(value, bool):
        yield key, value, path
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, int) and not isinstance(item, bool):
                yield f"{key}[{i}]", item, path + (i,)


def _written_all(network: Network) -> Iterator[Written]:
    """Every number the user wrote as a block argument, for every block the stages plan (also
    those that were not lowered because an earlier block failed)."""
    for plan in network.plans:
        for b, entry in enumerate(plan["blocks"]):
            for key, (value, path) in entry["args"].items():
                if path is None:
                    continue
                for label, number, vpath in _literal_values(key, value, path):
                    yield Written(f"{plan['torch']}.{b}", entry["block"] or "?", plan["index"], label, number, vpath)


def _written(block: BlockInstance) -> Iterator[Written]:
    for key, value in block.args.items():
        path = block.arg_paths.get(key)
        if path is None:
            continue
        for label, number, vpath in _literal_values(key, value, path):
            yield Written(block.id, block.block_type, block.stage, label, number, vpath)


def _literal_span(network: Network, path: tuple, value: int) -> tuple[Span | None, bool]:
    """The span of the value at ``path`` and whether the text there is the number itself (so
    that replacing it is a fix)."""
    span = network.spec.spans.value(path)
    if span is None:
        return None, False
    line = network.spec.sources.line(span.file, span.line) or ""
    text = line[span.column - 1 : span.column - 1 + len(str(value))]
    after = line[span.column - 1 + len(str(value)) : span.column + len(str(value))]
    literal = text == str(value) and not after[:1].isalnum() and not after[:1] == "."
    if literal and span.length != len(str(value)):
        span = Span(span.file, span.line, span.column, len(str(value)))
    return span, literal


def _follows_input(network: Network, node) -> bool:
    """Whether the layer's width is computed from its block's input channels (an SE reducing
    ``in_channels // 4``, say): the first block of a stage then takes it from the previous
    stage's width, so it differs from its own stage's widths by design, and a typo there is a
    typo in the width it follows, reported where that width is written."""
    block = network.block(node.block_id)
    resolved = network.spec.block(block.block_type) if block is not None else None
    if resolved is None:
        return False
    prefix, path = tuple(resolved.prefix), tuple(node.spec_path)
    if path[: len(prefix)] != prefix:
        return False
    definition, rest = resolved.definition, path[len(prefix) :]
    try:
        if rest[:1] == ("body",):
            layer = definition.body[rest[1]]
        elif rest[:1] == ("post",):
            layer = definition.post[rest[1]]
        elif rest[:1] == ("shortcut",):
            layer = definition.shortcut[rest[1]].layers[rest[3]]
        else:
            return False
    except (IndexError, TypeError):
        return False
    return "in_channels" in reached_names(getattr(layer, "filters", None), definition.let)


# -------------------------------------------------------------------------------------------------
# Progressions


def _iroot(value: int, n: int) -> int | None:
    """The exact non-negative integer n-th root of ``value``, or None."""
    guess = round(value ** (1 / n))
    return next((c for c in (guess - 1, guess, guess + 1) if c >= 0 and c**n == value), None)


def _root(ratio: Fraction, n: int) -> Fraction | None:
    """The exact positive n-th root of ``ratio``, or None."""
    num, den = _iroot(ratio.numerator, n), _iroot(ratio.denominator, n)
    return Fraction(num, den) if num and den else None


def _fits(points: list[tuple[int, int]]) -> list[tuple[str, Fraction, int, int]]:
    """The exact progressions through ``points`` ((stage, value), at least two): ("geometric",
    ratio, stage, value) and/or ("arithmetic", step, stage, value)."""
    (i0, v0), (i1, v1) = points[0], points[1]
    out = []
    ratio = _root(Fraction(v1, v0), i1 - i0) if v0 > 0 and v1 > 0 else None
    if ratio is not None and all(Fraction(v0) * ratio ** (i - i0) == v for i, v in points):
        out.append(("geometric", ratio, i0, v0))
    step = Fraction(v1 - v0, i1 - i0)
    if all(v0 + step * (i - i0) == v for i, v in points):
        out.append(("arithmetic", step, i0, v0))
    return out


def _at(fit: tuple[str, Fraction, int, int], i: int) -> Fraction:
    kind, k, i0, v0 = fit
    return Fraction(v0) * k ** (i - i0) if kind == "geometric" else v0 + k * (i - i0)


def _describe(fit: tuple[str, Fraction, int, int]) -> str:
    kind, k, _, _ = fit
    if kind == "geometric":
        if k == 1:
            return "are all equal"
        if k == 2:
            return "double stage over stage"
        return f"grow by a factor of {k} stage over stage"
    return f"grow by {k} stage over stage"


def _swapped_column(network: Network, items: list[Written], meant: int) -> str | None:
    """The column of the stage-table row holding ``items``' value that holds ``meant`` instead."""
    table = getattr(network.spec.spec.stages, "table", None)
    for w in items:
        if w.path[:2] != ("stages", "table") or len(w.path) != 4 or table is None:
            continue
        row, col = w.path[2], w.path[3]
        columns = network.spec.spec.stages.columns
        for j, cell in enumerate(table[row]):
            if j != col and j < len(columns) and cell == meant and not isinstance(cell, bool):
                return columns[j]
    return None


@rule(
    "AS204",
    "suspicious-width",
    Severity.WARNING,
    "a width one typo away from what the rest of the network gives",
    fixable="safe where the width is written as a number and one value alone is one typo away; unsafe "
    "(`--unsafe-fixes`) for a halved or doubled stage, several candidates, or a lone argument's guess",
)
def suspicious_width(network: Network) -> Iterator[Diagnostic]:
    """
    What it does: reports a width that is one typo away from the value the rest of the
    network gives: two digits swapped, a digit dropped, added or changed, or a factor of ten.
    It compares the value with the other blocks of its stage (the same argument) and with the
    progression of the other stages (ResNets double the width stage over stage; any exact
    rule the other stages follow counts), and reports it where it was written: a stage-table
    cell, an `overrides:` entry, a block argument or an element of a filter list.  A stage
    whose width is half or double what both its neighbours give is reported too.  Irregular
    networks (pruned widths, RegNet's quantized widths) are left alone: the widths compared
    must all be multiples of 8 except the suspect one.  A layer whose width is computed from
    its block's input channels (a squeeze-excitation reducing `in_channels // 4`) follows the
    previous stage's width, so it is not compared with its own stage.

    Why is this bad: nothing crashes; the model is silently different from the one intended
    (a hand-written Keras ResNet-50 that circulates online has `filters = [256, 265, 1024]` in
    five blocks of stage 4;
    `[6, 265, 2]` in ResNet-50's table builds a network with 265-wide bottlenecks).

    Example:
        table: [[3, 64, 1], [4, 128, 2], [6, 265, 2], [3, 512, 2]]

    Use instead:
        table: [[3, 64, 1], [4, 128, 2], [6, 256, 2], [3, 512, 2]]
    """
    me = RULES["AS204"]
    reported: set[tuple] = set()

    def report(
        path: tuple,
        value: int,
        meant: int | None,
        message: str,
        notes: list[str],
        hint: str | None = None,
        safe: bool = True,
    ):
        span, literal = _literal_span(network, path, value)
        if span is None:
            return None
        key = (span.file, span.line, span.column)
        if key in reported:
            return None
        reported.add(key)
        fix = (
            Fix.replace(span, str(meant), str(value), safe=safe)
            if literal and meant is not None and hint is None
            else None
        )
        return me.diagnostic(message, span, hint or f"did you mean {meant}?", notes, fix)

    # per stage and argument: the values written, in block order
    per_stage: dict[str, dict[int, list[Written]]] = defaultdict(lambda: defaultdict(list))
    stage_name = {stage.index: stage.torch_name for stage in network.stages}
    written = list(_written_all(network))
    for w in written:
        per_stage[w.label][w.stage].append(w)

    # 1. siblings: one stage, one argument
    for label, stages in per_stage.items():
        for stage, items in stages.items():
            counts = Counter(w.value for w in items)
            if len(counts) < 2:
                continue
            for odd, n_odd in counts.items():
                others = [v for v in counts if v != odd]
                candidates = [v for v in others if counts[v] >= n_odd and _plausible(odd, v, others)]
                halved = (
                    n_odd == 1
                    and len(others) == 1
                    and counts[others[0]] >= 3
                    and others[0] % ROUND == 0
                    and odd in (others[0] // 2, others[0] * 2)
                )
                if not candidates and not halved:
                    continue
                meant = max(candidates, key=lambda v: (counts[v], two_adic(v))) if candidates else others[0]
                for w in items:
                    if w.value != odd:
                        continue
                    where = f"in block {w.block_id} ({w.block_type})"
                    diag = report(
                        w.path,
                        odd,
                        meant,
                        f"{_what(label, odd)} {where} differs from its siblings' {meant}",
                        [
                            f"compared with the {label} of the other blocks of stage {stage_name.get(stage)}: "
                            f"{meant} in {counts[meant]} block{'s' if counts[meant] != 1 else ''}"
                        ],
                        safe=len(candidates) == 1,
                    )
                    if diag:
                        yield diag

    # 2. progression: the stages' values of one argument
    for label, stages in per_stage.items():
        order = sorted(stages)
        if len(order) < 3:
            continue
        values = {s: Counter(w.value for w in stages[s]).most_common(1)[0][0] for s in order}
        points = [(s, values[s]) for s in order]
        if _fits(points) or max(v for _, v in points) < MIN_WIDTH:
            continue  # the whole sequence follows a rule (or holds no widths)
        shown = ", ".join(str(v) for _, v in points)
        for j, (stage, value) in enumerate(points):
            rest = points[:j] + points[j + 1 :]
            for fit in _fits(rest):
                expected = _at(fit, stage)
                if expected.denominator != 1 or expected <= 0:
                    continue
                meant = int(expected)
                context = [v for _, v in rest]
                kind = _plausible(value, meant, context, predicted=True)
                swapped = None
                if kind is None:
                    # halved or doubled in the middle of a doubling table
                    middle = 0 < j < len(points) - 1 and len(points) >= 4 and fit[0] == "geometric" and fit[1] == 2
                    if middle and (value * 2 == meant or meant * 2 == value) and not any(v % ROUND for v in context):
                        kind = "half" if value * 2 == meant else "double"
                    else:
                        # the value the rule gives sits in another column of the same table row
                        swapped = _swapped_column(network, stages[stage], meant)
                        if swapped is None:
                            continue
                        kind = "swapped columns"
                rule_text = f"the other stages' values ({', '.join(str(v) for _, v in rest)}) {_describe(fit)}"
                for w in stages[stage]:
                    if w.value != value:
                        continue
                    if swapped is not None:
                        message = (
                            f"{_what(label, value)} in stage {stage_name.get(stage)} breaks the progression: "
                            f"the row's {swapped} column holds the {meant} it should have"
                        )
                        hint = f"did you swap the {label} and {swapped} columns? {label}: {meant}, {swapped}: {value}"
                    elif kind in ("half", "double"):
                        message = (
                            f"{_what(label, value)} in stage {stage_name.get(stage)} is {kind} the {meant} "
                            "that the stages before and after it give"
                        )
                        hint = None
                    else:
                        message = (
                            f"{_what(label, value)} in stage {stage_name.get(stage)} does not follow the other stages, "
                            f"which give {meant}: {kind}?"
                        )
                        hint = None
                    notes = [f"{label} per stage: {shown}", rule_text]
                    diag = report(w.path, value, meant, message, notes, hint, safe=kind not in ("half", "double"))
                    if diag:
                        yield diag
                break

    # 3. lone values: an argument given one value for the whole network (e.g. in the stages'
    # `args:`) that is a power of two with two digits swapped, in a network whose other widths
    # are all multiples of 8
    for label, stages in per_stage.items():
        items = [w for ws in stages.values() for w in ws]
        values = {w.value for w in items}
        if len(values) != 1:
            continue
        value = values.pop()
        if value < MIN_WIDTH or value % ROUND == 0:
            continue
        others_round = all(w.value % ROUND == 0 for w in written if w.value >= MIN_WIDTH and w.label != label)
        if not others_round:
            continue
        meant = next((p for p in POWERS if typo_kind(value, p) == "two digits swapped"), None)
        if meant is None:
            continue
        for path in dict.fromkeys(w.path for w in items):
            diag = report(
                path,
                value,
                meant,
                f"{_what(label, value)} looks like {meant} with two digits swapped",
                ["every other width of this network is a multiple of 8"],
                safe=False,
            )
            if diag:
                yield diag

    # 4. layers: the convolution widths of a stage, for widths not written as literal arguments
    convs: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))  # stage -> width -> nodes
    for node in by_op(network).get("conv", ()):
        if node.block_id is not None and node.attrs is not None:
            convs[node.stage][node.attrs.filters].append(node)
    for stage in network.stages:
        widths = convs.get(stage.index, {})
        for odd, nodes in widths.items():
            if all(_follows_input(network, n) for n in nodes):
                continue  # e.g. an SE reducing the previous stage's width: checked where that is written
            others = [v for v in widths if v != odd]
            candidates = [v for v in others if _plausible(odd, v, others)]
            if not candidates:
                continue
            meant = max(candidates, key=lambda v: (two_adic(v), len(widths[v])))
            if len(widths[meant]) < len(nodes):
                continue
            blocks = list(dict.fromkeys(n.block_id for n in nodes))
            layers = sorted({n.local_name for n in nodes})
            note = (
                f"compared in stage {stage.torch_name}: {odd} ({', '.join(layers)} in {len(blocks)} "
                f"block{'s' if len(blocks) != 1 else ''}) against {meant} ({len(widths[meant])} layers)"
            )
            # written in the block definition itself: report there, once
            literal = [
                n.spec_path + ("filters",)
                for n in nodes
                if _literal_span(network, n.spec_path + ("filters",), odd)[1]
                and network.spec.spans.values.get(n.spec_path + ("filters",)) is not None
            ]
            for block_id in blocks:
                block = network.block(block_id)
                paths = [w.path for w in _written(block) if w.value == odd] or literal or [block.site_path]
                for path in dict.fromkeys(paths):
                    where = (
                        f"block type {block.block_type!r}"
                        if path in literal
                        else f"block {block.id} ({block.block_type})"
                    )
                    diag = report(
                        path,
                        odd,
                        meant,
                        f"width {odd} in {where} differs from its siblings' {meant}",
                        [note],
                        safe=len(candidates) == 1,
                    )
                    if diag:
                        yield diag
