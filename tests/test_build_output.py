"""`archspec build`: atomic writes, --check, no lost output, determinism across processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import FIXTURES, ROOT, SPECS

from archspec import cli
from archspec.backends import BackendError
from archspec.backends.output import stale_diff, write_atomic
from archspec.cli import main

SPEC = str(SPECS / "resnet18.yaml")


def test_build_writes_then_reports_unchanged(tmp_path, capsys):
    assert main(["build", SPEC, "--backend", "torch", "-o", str(tmp_path)]) == 0
    target = tmp_path / "resnet18.py"
    first = target.read_bytes()
    stamp = target.stat().st_mtime_ns
    assert "wrote" in capsys.readouterr().out
    assert main(["build", SPEC, "--backend", "torch", "-o", str(tmp_path)]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert target.read_bytes() == first and target.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resnet18.py"]  # no temporary files left


def test_check_reports_stale_and_missing_files(tmp_path, capsys):
    assert main(["build", SPEC, "--backend", "keras", "-o", str(tmp_path), "--check"]) == 1
    assert "missing" in capsys.readouterr().out
    assert main(["build", SPEC, "--backend", "keras", "-o", str(tmp_path)]) == 0
    assert main(["build", SPEC, "--backend", "keras", "-o", str(tmp_path), "--check"]) == 0
    target = tmp_path / "resnet18.py"
    target.write_text(target.read_text().replace("momentum=0.9", "momentum=0.5", 1))
    capsys.readouterr()
    assert main(["build", SPEC, "--backend", "keras", "-o", str(tmp_path), "--check"]) == 1
    out = capsys.readouterr().out
    assert "stale" in out and "-" in out and "momentum=0.5" in out


def test_committed_generated_files_are_fresh(capsys):
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        specs = sorted(str(p.relative_to(ROOT)) for p in SPECS.glob("*.yaml"))
        assert main(["build", "--check", "--backend", "all", *specs]) == 0, capsys.readouterr().out
    finally:
        os.chdir(cwd)


def _seed_output(tmp_path) -> dict[str, bytes]:
    target = tmp_path / "resnet18.py"
    target.write_text("# a previous, good build\n")
    return {p.name: p.read_bytes() for p in tmp_path.iterdir()}


def test_a_spec_with_errors_leaves_existing_output_untouched(tmp_path, capsys):
    before = _seed_output(tmp_path)
    bad = FIXTURES / "rules" / "AS201_shape_mismatch.yaml"
    assert main(["build", str(bad), SPEC, "--backend", "torch", "-o", str(tmp_path), "--check"]) == 1
    assert main(["build", str(bad), "--backend", "torch", "-o", str(tmp_path)]) == 1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_failing_backend_leaves_existing_output_untouched(tmp_path, monkeypatch, capsys):
    before = _seed_output(tmp_path)
    from archspec.backends import torch_backend

    def broken(network, **kwargs):
        raise BackendError("simulated: cannot express this op")

    monkeypatch.setattr(torch_backend, "emit", broken)
    assert main(["build", SPEC, "--backend", "torch", "-o", str(tmp_path)]) == 1
    assert "simulated: cannot express this op" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_code_that_does_not_compile_never_reaches_the_disk(tmp_path):
    target = tmp_path / "model.py"
    target.write_text("GOOD = 1\n")
    with pytest.raises(SyntaxError):
        write_atomic(target, "def broken(:\n")
    assert target.read_text() == "GOOD = 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["model.py"]


def test_an_interrupted_replace_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "model.py"
    target.write_text("GOOD = 1\n")

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        write_atomic(target, "NEW = 2\n")
    assert target.read_text() == "GOOD = 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["model.py"]


def test_unwritable_output_is_an_io_error_not_a_traceback(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["build", SPEC, "--backend", "torch", "-o", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "Traceback" not in err


def test_stale_diff_is_none_for_equal_text(tmp_path):
    path = tmp_path / "x.py"
    path.write_text("A = 1\n")
    assert stale_diff(path, "A = 1\n") is None
    assert "A = 2" in stale_diff(path, "A = 2\n")


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_build_is_byte_identical_across_processes_and_hash_seeds(tmp_path, backend):
    outputs = []
    for seed in ("0", "1", "12345"):
        out = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "archspec",
                "build",
                "specs/seresnet50.yaml",
                "specs/resnet50_v2.yaml",
                "--backend",
                backend,
                "-o",
                str(out),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1] == outputs[2]
    assert set(outputs[0]) == {"seresnet50.py", "resnet50_v2.py"}


def test_cli_module_has_no_unguarded_writes():
    # every write in the CLI goes through write_atomic / write_atomic_text
    source = (ROOT / "archspec" / "cli.py").read_text()
    assert ".write_text(" not in source and "open(" not in source
    assert cli.EXIT_INTERNAL == 3
