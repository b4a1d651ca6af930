"""Shared test helpers: paths, the --update-golden flag, golden-file comparison."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
from hypothesis import settings

# The suite draws the same property-test examples on every run (the dev and ci profiles), so
# that CI never fails on a spec no one has seen; ARCHSPEC_FUZZ=long draws new ones each run,
# which is how new breaks are found (each then becomes a fixture in tests/regressions/).
settings.register_profile("archspec", derandomize=os.environ.get("ARCHSPEC_FUZZ") != "long", deadline=None)
settings.load_profile("archspec")

# `archspec lint` run as a command keeps its reports (archspec/lintcache.py): the suite runs the
# real thing, except tests/test_lint_cache.py, which turns the cache on in its own folder
os.environ["ARCHSPEC_NO_CACHE"] = "1"

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FIXTURES = ROOT / "tests" / "fixtures"
GOLDEN = ROOT / "tests" / "golden"


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files instead of comparing")


@pytest.fixture
def golden(request):
    """``golden(relative_path, text)``: compare with tests/golden/<path>, or rewrite it with --update-golden."""

    def check(relative: str, text: str) -> None:
        path = GOLDEN / relative
        if request.config.getoption("--update-golden"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.is_file(), f"golden file {path} is missing: run pytest --update-golden"
        expected = path.read_text(encoding="utf-8")
        if text != expected:
            diff = "".join(
                difflib.unified_diff(
                    expected.splitlines(True), text.splitlines(True), f"{relative} (golden)", f"{relative} (now)"
                )
            )
            pytest.fail(f"output differs from the golden file (pytest --update-golden to accept):\n{diff}")

    return check
