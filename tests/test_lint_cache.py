"""The lint report cache of the ``archspec lint`` command (archspec/lintcache.py): a repeated run
replays the kept report, and any change to what the report depends on lints again."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import FIXTURES, ROOT

TYPO = (FIXTURES / "rules" / "AS204_suspicious_width.yaml").read_text()  # width 182 beside 128
BASE = (ROOT / "specs" / "resnet50.yaml").read_text()


def _lint(cache, *args, cwd, stdin=None):
    env = {k: v for k, v in os.environ.items() if k != "ARCHSPEC_NO_CACHE"}
    env.update(ARCHSPEC_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT), NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "archspec", "lint", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _entries(cache):
    folder = cache / "lint"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _mark(cache):
    """Rewrite every kept report so that a replay is told apart from a real run."""
    for path in _entries(cache):
        entry = json.loads(path.read_text())
        entry["stdout"] = "REPLAYED\n" + entry["stdout"]
        path.write_text(json.dumps(entry))


def test_a_repeated_run_replays_the_report_and_edits_lint_again(tmp_path):
    cache, work = tmp_path / "cache", tmp_path / "work"
    work.mkdir()
    (work / "net.yaml").write_text(TYPO)
    first = _lint(cache, "net.yaml", cwd=work)
    assert first.returncode == 0 and "AS204" in first.stdout  # a warning
    assert len(_entries(cache)) == 1
    _mark(cache)
    again = _lint(cache, "net.yaml", cwd=work)
    assert (again.returncode, again.stdout, again.stderr) == (0, "REPLAYED\n" + first.stdout, first.stderr)

    # the spec edited: linted again (the typo fixed)
    (work / "net.yaml").write_text(TYPO.replace("182", "128"))
    fixed = _lint(cache, "net.yaml", cwd=work)
    assert "REPLAYED" not in fixed.stdout and "AS204" not in fixed.stdout and fixed.returncode == 0

    # the same content again, other options: another entry, not a replay
    (work / "net.yaml").write_text(TYPO)
    as_json = _lint(cache, "net.yaml", "--format", "json", cwd=work)
    assert "REPLAYED" not in as_json.stdout and json.loads(as_json.stdout)[0]["code"] == "AS204"

    # a run that fails (here: a warning under --strict) is never kept
    count = len(_entries(cache))
    assert _lint(cache, "net.yaml", "--strict", cwd=work).returncode == 1
    assert len(_entries(cache)) == count


def test_a_configuration_created_above_the_spec_is_seen(tmp_path):
    cache, work = tmp_path / "cache", tmp_path / "work"
    (work / "models").mkdir(parents=True)
    (work / "models" / "net.yaml").write_text(TYPO)
    assert "AS204" in _lint(cache, "models/net.yaml", cwd=work).stdout
    _mark(cache)
    (work / "archspec.toml").write_text('ignore = ["AS204"]\n')
    ignored = _lint(cache, "models/net.yaml", cwd=work)
    assert "REPLAYED" not in ignored.stdout and "AS204" not in ignored.stdout
    # the configuration edited
    _mark(cache)
    (work / "archspec.toml").write_text("ignore = []\n")
    again = _lint(cache, "models/net.yaml", cwd=work)
    assert "REPLAYED" not in again.stdout and "AS204" in again.stdout


def test_an_edited_base_spec_lints_again(tmp_path):
    cache, work = tmp_path / "cache", tmp_path / "work"
    work.mkdir()
    (work / "base.yaml").write_text(BASE)
    (work / "deep.yaml").write_text("archspec: 1\nextends: base.yaml\nname: deep\n")
    assert _lint(cache, "deep.yaml", cwd=work).returncode == 0
    _mark(cache)
    (work / "base.yaml").write_text(BASE.replace("[3,  64, 1]", "[3,  65, 1]"))
    changed = _lint(cache, "deep.yaml", cwd=work)
    assert "REPLAYED" not in changed.stdout


def test_standard_input_is_part_of_the_key_and_fixes_are_never_kept(tmp_path):
    cache, work = tmp_path / "cache", tmp_path / "work"
    work.mkdir()
    args = ("-", "--stdin-filename", "net.yaml")
    assert "AS204" in _lint(cache, *args, cwd=work, stdin=TYPO).stdout
    _mark(cache)
    assert "REPLAYED" in _lint(cache, *args, cwd=work, stdin=TYPO).stdout
    clean = _lint(cache, *args, cwd=work, stdin=TYPO.replace("182", "128"))
    assert "REPLAYED" not in clean.stdout and "AS204" not in clean.stdout
    count = len(_entries(cache))
    (work / "net.yaml").write_text(TYPO)
    _lint(cache, "net.yaml", "--diff", cwd=work)
    _lint(cache, "net.yaml", "--output-file", "report.txt", cwd=work)
    assert len(_entries(cache)) == count
