"""Recall and false positives of lint on the evaluation set in tests/lint_eval/ (realistic
mistakes, each marked on the line to fix, and unusual but correct specs).  The report itself:
``python tests/lint_eval/evaluate.py``."""

from __future__ import annotations

import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "lint_eval"))

import evaluate  # noqa: E402


@pytest.fixture(scope="module")
def report():
    return evaluate.evaluate()


def test_the_evaluation_set_is_large_enough_and_annotated(report):
    assert len(report.mistakes) >= 40
    assert report.correct_checked >= 15
    unannotated = [o.name for o in report.mistakes if not o.expected]
    assert not unannotated, f"mistakes without a '# mistake: ASxxx' line: {unannotated}"


def test_no_false_positive_on_correct_specs_and_the_catalog(report):
    assert report.false_positives == {}, evaluate.render(report)


def test_every_mistake_is_caught_at_its_line_except_the_known_misses(report):
    assert report.missed == set(evaluate.known_misses()), evaluate.render(report)
