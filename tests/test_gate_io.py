"""The gate's edges (issue 12, items 3 to 6): options and environments `check` cannot run with,
input that is not a regular file, resource bounds, and the files archspec writes.

Each class of failure has its test: the answer is a diagnostic and an exit code (1 findings,
2 usage or I/O or a missing framework), never an internal error (3), a hang or a traceback.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

from archspec.cli import main

HOSTILE = ROOT / "tests" / "hostile"
BENCH = ROOT / "bench"

TINY = """\
archspec: 1
name: tiny
input: {channels: 3, size: [16, 16]}
stem:
  - {op: conv, name: conv1, filters: 8, kernel: 3, padding: 1}
  - {op: batchnorm, name: bn1}
  - {op: relu, name: relu}
stages:
  block: basic
  table: [[1, 8, 1]]
head:
  - {op: global_avg_pool, name: pool}
  - {op: linear, name: fc, units: 5}
"""


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def _run(*args: str, cwd: Path = ROOT, shim: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m archspec ARGS`` in a fresh process; ``shim``: Python run first (sitecustomize)."""
    paths = [str(ROOT)]
    if shim is not None:
        folder = Path(cwd) / "_shim"
        folder.mkdir(exist_ok=True)
        (folder / "sitecustomize.py").write_text(shim)
        paths.insert(0, str(folder))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "archspec", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _no_internal_error(text: str) -> None:
    assert "internal error" not in text and "Traceback" not in text, text


# ------------------------------------------------------------------------------------------------
# 3. check: options, frameworks, memory, refusals


@pytest.mark.parametrize(
    "option",
    [
        ["--seed", "-1"],
        ["--seed", str(2**32)],
        ["--seed", str(10**30)],
        ["--atol", "nan"],
        ["--atol", "inf"],
        ["--rtol", "nan"],
        ["--rtol=-inf"],
        ["--atol=-1e-3"],
    ],
    ids=lambda o: " ".join(o),
)
def test_check_refuses_options_out_of_range(tiny, option, capsys, monkeypatch):
    from archspec.crosscheck import compare

    monkeypatch.setattr(compare, "build_pair", _must_not_build)
    assert main(["check", str(tiny), *option]) == 2
    err = capsys.readouterr().err
    assert option[0].split("=")[0] in err
    _no_internal_error(err)


def test_check_api_refuses_the_same_options(tiny):
    from archspec.crosscheck.compare import check_spec

    for options in ({"seed": -1}, {"seed": 2**32}, {"atol": float("nan")}, {"rtol": float("inf")}, {"batch": 0}):
        with pytest.raises(ValueError):
            check_spec(tiny, **options)


