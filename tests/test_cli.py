"""The command line, as a user runs it: exit codes, formats, figures, start-up weight."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import FIXTURES, ROOT, SPECS

from archspec.cli import main

REFERENCE = json.loads((ROOT / "tests" / "reference" / "torch_models.json").read_text())


def run(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "archspec", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
def test_summary_json_equals_torchinfo(name, capsys):
    assert main(["summary", str(SPECS / f"{name}.yaml"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"name", "params", "macs", "layers"} <= set(data)
    assert data["name"] == name
    assert data["params"] == REFERENCE[name]["params"]
    assert data["macs"] == REFERENCE[name]["mult_adds_224"]
    assert sum(layer["params"] for layer in data["layers"]) == data["params"]
    assert data["output_shape"] == [1000]


def test_summary_text_prints_the_figures():
    result = run("summary", "specs/resnet50.yaml")
    assert result.returncode == 0, result.stderr
    assert "Total params: 25,557,032" in result.stdout
    assert "Total mult-adds: 4,089,238,376" in result.stdout
    assert "layer1.0.downsample.0" in result.stdout


def test_summary_input_size(capsys):
    assert main(["summary", str(SPECS / "resnet50.yaml"), "--input-size", "97", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["input_shape"] == [3, 97, 97]
    assert data["params"] == 25_557_032
    assert data["macs"] < 4_089_238_376 / 4


def test_lint_clean_exits_0():
    result = run("lint", *[str(p.relative_to(ROOT)) for p in sorted(SPECS.glob("*.yaml"))])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors, 0 warnings" in result.stdout


def test_lint_json_format_and_strict(capsys):
    seed = str(FIXTURES / "seeds" / "seed000_keras.yaml")
    assert main(["lint", seed, "--format", "json"]) == 0  # warnings only
    data = json.loads(capsys.readouterr().out)
    assert data and all(
        set(d) == {"code", "name", "severity", "message", "file", "line", "column", "hint", "url", "fix"} for d in data
    )
    # AS204's width typo carries its edit; every finding links to its rule's documentation
    typo = next(d for d in data if d["code"] == "AS204")
    assert typo["fix"]["edits"][0]["original"] == "265" and typo["fix"]["edits"][0]["replacement"] == "256"
    assert typo["url"].endswith("docs/rules.md#as204-suspicious-width")
    assert main(["lint", seed, "--strict"]) == 1
    capsys.readouterr()


def test_lint_errors_exit_1_and_render_like_rustc():
    result = run("lint", "tests/fixtures/rules/AS201_shape_mismatch.yaml")
    assert result.returncode == 1
    out = result.stdout
    assert "error[AS201]: add layer2.0.add: cannot add shapes" in out
    # the block definition lacks the projection: the finding is at its merge, the instance in a note
    assert "--> tests/fixtures/rules/AS201_shape_mismatch.yaml:11:12" in out
    assert "11 |     merge: {op: add}  # expect: AS201" in out and "^ shape-mismatch" in out and "= hint:" in out
    assert "from tests/fixtures/rules/AS201_shape_mismatch.yaml:18:7" in out


@pytest.mark.parametrize(
    "args",
    [
        ["lint", "no/such/spec.yaml"],
        ["lint", "specs"],
        ["summary", "nope.yaml"],
        ["lint"],
        ["frobnicate"],
        ["summary", "specs/resnet50.yaml", "--input-size", "0"],
    ],
)
def test_usage_and_io_problems_exit_2(args):
    result = run(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_findings_in_summary_exit_1():
    result = run("summary", "tests/fixtures/rules/AS203_spatial_collapse.yaml")
    assert result.returncode == 1 and "AS203" in result.stderr


def test_github_annotations(capsys):
    main(["lint", str(FIXTURES / "rules" / "AS302_softmax_in_model.yaml"), "--format", "github"])
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.startswith("::warning file=") and ",line=" in line for line in lines)


def test_rules_and_explain(capsys):
    assert main(["rules"]) == 0
    listing = capsys.readouterr().out
    assert "AS204  suspicious-width" in listing
    assert main(["explain", "AS301"]) == 0
    doc = capsys.readouterr().out
    assert "What it does" in doc and "Use instead" in doc
    assert main(["explain", "suspicious-width"]) == 0
    assert main(["explain", "AS999"]) == 2


LIGHT = """
import sys
from archspec.cli import main
code = main(["lint", "specs/resnet50.yaml"]) + main(["summary", "specs/resnet50.yaml"])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "tensorflow", "keras", "jinja2"})
print(code, heavy)
"""


def test_lint_and_summary_import_no_framework_and_no_jinja():
    result = subprocess.run([sys.executable, "-c", LIGHT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "0 []"


def test_python_dash_m_and_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("archspec ")
