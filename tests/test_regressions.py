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


def test_list_form_overrides_take_quoted_block_numbers(tmp_path):
    """Found by the generator: the README showed ``overrides: {2: ...}``, which YAML reads as
    an integer key, refused (AS101); the quoted form works."""
    from archspec.ir.build import build_ir
    from archspec.spec.load import load_spec

    text = (
        "archspec: 1\nname: ov\ninput: {channels: 3, size: [16, 16]}\n"
        "stem:\n  - {op: conv, name: conv1, filters: 8, kernel: 3, padding: 1}\n"
        'stages:\n  - {block: basic, depth: 2, args: {width: 8}, overrides: {"2": {width: 16}}}\n'
        "head:\n  - {op: global_avg_pool, name: avgpool}\n"
    )
    path = tmp_path / "ov.yaml"
    path.write_text(text)
    assert not lint_errors(path)
    assert [b.args["width"] for b in build_ir(load_spec(path)).blocks] == [8, 16]
    path.write_text(text.replace('"2"', "2"))
    assert [d.code for d in lint_errors(path)] == ["AS101"]


def test_unnamed_stem_and_head_layers_are_named_apart():
    """Unnamed layers of the same op in the stem and the head lint clean: the head's are named
    after the stem's (relu2), by the IR and by the rule that checks the model's attributes."""
    from archspec.ir.build import build_ir
    from archspec.spec.load import load_spec

    path = Path(__file__).resolve().parent / "regressions" / "unnamed_stem_and_head_layers.yaml"
    assert lint_errors(path) == []
    network = build_ir(load_spec(path))
    names = {n.torch_path for n in network.nodes() if n.part in ("stem", "head")}
    assert {"relu", "relu2", "identity", "identity2"} <= names
