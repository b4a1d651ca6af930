"""Regression fixtures (tests/regressions/*.yaml): minimal specs that once broke the gate's
invariant (see tests/test_invariant.py).  Each must hold it: with a lint error, ``build`` and
``check`` refuse it with exit code 1; without, both backends build it and the cross-check
(float64) passes."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_invariant import lint_errors, run_cli

FIXTURES = sorted((Path(__file__).resolve().parent / "regressions").glob("*.yaml"))


def test_there_are_fixtures():
    assert len(FIXTURES) >= 7


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_regression_holds_the_invariant(path, tmp_path):
    if lint_errors(path):
        code, _, err = run_cli("build", str(path), "--backend", "all", cwd=tmp_path)
        assert code == 1, err
        assert not any(tmp_path.iterdir())
        code, _, err = run_cli("check", str(path))
        assert code == 1, err
        return
    for backend in ("torch", "keras"):
        code, _, err = run_cli("build", str(path), "--backend", backend, "-o", str(tmp_path / backend))
        assert code == 0, f"{backend}: {err}"
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from archspec.crosscheck.compare import check_spec

    result = check_spec(path, dtype="float64", batch=1)
    assert result.passed, (result.first_divergence, result.max_abs_diff)
