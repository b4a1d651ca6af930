"""The README is the front door: its commands must be the ones CI runs."""

from __future__ import annotations

import re

from conftest import ROOT


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_has_the_two_commands():
    main_job, tests = _commands()[:2]
    assert main_job.endswith("archspec build specs/resnet50.yaml --backend torch")
    assert tests.endswith("python -m pytest") and "torch==2.13.0" in tests


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _commands()[1] in ci


def test_the_package_and_tests_are_ruff_clean():
    import subprocess

    from archspec.backends.render import ruff_binary

    for args in (["check", "archspec", "tests"], ["format", "--check", "archspec", "tests"]):
        result = subprocess.run([ruff_binary(), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
