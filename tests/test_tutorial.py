"""docs/tutorial.md runs as written: its specs lint as it says, build for both backends and
pass the cross-check; the figures and the diagnostic it quotes are the real ones."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
from conftest import ROOT, SPECS

from archspec.cli import main
from archspec.crosscheck.compare import check_spec

TUTORIAL = (ROOT / "docs" / "tutorial.md").read_text()
FILES = dict(re.findall(r"```yaml\n# file: (\S+)\n(.*?)```", TUTORIAL, re.S))


@pytest.fixture
def workdir(tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(SPECS / "resnet50.yaml", specs)
    for name, body in FILES.items():
        (specs / name).write_text(body)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(cwd)


def test_the_tutorial_has_its_three_specs():
    assert set(FILES) == {"seresnet26.yaml", "seresnet26_widestem.yaml", "seresnet26_typo.yaml", "sk3resnet26.yaml"}


def test_lint_and_summary_say_what_the_tutorial_says(workdir, capsys):
    assert main(["lint", "specs/seresnet26.yaml", "specs/seresnet26_widestem.yaml"]) == 0
    assert "2 specs checked: 0 errors, 0 warnings, 0 info" in capsys.readouterr().out
    assert main(["summary", "specs/seresnet26.yaml", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert f"Total params: {data['params']:,}" in TUTORIAL
    assert f"Total mult-adds: {data['macs']:,}" in TUTORIAL
    assert data["output_shape"] == [100]


def test_the_typo_is_reported_as_quoted(workdir, capsys):
    assert main(["lint", "specs/seresnet26_typo.yaml"]) == 0
    out = capsys.readouterr().out
    quoted = re.search(r"```text\n(warning\[AS204\].*?)```", TUTORIAL, re.S).group(1)
    assert quoted.strip() in out


def test_build_both_backends(workdir, capsys):
    for spec in ("specs/seresnet26.yaml", "specs/seresnet26_widestem.yaml"):
        assert main(["build", spec, "--backend", "torch", "-o", "out/"]) == 0
        assert main(["build", spec, "--backend", "keras", "-o", "out/keras/"]) == 0
    source = (workdir / "out" / "seresnet26.py").read_text()
    assert "class SEBottleneck(nn.Module)" in source and "class Seresnet26(nn.Module)" in source
    assert "def se_bottleneck(" in (workdir / "out" / "keras" / "seresnet26.py").read_text()


def test_the_selective_kernel_section_lints_and_builds(workdir, capsys):
    assert main(["lint", "specs/sk3resnet26.yaml"]) == 0
    assert "1 spec checked: 0 errors, 0 warnings, 0 info" in capsys.readouterr().out
    assert main(["build", "specs/sk3resnet26.yaml", "--backend", "torch", "-o", "out/"]) == 0
    assert main(["build", "specs/sk3resnet26.yaml", "--backend", "keras", "-o", "out/keras/"]) == 0
    source = (workdir / "out" / "sk3resnet26.py").read_text()
    assert "RadixSum(3)" in source and "RadixSoftmax(3, 1)" in source
    assert "DilatedConv2D(" in (workdir / "out" / "keras" / "sk3resnet26.py").read_text()


@pytest.mark.parametrize("name", ["seresnet26", "seresnet26_widestem", "sk3resnet26"])
def test_check_passes(workdir, name):
    result = check_spec(f"specs/{name}.yaml", (64, 64), batch=1)
    assert result.passed, result.first_divergence


def test_the_wide_stem_feeds_96_channels_and_projects(workdir):
    import archspec

    net = archspec.load("specs/seresnet26_widestem.yaml")
    assert net.block("layer1.0").in_shape[0] == 96
    assert "layer1.0.downsample.0.weight" in net.state_dict_shapes()
