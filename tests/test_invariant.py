"""The gate's invariant, tested on specs drawn from the whole language (``strategies.language_specs``):
every op of the registry, ``when:`` on every kind of layer (merges included), shortcut cases,
``inputs:``, the table and explicit stage forms, ``extends:`` and ``use:``, and names drawn from
keywords, builtins, ``nn.Module`` attributes and the names the generated modules use.

- A spec that lints with no error builds in both backends; both modules import without side
  effects (no output, no new file, nothing in ``sys.modules`` but the module), instantiate,
  run forward at two input sizes (one odd) with the IR's output shape, and the cross-check
  (float64) passes.
- A spec with a lint error is refused by ``build`` and ``check`` with exit code 1, and nothing
  is written.

Example counts (``ARCHSPEC_FUZZ``, see ``strategies.budget``): ``ci`` puts 10,000 specs through
lint and build (in process, 50 specs per example, their generated code formatted by one ruff
run) and 300 lint-clean specs through both frameworks; ``long`` ten times that; ``dev`` a few.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from strategies import GENERATED_OPS, NOT_YET_DRAWN, budget, dump_yaml, language_specs, seeded_language_spec

from archspec import cli
from archspec.backends import get_backend, render
from archspec.diagnostics import Span
from archspec.ir import ops as O
from archspec.ir.build import build_ir
from archspec.lint import lint_path
from archspec.spec import load, yamlsrc
from archspec.spec.load import load_spec

#: (dev and ci draw the same examples on every run, long new ones: tests/conftest.py)
COMMON = dict(deadline=None, suppress_health_check=list(HealthCheck))
#: Hypothesis shrinks a failing spec drawn from the whole language slowly (minutes with the
#: frameworks): only the long profile does; the others report the spec as drawn
PHASES = list(Phase) if os.environ.get("ARCHSPEC_FUZZ") == "long" else [Phase.explicit, Phase.reuse, Phase.generate]
BATCH = 50
TMP = Path(tempfile.mkdtemp(prefix="archspec-invariant-"))


def write_case(case: tuple[dict, dict[str, dict]], folder: Path) -> Path:
    """Write a generated spec and the files it refers to into ``folder``; the spec's path."""
    spec, files = case
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_text(dump_yaml(data), encoding="utf-8")
    path = folder / "spec.yaml"
    path.write_text(dump_yaml(spec), encoding="utf-8")
    return path


def lint_errors(path: Path, size=None) -> list:
    return [d for d in lint_path(path, size) if d.is_error]


_PARSER = []


def run_cli(*argv: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """``archspec ARGV`` in process: (exit code, stdout, stderr).  The argument parser is
    built once (building it costs more than linting a small spec)."""
    if not _PARSER:
        _PARSER.append(cli.build_parser())
    out, err = io.StringIO(), io.StringIO()
    previous, build_parser = os.getcwd(), cli.build_parser
    cli.build_parser = lambda: _PARSER[0]
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(argv))
    finally:
        os.chdir(previous)
        cli.build_parser = build_parser
    return code, out.getvalue(), err.getvalue()


