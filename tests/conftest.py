"""Shared test helpers: paths, the --update-golden flag, golden-file comparison."""

from __future__ import annotations

import difflib
import inspect
import os
import re
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


def pytest_configure(config):
    """Under pytest-xdist every core runs a worker process.  The frameworks' own thread pools
    (a thread per core, in every worker) would then put two threads on each core, and their
    spinning waits for each other make a forward pass 5-20x slower (measured: a SE-ResNet-50
    forward at 64x64, 0.08 s with one thread, 0.45-2.3 s with two beside another busy process).
    One thread per worker, set before torch or TensorFlow is imported; a single-process run
    (``-n 0``) keeps the frameworks' defaults."""
    if hasattr(config, "workerinput"):
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            os.environ.setdefault(variable, "1")


ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FIXTURES = ROOT / "tests" / "fixtures"
GOLDEN = ROOT / "tests" / "golden"


# The quick loop (`pytest -m "not slow"`) leaves out what runs the frameworks: these modules
# entirely (each test builds, runs or converts models), and elsewhere every test whose own code
# uses torch, Keras, TensorFlow, the cross-check, a model build or the importer.
SLOW_MODULES = {
    "test_convert",
    "test_crosscheck",
    "test_export",
    "test_import",
    "test_inference_form",
    "test_keras_applications",
    "test_keras_semantics",
    "test_timm_family",
}
_FRAMEWORK_WORDS = re.compile(
    r"\b(torch|keras|tensorflow|tf|check_spec|build_pair|build_model|instantiate|import_model|lint_target|"
    r"frameworks|_meta_model|_randomized|ir_forward)\b|\"(check|export|convert|import)\""
)


def _uses_frameworks(function) -> bool:
    try:
        return bool(_FRAMEWORK_WORDS.search(inspect.getsource(function)))
    except (OSError, TypeError):
        return False


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rpartition(".")[2] if getattr(item, "module", None) else ""
        function = getattr(item, "function", None)
        if module in SLOW_MODULES or (function is not None and _uses_frameworks(function)):
            item.add_marker(pytest.mark.slow)


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
