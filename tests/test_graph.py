"""archspec graph: DOT and Mermaid from the IR, rendering through Graphviz when present."""

from __future__ import annotations

import shutil
import stat

from conftest import SPECS

import archspec
from archspec.cli import main
from archspec.graph import layout, to_dot, to_mermaid

R50 = SPECS / "resnet50.yaml"


def test_collapsed_view_has_one_box_per_stage_and_shapes_on_edges():
    boxes, edges = layout(archspec.load(R50))
    stages = [b for b in boxes if b.kind == "stage"]
    assert [b.lines for b in stages] == [
        ["layer1", "3 x bottleneck"],
        ["layer2", "4 x bottleneck"],
        ["layer3", "6 x bottleneck"],
        ["layer4", "3 x bottleneck"],
    ]
    assert ("maxpool", "stage1", "64x56x56") in edges and ("stage4", "avgpool", "2048x7x7") in edges


def test_expanded_view_shows_shortcuts_and_merges():
    net = archspec.load(SPECS / "resnet18.yaml")
    boxes, edges = layout(net, expand=True)
    merges = [b for b in boxes if b.kind == "merge"]
    assert len(merges) == 8  # one add per basic block
    assert ("layer2.0.downsample.1", "layer2.0.add", "128x28x28") in edges  # the projection shortcut
    # the identity shortcut: the previous block's output goes straight into the add
    assert sorted(e for e in edges if e[1] == "layer1.1.add") == [
        ("layer1.0.relu2", "layer1.1.add", "64x56x56"),
        ("layer1.1.bn2", "layer1.1.add", "64x56x56"),
    ]


def test_dot_and_mermaid_text():
    net = archspec.load(R50)
    dot = to_dot(net)
    assert dot.startswith('digraph "resnet50" {') and '"maxpool" -> "stage1" [label="64x56x56"];' in dot
    mermaid = to_mermaid(net)
    assert mermaid.startswith("flowchart TB") and "n_maxpool -->|64x56x56| n_stage1" in mermaid


def test_cli_writes_dot_and_mermaid(tmp_path, capsys):
    assert main(["graph", str(R50), "-o", str(tmp_path / "r50.dot")]) == 0
    assert main(["graph", str(R50), "-o", str(tmp_path / "r50.mmd"), "--expand"]) == 0
    assert main(["graph", str(R50), "-o", str(tmp_path / "r50.md")]) == 0
    assert (tmp_path / "r50.md").read_text().startswith("```mermaid\nflowchart TB")
    assert main(["graph", str(R50), "-o", str(tmp_path / "r50.bmp")]) == 2


def test_missing_graphviz_is_a_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["graph", str(R50), "-o", str(tmp_path / "r50.svg")]) == 2
    assert "needs Graphviz's 'dot', which is not installed" in capsys.readouterr().err
    assert not (tmp_path / "r50.svg").exists()


def test_svg_goes_through_dot(tmp_path, monkeypatch):
    fake = tmp_path / "dot"  # stands in for Graphviz: checks its input, answers with an SVG
    fake.write_text(
        '#!/bin/sh\nread first\n[ "$first" = \'digraph "resnet50" {\' ] || exit 3\n'
        "echo '<svg xmlns=\"http://www.w3.org/2000/svg\"/>'\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(shutil, "which", lambda name: str(fake) if name == "dot" else None)
    assert main(["graph", str(R50), "-o", str(tmp_path / "r50.svg")]) == 0
    assert (tmp_path / "r50.svg").read_text().startswith("<svg")
