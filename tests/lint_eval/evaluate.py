"""Recall and false positives of `archspec lint` on the evaluation set.

``mistakes/`` holds specs with one realistic mistake each; the line to fix carries
``# mistake: ASxxx`` (several lines when either is a right place to fix it).  A mistake is
caught when lint reports that code on one of those lines.  ``correct/`` holds unusual but
correct specs: any finding on them (or on the shipped catalog) is a false positive.
``known_misses.txt`` lists the mistakes lint does not catch, with the reason.

Run ``python tests/lint_eval/evaluate.py`` from the repository root for the report.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MARK = re.compile(r"#\s*mistake:\s*(AS\d{3})")


@dataclass
class Outcome:
    name: str
    expected: set[tuple[str, int]]
    found: list[tuple[str, int]] = field(default_factory=list)

    @property
    def caught(self) -> bool:
        return any(f in self.expected for f in self.found)


@dataclass
class Report:
    mistakes: list[Outcome]
    false_positives: dict[str, list[str]]  # spec -> findings
    correct_checked: int
    catalog_checked: int

    @property
    def missed(self) -> set[str]:
        return {o.name for o in self.mistakes if not o.caught}

    @property
    def recall(self) -> float:
        return sum(o.caught for o in self.mistakes) / len(self.mistakes)


def expected_findings(path: Path) -> set[tuple[str, int]]:
    out = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for code in MARK.findall(line):
            out.add((code, number))
    return out


def known_misses() -> dict[str, str]:
    out = {}
    for line in (HERE / "known_misses.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.partition(":")
            out[name.strip()] = reason.strip()
    return out


def _lint(path: Path):
    from archspec.lint import lint_path

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return lint_path(path.relative_to(ROOT))
    finally:
        os.chdir(cwd)


def evaluate() -> Report:
    mistakes = []
    for path in sorted((HERE / "mistakes").glob("*.yaml")):
        outcome = Outcome(path.name, expected_findings(path))
        for d in _lint(path):
            if d.span is not None and Path(d.span.file).name == path.name:
                outcome.found.append((d.code, d.span.line))
        mistakes.append(outcome)
    false_positives: dict[str, list[str]] = {}
    correct = sorted((HERE / "correct").glob("*.yaml"))
    catalog = sorted((ROOT / "specs").glob("*.yaml"))
    for path in correct + catalog:
        found = [f"{d.code} {d.span.line if d.span else '?'}: {d.message}" for d in _lint(path)]
        if found:
            false_positives[str(path.relative_to(ROOT))] = found
    return Report(mistakes, false_positives, len(correct), len(catalog))


def render(report: Report) -> str:
    caught = len(report.mistakes) - len(report.missed)
    lines = [
        f"mistakes caught at the line to fix: {caught}/{len(report.mistakes)} (recall {report.recall:.0%})",
        f"false positives: {sum(len(v) for v in report.false_positives.values())} "
        f"on {report.correct_checked} unusual-but-correct specs and {report.catalog_checked} catalog specs",
    ]
    reasons = known_misses()
    for o in report.mistakes:
        if not o.caught:
            elsewhere = ", ".join(f"{c} line {n}" for c, n in o.found) or "nothing in the file"
            lines.append(f"  missed {o.name} (reported: {elsewhere}): {reasons.get(o.name, 'not listed as known')}")
    for spec, found in report.false_positives.items():
        for f in found:
            lines.append(f"  false positive {spec}: {f}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(render(evaluate()))