def test_check_accepts_the_largest_seed(tiny, capsys):
    assert main(["check", str(tiny), "--seed", str(2**32 - 1), "--batch", "1", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 2**32 - 1


def _must_not_build(*args, **kwargs):
    raise AssertionError("the models were built although the check should have been refused first")


@pytest.mark.parametrize(
    "option", [["--input-size", "65536"], ["--input-size", "4096", "--batch", "64"]], ids=lambda o: " ".join(o)
)
def test_check_refuses_what_cannot_fit_in_memory_before_allocating(tiny, option, capsys, monkeypatch):
    from archspec.crosscheck import compare

    monkeypatch.setattr(compare, "build_pair", _must_not_build)
    assert main(["check", str(tiny), *option, "--format", "json"]) == 2
    captured = capsys.readouterr()
    _no_internal_error(captured.err)
    assert "of memory" in captured.err and "--input-size" in captured.err
    result = json.loads(captured.out)
    assert result["passed"] is False and result["diagnostics"][0]["name"] == "too-large"


def test_memory_estimate_follows_the_ir(tiny, monkeypatch, capsys):
    import archspec
    from archspec.crosscheck import compare, guard

    net = archspec.load(tiny)
    one = guard.estimate_bytes(net, batch=1, dtype="float64")
    two = guard.estimate_bytes(net, batch=2, dtype="float64")
    assert 0 < one < two and guard.estimate_bytes(net, batch=1, dtype="float32") < one
    activations = sum(_prod(n.shape) for n in net.ops() if n.shape) + _prod(net.input_shape)
    assert two - one == activations * 8 * 2  # one more sample: every activation, 8 bytes, two models
    # the same check is refused when the machine has less than the estimate, and runs otherwise
    monkeypatch.setattr(compare, "build_pair", _must_not_build)
    monkeypatch.setattr(guard, "available_bytes", lambda: two - 1)
    assert main(["check", str(tiny), "--batch", "2"]) == 2
    assert "of memory" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setattr(guard, "available_bytes", lambda: two)
    assert main(["check", str(tiny), "--batch", "2"]) == 0


def _prod(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


@pytest.mark.parametrize("error", ["BackendError", "NamingError", "RenderError"])
@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_check_reports_a_backend_refusal_as_a_failed_result(tiny, backend, error, capsys, monkeypatch):
    from archspec.backends import BackendError, get_backend
    from archspec.backends.naming import NamingError
    from archspec.backends.render import RenderError

    kind = {"BackendError": BackendError, "NamingError": NamingError, "RenderError": RenderError}[error]

    def refuse(network, **kwargs):
        raise kind(f"{backend} cannot express this")

    monkeypatch.setattr(get_backend(backend), "emit", refuse)
    assert main(["check", str(tiny), "--format", "json"]) == 1
    captured = capsys.readouterr()
    _no_internal_error(captured.err)
    assert f"{backend} cannot express this" in captured.err
    result = json.loads(captured.out)
    assert result["passed"] is False and result["layers"] == []
    assert result["diagnostics"] == [
        {
            "code": None,
            "name": "backend-refused",
            "severity": "error",
            "message": f"{backend} cannot express this",
            "file": str(tiny),
            "line": None,
            "column": None,
            "hint": None,
            "url": None,
            "fix": None,
        }
    ]
    # the keys of every other diagnostic in JSON
    from archspec.diagnostics import Diagnostic, Severity

    assert list(result["diagnostics"][0]) == list(Diagnostic("AS101", "x", Severity.ERROR, "m").to_dict())


def test_check_json_carries_the_lint_errors_of_a_refused_spec(tiny, capsys):
    bad = FIXTURES / "rules" / "AS201_shape_mismatch.yaml"
    assert main(["check", str(bad), "--format", "json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["passed"] is False and result["spec"] == str(bad)
    assert [d["code"] for d in result["diagnostics"]] == ["AS201"]
    assert result["diagnostics"][0]["line"] >= 1 and result["diagnostics"][0]["message"]
    # several specs: one result each, in order, the refused one with its diagnostics
    unreadable = tiny.parent / "missing.yaml"
    assert main(["check", str(bad), str(unreadable), str(tiny), "--format", "json", "--batch", "1"]) == 2
    results = json.loads(capsys.readouterr().out)
    assert [r["spec"] for r in results] == [str(bad), str(unreadable), str(tiny)]
    assert [r["passed"] for r in results] == [False, False, True]
    assert results[1]["diagnostics"][0]["code"] == "AS100" and results[2]["diagnostics"] == []


@pytest.mark.parametrize(
    "module, extra, command",
    [
        ("numpy", "archspec-nn[torch,keras]", ["check"]),
        ("torch", "archspec-nn[torch,keras]", ["check"]),
        ("tensorflow", "archspec-nn[torch,keras]", ["check"]),
        ("keras", "archspec-nn[torch,keras]", ["check"]),
        ("torch", "archspec-nn[torch]", ["check", "--torch-inference"]),
    ],
)
def test_check_without_a_framework_names_the_extra_to_install(tmp_path, module, extra, command):
    (tmp_path / "tiny.yaml").write_text(TINY)
    shim = f"import sys\nsys.modules[{module!r}] = None  # as if it were not installed\n"
    result = _run(*command, "tiny.yaml", cwd=tmp_path, shim=shim)
    assert result.returncode == 2, result.stderr
    _no_internal_error(result.stderr)
    assert f"pip install '{extra}'" in result.stderr and "not installed" in result.stderr


def test_check_refuses_specs_with_errors_before_needing_a_framework(tmp_path):
    """A spec check would refuse anyway is answered from the spec alone: its lint errors or its
    unreadable file, with no framework imported (none is installed here), and so in a fraction
    of a second rather than after loading PyTorch and TensorFlow.  A missing framework is
    reported only when a spec is to be compared."""
    bad = FIXTURES / "rules" / "AS201_shape_mismatch.yaml"
    (tmp_path / "tiny.yaml").write_text(TINY)
    shim = "import sys\nfor name in ('numpy', 'torch', 'tensorflow', 'keras'):\n    sys.modules[name] = None\n"
    refused = _run("check", str(bad), str(tmp_path / "missing.yaml"), "--format", "json", cwd=tmp_path, shim=shim)
    assert refused.returncode == 2, refused.stderr  # the unreadable file is an I/O failure
    _no_internal_error(refused.stderr)
    results = json.loads(refused.stdout)
    assert [[d["code"] for d in r["diagnostics"]] for r in results] == [["AS201"], ["AS100"]]
    assert "AS201" in refused.stderr and "pip install" not in refused.stderr
    # one spec to compare among them: now the framework is needed, and named
    mixed = _run("check", str(bad), "tiny.yaml", cwd=tmp_path, shim=shim)
    assert mixed.returncode == 2 and "pip install 'archspec-nn[torch,keras]'" in mixed.stderr, mixed.stderr
    _no_internal_error(mixed.stderr)


def test_lint_and_build_need_no_framework_and_build_model_names_the_extra(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY)
    shim = "import sys\nfor name in ('torch', 'tensorflow', 'keras'):\n    sys.modules[name] = None\n"
    assert _run("lint", "tiny.yaml", cwd=tmp_path, shim=shim).returncode == 0
    built = _run("build", "tiny.yaml", "--backend", "all", cwd=tmp_path, shim=shim)
    assert built.returncode == 0, built.stderr
    script = (
        "import archspec\n"
        "try:\n    archspec.build_model('tiny.yaml', backend='BACKEND')\n"
        "except ImportError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    for backend, extra in (("torch", "archspec-nn[torch]"), ("keras", "archspec-nn[keras]")):
        out = subprocess.run(
            [sys.executable, "-c", script.replace("BACKEND", backend)],
            cwd=tmp_path,
            env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "_shim"), str(ROOT)])),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.stdout.startswith("MissingDependency") and f"pip install '{extra}'" in out.stdout, out


@pytest.mark.parametrize(
    "name, code", [("extends_symlink_loop.yaml", "AS105"), ("use_symlink_loop.yaml", "AS102")], ids=str
)
@pytest.mark.parametrize("command", ["lint", "summary", "build", "check", "graph"])
def test_symlink_loops_are_diagnostics_in_every_command(name, code, command, tmp_path, capsys):
    assert os.path.islink(HOSTILE / "links" / "loop_a.yaml"), "the fixture is a symbolic-link loop"
    extra = {"build": ["-o", str(tmp_path)], "graph": ["-o", str(tmp_path / "g.dot")]}.get(command, [])
    assert main([command, str(HOSTILE / name), *extra]) == 1
    captured = capsys.readouterr()
    _no_internal_error(captured.err + captured.out)
    assert f"[{code}]" in captured.err + captured.out and "loops" in captured.err + captured.out
    assert list(tmp_path.iterdir()) == []


def test_a_spec_that_is_itself_a_symlink_loop_is_unreadable(capsys):
    assert main(["lint", str(HOSTILE / "links" / "loop_a.yaml"), "--format", "json"]) == 2
    found = json.loads(capsys.readouterr().out)
    assert found[0]["code"] == "AS100"


# ------------------------------------------------------------------------------------------------
# 4. input that is not a regular file: refused before it is read (a FIFO is never opened)


def _non_regular(tmp_path: Path) -> dict[str, tuple[str, str]]:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    cases = {"fifo": (str(fifo), "named pipe"), "directory": (str(tmp_path), "directory")}
    if os.path.exists("/dev/zero") and stat.S_ISCHR(os.stat("/dev/zero").st_mode):
        cases["device"] = ("/dev/zero", "character device")
    return cases


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.parametrize("command", ["lint", "summary", "check"])
def test_non_regular_files_are_refused_before_reading(tmp_path, command):
    # in a child process with a timeout: reading /dev/zero never ends, opening a FIFO blocks
    for kind, (path, words) in _non_regular(tmp_path).items():
        result = _run(command, path, "--format", "json" if command != "summary" else "text", cwd=tmp_path, timeout=600)
        assert result.returncode == 2, (kind, result.stderr)
        _no_internal_error(result.stderr)
        assert "AS100" in result.stdout + result.stderr and words in result.stdout + result.stderr, kind


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_extends_and_use_naming_a_fifo_are_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "base.yaml")
    os.mkfifo(tmp_path / "blocks.yaml")
    (tmp_path / "a.yaml").write_text("archspec: 1\nextends: base.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text(TINY.replace("stages:", "use: [blocks.yaml]\nstages:"))
    for spec, code in (("a.yaml", "AS105"), ("b.yaml", "AS102")):
        result = _run("lint", spec, "--format", "json", cwd=tmp_path, timeout=120)
        assert result.returncode == 1, result.stderr
        assert json.loads(result.stdout)[0]["code"] == code


def test_read_text_refuses_by_file_type():
    from archspec.diagnostics import ArchspecError
    from archspec.spec.yamlsrc import read_text

    for path in ("/dev/null", str(HOSTILE)):
        if os.path.exists(path):
            with pytest.raises(ArchspecError) as caught:
                read_text(Path(path), path)
            assert caught.value.diagnostics[0].code == "AS100"
            assert "not a spec file" in caught.value.diagnostics[0].message


# ------------------------------------------------------------------------------------------------
# 5. resource bounds


def test_the_reported_alias_bomb_is_refused(tmp_path):
    """The issue's spec: 850 KB, one 400 KB string anchored and aliased 150,000 times (under
    the value-count limit, tens of GB once expanded)."""
    spec = tmp_path / "bomb.yaml"
    spec.write_text(
        "archspec: 1\nname: bomb\ndoc: &a " + "x" * 400_000 + "\nvars:\n  v: [" + ",".join(["*a"] * 150_000) + "]\n"
    )
    assert 800_000 < spec.stat().st_size < 1_000_000
    result = _run("lint", str(spec), "--format", "json", cwd=tmp_path, timeout=600)
    assert result.returncode == 1, result.stderr[-2000:]
    found = json.loads(result.stdout)
    assert found[0]["code"] == "AS109" and "characters of text" in found[0]["message"]


def test_aliased_keys_count_towards_the_expanded_size():
    from archspec.diagnostics import ArchspecError
    from archspec.spec.yamlsrc import MAX_EXPANDED_CHARS, parse_yaml

    key = "k" * 100_000  # an explicit key ("? "): implicit ones are limited to 1024 characters
    copies = MAX_EXPANDED_CHARS // len(key) + 1

    def document(n: int) -> str:
        return f"a: &m\n  ? {key}\n  : 1\nb: [{', '.join(['*m'] * n)}]\n"

    with pytest.raises(ArchspecError) as caught:
        parse_yaml(document(copies), "keys.yaml")
    assert "characters of text" in caught.value.diagnostics[0].message
    # below the limit the same document loads
    data, _ = parse_yaml(document(copies - 3), "keys.yaml")
    assert len(data["b"]) == copies - 3 and list(data["b"][0]) == [key]


def test_a_long_source_line_is_elided_in_the_snippet(capsys):
    assert main(["lint", str(HOSTILE / "alias_string_bomb.yaml")]) == 1
    out = capsys.readouterr().out
    assert "[AS109]" in out and "..." in out
    assert max(len(line) for line in out.splitlines()) < 300


def _limits():
    sys.path.insert(0, str(BENCH))
    try:
        import limits
    finally:
        sys.path.remove(str(BENCH))
    return limits


def test_bench_specs_sit_exactly_at_the_limits(tmp_path):
    """bench/limits.py measures the worst accepted specs: its specs must lint clean and their
    layer counts follow its formula, so that the full-size ones are at the limits."""
    import archspec

    limits = _limits()
    for make, per_block in ((limits.deep_spec, limits.LAYERS_PER_BLOCK), (limits.wide_spec, 1)):
        spec = tmp_path / "s.yaml"
        spec.write_text(make(7))
        net = archspec.load(spec)
        assert len(net.order) == limits.FIXED_LAYERS + per_block * 7
        assert archspec.lint_spec(spec) == []
    spec.write_text(limits.explicit_spec(4000))
    assert 3900 < spec.stat().st_size <= 4000 and archspec.lint_spec(spec) == []


def test_layer_limit_is_a_diagnostic(tmp_path, monkeypatch, capsys):
    from archspec.ir import build

    limits = _limits()
    monkeypatch.setattr(build, "MAX_NODES", 500)
    spec = tmp_path / "deep.yaml"
    spec.write_text(limits.deep_spec(40))  # 764 layers
    assert main(["lint", str(spec), "--format", "json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert found[0]["code"] == "AS101" and "more than 500 layers" in found[0]["message"]


def test_readme_states_the_limits_the_code_enforces():
    from archspec.ir.build import MAX_BLOCKS, MAX_NODES
    from archspec.spec.yamlsrc import MAX_DEPTH, MAX_EXPANDED_CHARS, MAX_FILE_BYTES
    from archspec.spec.yamlsrc import MAX_NODES as MAX_VALUES

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Limits", 1)[1].split("\n## ", 1)[0]
    for value in (MAX_BLOCKS, MAX_NODES, MAX_FILE_BYTES, MAX_VALUES, MAX_EXPANDED_CHARS):
        assert f"{value:,}" in section, value
    assert f"deeper than {MAX_DEPTH}" in section
    assert "bench/limits.py" in section


def test_streamed_json_matches_json_dumps():
    from archspec.cli import _write_json

    class Out:
        def __init__(self):
            self.parts = []

        def write(self, text):
            self.parts.append(text)

    value = {"a": [1, {"b": [], "c": {}}, "x\ny"], "d": None}
    out = Out()
    _write_json(value, out)
    assert "".join(out.parts) == json.dumps(value, indent=2)
    nested = Out()
    nested.write("[\n  ")
    _write_json(value, nested, level=1)
    nested.write("\n]")
    assert "".join(nested.parts) == json.dumps([value], indent=2)


def test_summary_json_streams_the_same_document(capsys):
    import archspec

    spec = ROOT / "specs" / "resnet18.yaml"
    assert main(["summary", str(spec), "--format", "json"]) == 0
    streamed = json.loads(capsys.readouterr().out)
    expected = archspec.summary(spec).as_dict()
    expected["layers"] = list(expected["layers"])
    assert streamed == json.loads(json.dumps(expected))
    assert len(streamed["layers"]) == sum(1 for _ in archspec.load(spec).ops())


# ------------------------------------------------------------------------------------------------
# 6. output files


def _umask(value: int):
    class Umask:
        def __enter__(self):
            self.old = os.umask(value)

        def __exit__(self, *exc):
            os.umask(self.old)

    return Umask()


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002, 0o077])
def test_written_files_honour_the_umask(tiny, tmp_path, umask):
    out = tmp_path / "out"
    with _umask(umask):
        assert main(["build", str(tiny), "-o", str(out)]) == 0
        assert main(["graph", str(tiny), "-o", str(out / "g.mmd")]) == 0
        from archspec.backends.output import write_atomic_text

        write_atomic_text(out / "doc.md", "text\n")
    for name in ("tiny.py", "g.mmd", "doc.md"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o666 & ~umask, name
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no temporary file left


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o755])
def test_rewriting_a_file_keeps_its_mode(tiny, tmp_path, mode):
    out = tmp_path / "out"
    assert main(["build", str(tiny), "-o", str(out)]) == 0
    target = out / "tiny.py"
    target.write_text(target.read_text() + "# edited\n")
    target.chmod(mode)
    with _umask(0o077):
        assert main(["build", str(tiny), "-o", str(out)]) == 0
    assert "# edited" not in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == mode


def test_a_name_at_the_file_name_limit_builds(tmp_path):
    name = "n" * 250  # 253 characters with .py; the temporary file's name must be shorter still
    spec = tmp_path / "long.yaml"
    spec.write_text(TINY.replace("name: tiny", f"name: {name}"))
    assert main(["build", str(spec), "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / f"{name}.py").is_file()
    assert main(["build", str(spec), "--backend", "keras", "-o", str(tmp_path / "out")]) == 0


def test_output_naming_a_file_says_it_is_not_a_directory(tiny, tmp_path, capsys):
    target = tmp_path / "afile"
    target.write_text("keep me\n")
    assert main(["build", str(tiny), "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert "not a directory" in err and "File exists" not in err
    assert main(["graph", str(tiny), "-o", str(target / "g.dot")]) == 2
    err = capsys.readouterr().err
    assert "Not a directory" in err and "File exists" not in err
    assert target.read_text() == "keep me\n"


def _project(root: Path) -> Path:
    (root / "specs").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
    (root / "specs" / "blocks.yaml").write_text(
        textwrap.dedent(
            """\
            archspec: 1
            blocks:
              pair:
                class_name: Pair
                params: {width: null}
                body:
                  - {op: conv, name: conv, filters: width, kernel: 1}
                  - {op: relu, name: act}
            """
        )
    )
    spec = root / "specs" / "net.yaml"
    spec.write_text(TINY.replace("block: basic", "block: pair").replace("stages:", "use: [blocks.yaml]\nstages:"))
    spec.write_text(spec.read_text().replace("table: [[1, 8, 1]]", "columns: [depth, width]\n  table: [[2, 8]]"))
    return spec


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_generated_bytes_do_not_depend_on_the_path_spelling(tmp_path, backend, monkeypatch):
    spec = _project(tmp_path / "proj")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "proj")
    spellings = [
        (tmp_path / "proj", "specs/net.yaml"),
        (tmp_path / "proj" / "specs", "net.yaml"),
        (tmp_path / "proj" / "specs", "./../specs/net.yaml"),
        (tmp_path, str(spec)),
        (tmp_path, str(link / "specs" / "net.yaml")),
    ]
    outputs = set()
    for i, (cwd, path) in enumerate(spellings):
        monkeypatch.chdir(cwd)
        out = tmp_path / f"out{i}"
        assert main(["build", path, "--backend", backend, "-o", str(out)]) == 0
        outputs.add((out / "tiny.py").read_bytes())
    assert len(outputs) == 1
    text = outputs.pop().decode()
    assert "from specs/net.yaml." in text and str(tmp_path) not in text
    # a copy of the project elsewhere (block file included) generates the same bytes
    import shutil

    shutil.copytree(tmp_path / "proj", tmp_path / "elsewhere" / "proj")
    monkeypatch.chdir(tmp_path)
    assert main(["build", "elsewhere/proj/specs/net.yaml", "--backend", backend, "-o", str(tmp_path / "o2")]) == 0
    assert (tmp_path / "o2" / "tiny.py").read_text() == text


def test_source_label_is_the_path_from_the_project_root_or_the_file_name(tmp_path):
    from archspec.spec.load import source_label

    spec = _project(tmp_path / "proj")
    assert source_label(spec) == "specs/net.yaml"
    alone = tmp_path / "alone" / "x.yaml"
    alone.parent.mkdir()
    alone.write_text(TINY)
    roots = [p for p in alone.parents if any((p / m).exists() for m in (".git", "pyproject.toml"))]
    assert source_label(alone) == (alone.relative_to(roots[0]).as_posix() if roots else "x.yaml")
    assert source_label(ROOT / "specs" / "resnet50.yaml") == "specs/resnet50.yaml"


def test_committed_files_are_fresh_from_any_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = ROOT / "specs" / "resnet18.yaml"
    for backend in ("torch", "keras"):
        args = ["build", str(spec), "--backend", backend, "--check", "-o", str(ROOT / "generated" / backend)]
        assert main(args) == 0, capsys.readouterr().out[-3000:]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_dependents_and_config_never_open_a_fifo(tmp_path):
    (tmp_path / "base.yaml").write_text(TINY)
    (tmp_path / "variant.yaml").write_text("archspec: 1\nextends: base.yaml\nname: variant\n")
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    (tmp_path / "looped.yaml").write_text("archspec: 1\nextends: loop.yaml\nname: looped\n")
    os.mkfifo(tmp_path / "archspec.toml")
    script = (
        "from archspec.dependents import dependents\n"
        "print(sorted(p.name for p in dependents(['base.yaml'], root='.')))\n"
        "from archspec.lint.config import ConfigError, load_config\n"
        "try:\n    load_config('archspec.toml')\nexcept ConfigError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["['variant.yaml']", "archspec.toml:1: not a regular file"]
