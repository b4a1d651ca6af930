"""One fixture per lint rule, with the expected findings written beside the offending line
(``# expect: AS201``); the full text rendering of each is a golden file."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

from archspec.diagnostics import SourceCache, render_text
from archspec.lint import RULES, lint_path
from archspec.lint.config import LintConfig
from archspec.lint.runner import lint_file

RULE_FIXTURES = sorted((FIXTURES / "rules").glob("*.yaml"))
EXPECT = re.compile(r"#\s*expect:\s*((?:AS\d{3}[ ,]*)+)")


def _expected(path: Path) -> set[tuple[str, int]]:
    out = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = EXPECT.search(line)
        if match:
            out |= {(code, number) for code in re.findall(r"AS\d{3}", match.group(1))}
    return out


def _lint(path: Path):
    cwd = os.getcwd()
    os.chdir(ROOT)  # spans name files relative to the working directory
    try:  # no configuration; unused suppression comments reported (AS900)
        return lint_file(path.relative_to(ROOT), LintConfig()).diagnostics
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("fixture", RULE_FIXTURES, ids=lambda p: p.stem)
def test_fixture_reports_exactly_the_expected_findings(fixture, golden):
    diagnostics = _lint(fixture)
    found = {(d.code, d.span.line) for d in diagnostics if d.span and d.span.file.endswith(fixture.name)}
    assert found == _expected(fixture), render_text(diagnostics)
    golden(f"lint/{fixture.stem}.txt", render_text(diagnostics, SourceCache()))


def test_every_rule_has_a_fixture():
    covered = {code for f in RULE_FIXTURES for code, _ in _expected(f)}
    # AS100 (unreadable files) is tested in test_cli.py, AS119 (overrides: no spec file holds one)
    # in test_models_by_name.py
    missing = set(RULES) - covered - {"AS100", "AS119"}
    assert not missing, f"rules without a fixture: {sorted(missing)}"


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_rule_is_documented(code):
    rule = RULES[code]
    assert re.fullmatch(r"AS[1-49]\d\d", code)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)
    for section in ("What it does:", "Why is this bad:", "Example:", "Use instead:"):
        assert section in rule.doc, f"{code} docs lack {section!r}"
    family = {"1": "schema", "2": "shape", "3": "topology", "4": "portability", "9": "suppression"}[code[2]]
    assert family  # the code's family is one of the four


def test_codes_emitted_anywhere_are_registered_with_their_names():
    pattern = re.compile(r'"(AS\d{3})", "([a-z-]+)"')
    for source in (ROOT / "archspec").rglob("*.py"):
        for code, name in pattern.findall(source.read_text()):
            assert code in RULES, f"{source}: {code} is not registered"
            assert RULES[code].name == name, f"{source}: {code} is named {name!r}, registered as {RULES[code].name!r}"


SEED_000_KERAS = [
    # (code, line, column): the concat merges of both block types, the five 265s, the softmax.
    ("AS301", 28, 12),
    ("AS301", 43, 12),
    ("AS204", 66, 55),
    ("AS204", 67, 55),
    ("AS204", 68, 55),
    ("AS204", 69, 55),
    ("AS204", 70, 55),
    ("AS302", 80, 5),
]
SEED_000_TORCH = [
    ("AS301", 27, 12),
    ("AS301", 41, 12),
    ("AS206", 75, 5),
    ("AS302", 78, 5),
]


@pytest.mark.parametrize("name, expected", [("seed000_keras", SEED_000_KERAS), ("seed000_torch", SEED_000_TORCH)])
def test_seed_000_transcriptions(name, expected, golden):
    path = FIXTURES / "seeds" / f"{name}.yaml"
    diagnostics = _lint(path)
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == expected
    typo = [d for d in diagnostics if d.code == "AS204"]
    assert all(d.hint == "did you mean 256?" for d in typo)
    golden(f"lint/{name}.txt", render_text(diagnostics, SourceCache()))


def test_seed_000_keras_concat_grows_channels():
    diagnostics = _lint(FIXTURES / "seeds" / "seed000_keras.yaml")
    note = next(d for d in diagnostics if d.code == "AS301" and "identity_block" in d.message).notes[0]
    assert "stage2.1: 512 -> 768" in note and "stage2.2: 768 -> 1024" in note


def test_fixed_pooling_is_fine_at_224_and_a_finding_at_256():
    path = FIXTURES / "rules" / "AS205_fixed_pool_mismatch.yaml"
    assert [d.code for d in _lint(path)] == ["AS205"]  # declared 256x256
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        assert lint_path(path.relative_to(ROOT), (224, 224)) == []
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("spec", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_spec_lints_clean(spec):
    assert _lint(spec) == []


def test_noqa_acknowledges_a_warning_on_its_line_but_never_an_error(tmp_path):
    source = (FIXTURES / "rules" / "AS402_maxpool_zero_padding.yaml").read_text()
    quiet = source.replace("pad_value: 0}  # expect: AS402", "pad_value: 0}  # noqa: AS402")
    (tmp_path / "quiet.yaml").write_text(quiet)
    assert lint_path(tmp_path / "quiet.yaml") == []
    other = source.replace("pad_value: 0}  # expect: AS402", "pad_value: 0}  # noqa: AS401")
    (tmp_path / "other.yaml").write_text(other)
    assert [d.code for d in lint_path(tmp_path / "other.yaml")] == ["AS402"]
    error = (FIXTURES / "rules" / "AS103_unknown_op.yaml").read_text().replace("# expect: AS103", "# noqa: AS103")
    (tmp_path / "error.yaml").write_text(error)
    assert [d.code for d in lint_path(tmp_path / "error.yaml")] == ["AS103"]