def format_many(sources: list[str]) -> list[str]:
    """``render.format_source`` for many sources with one ruff run (the same options)."""
    folder = Path(tempfile.mkdtemp(dir=TMP, prefix="fmt-"))
    paths = []
    for i, source in enumerate(sources):
        path = folder / f"m{i}.py"
        path.write_text(source, encoding="utf-8")
        paths.append(path)
    result = subprocess.run(
        [render.ruff_binary(), "format", "--isolated", f"--line-length={render.LINE_LENGTH}", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"ruff format rejected generated code:\n{result.stderr}"
    return [p.read_text(encoding="utf-8") for p in paths]


def describe(path: Path) -> str:
    """The spec and the files beside it, as YAML, for a failure message."""
    out = []
    for p in sorted(path.parent.glob("*.yaml")):
        text = p.read_text()
        try:
            text = dump_yaml(json.loads(text))  # the lint+build test writes JSON
        except ValueError:
            pass
        out.append(f"--- {p.name}\n{text}")
    return "\n".join(out)


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    """Print what the module put through the gate (visible with ``pytest -s``)."""
    yield
    print(
        f"\ninvariant: {STATS['specs']} specs through lint and build ({STATS['clean']} lint-clean) in "
        f"{STATS['seconds']:.0f}s; {COUNTS['framework_specs']} through both frameworks in {COUNTS['seconds']:.0f}s "
        f"({COUNTS['second_size_refused']} refused at the second size)"
    )


def test_the_generator_draws_every_op_of_the_registry():
    assert sorted(GENERATED_OPS + NOT_YET_DRAWN) == sorted(O.REGISTRY)
    assert not set(GENERATED_OPS) & set(NOT_YET_DRAWN)


# --------------------------------------------------------------------------------------------
# lint + build, in process


def _json_load_file(path, display, sources=None):
    """``yamlsrc.load_file`` for the JSON files this test writes (JSON is YAML): the same data,
    read with ``json`` and every position at line 1.  The YAML reader costs 50-150 ms a
    spec; it has its own fuzzing (test_properties) and the framework test below uses it."""
    text = yamlsrc.read_text(Path(path), display)
    if sources is not None:
        sources.add(display, text)
    spans = yamlsrc.SpanMap()
    spans.values[()] = Span(display, 1, 1)
    return json.loads(text), spans


def write_json_case(case: tuple[dict, dict[str, dict]], folder: Path) -> Path:
    spec, files = case
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_text(json.dumps(data), encoding="utf-8")
    path = folder / "spec.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


STATS = {"specs": 0, "clean": 0, "seconds": 0.0}


#: the profiles' examples are split into shards, so that pytest-xdist runs them in parallel
SHARDS = 4


@pytest.mark.parametrize("shard", range(SHARDS))
@settings(
    max_examples=max(1, budget(ci=10_000, dev=400) // BATCH // SHARDS),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # seeds do not shrink
    **COMMON,
)
@given(st.integers(0, 2**48))
def test_lint_clean_specs_build_and_the_others_are_refused(shard, seed):
    """BATCH specs per example, from seeds: lint-clean ones are emitted by both backends
    (one ruff run formats the whole batch) and compiled; the others are refused by ``build``."""
    start = time.perf_counter()
    folder = Path(tempfile.mkdtemp(dir=TMP, prefix="batch-"))
    clean: list[tuple[Path, str, str]] = []  # (spec, backend, unformatted source)
    original_load, original_format = load.load_file, render.format_source
    load.load_file = _json_load_file
    render.format_source = lambda source: source  # formatted below, one ruff run per batch
    try:
        for i in range(BATCH):
            path = write_json_case(seeded_language_spec((seed + shard * 2**48) * BATCH + i), folder / str(i))
            if lint_errors(path):
                work = folder / f"{i}-out"
                work.mkdir()
                code, _, err = run_cli("build", str(path), "--backend", "all", cwd=work)
                assert code == 1, f"build of a spec with lint errors exited {code}:\n{err}\n{describe(path)}"
                assert not any(work.iterdir()), f"build wrote files for a spec with errors\n{describe(path)}"
                continue
            network = build_ir(load_spec(path))
            for backend in ("torch", "keras"):
                try:
                    clean.append((path, backend, get_backend(backend).emit(network)))
                except Exception as exc:  # noqa: BLE001  (the report names the spec)
                    pytest.fail(f"lint-clean spec refused by the {backend} backend: {exc}\n{describe(path)}")
    finally:
        load.load_file, render.format_source = original_load, original_format
    STATS["specs"] += BATCH
    STATS["clean"] += len(clean) // 2
    if clean:
        try:
            formatted = format_many([source for _, _, source in clean])
        except AssertionError:
            for path, backend, source in clean:  # find the culprit
                try:
                    render.format_source(source)
                except Exception as exc:  # noqa: BLE001
                    pytest.fail(f"{backend} code of a lint-clean spec does not format: {exc}\n{describe(path)}")
            raise
        for (path, backend, _), source in zip(clean, formatted):
            try:
                compile(source, f"{backend}.py", "exec")
            except SyntaxError as exc:
                pytest.fail(f"{backend} code of a lint-clean spec does not compile: {exc}\n{describe(path)}")
    STATS["seconds"] += time.perf_counter() - start


# --------------------------------------------------------------------------------------------
# the frameworks


@pytest.fixture(scope="module")
def frameworks():
    """torch and keras imported once, and one generated module of each run once, so that
    a generated module's import adds nothing to ``sys.modules`` but itself."""
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from archspec.crosscheck.compare import quiet_tensorflow

    quiet_tensorflow()
    import keras
    import torch

    root = Path(__file__).resolve().parent.parent / "generated"
    for backend in ("torch", "keras"):
        import_module(root / backend / "resnet18.py", f"warmup_{backend}")
    model = import_module(root / "keras" / "resnet18.py", "warmup_keras2").resnet18(input_shape=(33, 33, 3))
    model(keras.ops.zeros((1, 33, 33, 3)))
    return torch, keras


def import_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def import_without_side_effects(path: Path, name: str):
    """Import a generated module; assert it prints nothing, writes no file and loads no other module."""
    before_modules = set(sys.modules)
    before_files = {p for p in path.parent.rglob("*")} | {p for p in Path.cwd().iterdir()}
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        module = import_module(path, name)
    after_files = {p for p in path.parent.rglob("*") if "__pycache__" not in p.parts} | set(Path.cwd().iterdir())
    assert set(sys.modules) - before_modules == {name}, sorted(set(sys.modules) - before_modules)
    assert not out.getvalue() and not err.getvalue(), (out.getvalue(), err.getvalue())
    assert after_files <= before_files | {p for p in after_files if "__pycache__" in p.parts}, (
        after_files - before_files
    )
    return module


COUNTS = {"framework_specs": 0, "second_size_refused": 0, "seconds": 0.0}


def keras_model_at(build, size: tuple[int, int], channels: int, dtype: str):
    """The generated Keras model function called at ``size``, built in ``dtype``."""
    import keras

    previous_floatx, previous_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        return build(input_shape=(*size, channels))
    finally:
        keras.config.set_floatx(previous_floatx)
        keras.config.set_dtype_policy(previous_policy)


#: the framework test's examples are split the same way (about 1.7 s of CPU a spec)
FRAMEWORK_SHARDS = 2
#: seeds tried for one lint-clean spec (about 1 in 14 is; none in this many: the generator drifted)
ATTEMPTS = 1000


def lint_clean_case(seed: int, folder: Path) -> Path:
    """The first lint-clean spec drawn from the seeds after ``seed``, written into ``folder``.
    Every example of the framework test is one, so that the profiles' counts are the number
    of specs put through the frameworks (with Hypothesis rejecting the others, it would stop
    after ten rejections per example, short of the count)."""
    original = load.load_file
    load.load_file = _json_load_file  # the search reads JSON; the chosen spec is read as YAML
    try:
        for attempt in range(ATTEMPTS):
            path = write_json_case(seeded_language_spec(seed * ATTEMPTS + attempt), folder / str(attempt))
            if not lint_errors(path):
                return path
    finally:
        load.load_file = original
    pytest.fail(f"no lint-clean spec among {ATTEMPTS} drawn from seed {seed}: the generator drifted")


@pytest.mark.parametrize("shard", range(FRAMEWORK_SHARDS))
@settings(
    max_examples=max(1, budget(ci=300, dev=8) // FRAMEWORK_SHARDS),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # seeds do not shrink
    **COMMON,
)
@given(st.integers(0, 2**40), st.integers(1, 6))
def test_lint_clean_specs_run_and_agree_in_both_frameworks(frameworks, shard, seed, grow):
    """The modules ``build`` writes are imported, run at the spec's size (float64, compared
    by the cross-check's machinery: random weights transferred through the IR, every layer
    with weights, every block output and the logits) and run at a second size (one of the
    two heights is odd) with the IR's output shape."""
    torch, keras = frameworks
    from archspec.backends import keras_backend, torch_backend
    from archspec.crosscheck.compare import compare_models
    from archspec.crosscheck.weights import randomize_torch, transfer_weights

    start = time.perf_counter()
    folder = Path(tempfile.mkdtemp(dir=TMP, prefix="fw-"))
    path = lint_clean_case(seed + shard * 2**40, folder)
    # JSON is YAML: the YAML reader sees the same spec (a value JSON writes that YAML reads
    # otherwise, such as Infinity, would make it another spec; the YAML reader has its own tests)
    assume(not lint_errors(path))
    network = build_ir(load_spec(path))
    channels, h, w = network.input_shape
    second = (h + 1 if h % 2 == 0 else h + 2 * grow, w + grow)
    out = folder / "out"
    for backend in ("torch", "keras"):
        code, _, err = run_cli("build", str(path), "--backend", backend, "-o", str(out / backend))
        assert code == 0, f"build --backend {backend} exited {code}: {err}\n{describe(path)}"
    tag = f"archspec_invariant_{COUNTS['framework_specs']}"
    torch_module = import_without_side_effects(out / "torch" / f"{network.name}.py", f"{tag}_torch")
    keras_module = import_without_side_effects(out / "keras" / f"{network.name}.py", f"{tag}_keras")
    try:
        model_class = getattr(torch_module, torch_backend.model_class_name(network))
        build = getattr(keras_module, keras_backend.model_function_name(network))
        # the spec's size, float64: the cross-check
        torch.manual_seed(0)
        model = model_class().double().eval()
        randomize_torch(model, network, 0)
        keras_model = keras_model_at(build, (h, w), channels, "float64")
        transfer_weights(model, keras_model, network)
        diffs = compare_models(model, keras_model, network, batch=2, seed=0)
        failed = [d for d in diffs if not d.passed]
        assert diffs and not failed, (
            f"cross-check failed at {h}x{w}: first divergence {failed[0].name} ({failed[0].kind}), "
            f"max abs diff {failed[0].max_abs_diff}\n{describe(path)}"
        )
        assert diffs[-1].kind == "output" and tuple(diffs[-1].shape) == network.output_shape
        # the second size: both models run with the IR's output shape (or the size is refused)
        if lint_errors(path, second):
            COUNTS["second_size_refused"] += 1
            code, _, _ = run_cli("check", str(path), "--input-size", *map(str, second))
            assert code == 1
        else:
            net = build_ir(load_spec(path), second)
            if net.state_dict_shapes() != network.state_dict_shapes():
                # a flatten before a linear layer: the weights depend on the size; build for it
                size_args = ("--input-size", *map(str, second))
                for backend in ("torch", "keras"):
                    code, _, err = run_cli(
                        "build", str(path), "--backend", backend, "-o", str(out / f"{backend}2"), *size_args
                    )
                    assert code == 0, f"build --backend {backend} at {second} exited {code}: {err}\n{describe(path)}"
                torch_module = import_without_side_effects(out / "torch2" / f"{net.name}.py", f"{tag}_torch2")
                keras_module = import_without_side_effects(out / "keras2" / f"{net.name}.py", f"{tag}_keras2")
                model = getattr(torch_module, torch_backend.model_class_name(net))().double().eval()
                build = getattr(keras_module, keras_backend.model_function_name(net))
            with torch.no_grad():
                y = model(torch.randn(1, channels, *second, dtype=torch.float64))
            assert tuple(y.shape[1:]) == net.output_shape, (second, describe(path))
            z = keras_model_at(build, second, channels, "float32")(keras.ops.zeros((1, *second, channels)))
            shape = net.output_shape
            assert tuple(z.shape[1:]) == ((shape[1], shape[2], shape[0]) if len(shape) == 3 else shape), (
                second,
                describe(path),
            )
    finally:
        for suffix in ("torch", "keras", "torch2", "keras2"):
            sys.modules.pop(f"{tag}_{suffix}", None)
    COUNTS["framework_specs"] += 1
    COUNTS["seconds"] += time.perf_counter() - start


@settings(max_examples=budget(ci=60, dev=10), phases=PHASES, **COMMON)
@given(language_specs())
def test_specs_with_errors_are_refused_by_check(frameworks, case):
    path = write_case(case, Path(tempfile.mkdtemp(dir=TMP, prefix="err-")))
    assume(lint_errors(path))
    code, out, err = run_cli("check", str(path))
    assert code == 1, f"check exited {code}: {err}\n{describe(path)}"
    assert "error[" in err, err
