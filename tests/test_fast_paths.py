"""The fast paths of lint and summary change nothing but speed (timings live in bench/, never here).

- Identical blocks are replayed from the first one that lowered cleanly (``Builder._replay``):
  the IR, the findings and their positions are those of a full lowering.
- The block library comes from ``archspec/library/blocks.snapshot.json`` when a library file
  still has the recorded hash, and is parsed otherwise.
- networkx is imported only when ``Network.graph`` is asked for.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import pytest
from conftest import FIXTURES, ROOT, SPECS

from archspec.diagnostics import render_text
from archspec.ir import build as B
from archspec.ir.build import build_ir
from archspec.lint import lint_network
from archspec.spec import expr as E
from archspec.spec import load as L
from archspec.spec.load import load_spec

BASIC = """
archspec: 1
name: {name}
input: {{channels: 3, size: [32, 32]}}
stem:
  - {{op: conv, name: conv1, filters: 16, kernel: 3, padding: 1}}
stages:
{stages}
head:
  - {{op: global_avg_pool, name: avgpool}}
  - {{op: linear, name: fc, units: 10}}
"""

CASES = {
    # the same stage name twice: every replayed block repeats module paths (AS107 on each)
    "repeated_stage": "  - {name: layer1, block: basic, depth: 3, args: {width: 16}}\n"
    "  - {name: layer1, block: basic, depth: 3, args: {width: 16}}",
    # a Keras name pattern without the block number: replayed blocks repeat Keras names only
    "keras_pattern": "  block: basic\n  name: layer{stage}\n  keras: blk{stage}\n"
    "  columns: [depth, width, stride]\n  table: [[3, 16, 1], [3, 32, 2]]",
    # a feature map that collapses: the same block type and arguments on shrinking inputs
    "collapse": "  block: bottleneck\n  name: layer{stage}\n  columns: [depth, width, stride]\n"
    "  table: [[2, 16, 2], [2, 16, 2], [2, 16, 2], [2, 16, 2], [2, 16, 2], [2, 16, 2]]",
}

LEAKY = """
archspec: 1
name: leaky
input: {channels: 3, size: [16, 16]}
blocks:
  leaky:
    params: {width: null, slope: 0.0}
    body:
      - {op: conv, filters: width, kernel: 3, padding: 1}
      - {op: leaky_relu, negative_slope: slope}
      - {op: conv, name: conv2, filters: width, kernel: 3, padding: 1}
    merge: {op: add}
stem:
  - {op: conv, name: conv1, filters: 16, kernel: 3, padding: 1}
stages:
  - name: s
    blocks:
      - {block: leaky, args: {width: 16, slope: 0.0}}
      - {block: leaky, args: {width: 16, slope: -0.0}}
      - {block: leaky, args: {width: 16, slope: 0}}
      - {block: leaky, args: {width: 16, slope: 0.0}}
      - {block: leaky, args: {width: 16, slope: 0.25}}
head:
  - {op: global_avg_pool, name: avgpool}
  - {op: linear, name: fc, units: 10}
"""


def _dump(network) -> tuple:
    nodes = [
        (tuple(repr(getattr(n, f.name)) for f in dataclasses.fields(n)), [s.id for s in network.successors(n.id)])
        for n in network.nodes()
    ]
    blocks = [repr(b) for b in network.blocks]
    return nodes, blocks, render_text(lint_network(network), network.spec.sources), network.output, network.complete


def _specs(tmp_path) -> list:
    paths = [SPECS / "resnet50.yaml", SPECS / "resnet152.yaml", SPECS / "resnet50_v2.yaml", SPECS / "seresnet50.yaml"]
    paths += sorted((FIXTURES / "seeds").glob("*.yaml")) + sorted((FIXTURES / "rules").glob("*.yaml"))
    for name, stages in CASES.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(BASIC).format(name=name, stages=stages))
        paths.append(path)
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text(textwrap.dedent(LEAKY))
    return [*paths, leaky]


def test_replayed_blocks_give_the_ir_and_findings_of_a_full_lowering(tmp_path, monkeypatch):
    specs = _specs(tmp_path)
    loaded = []
    for path in specs:
        try:
            loaded.append(load_spec(path))
        except Exception:
            continue  # a fixture refused by the loader has no IR
    replays = []
    replay = B.Builder._replay
    monkeypatch.setattr(B.Builder, "_replay", lambda self, *args: replays.append(1) or replay(self, *args))
    fast = [_dump(build_ir(spec, size)) for spec in loaded for size in (None, (61, 61))]
    assert len(replays) > 100  # the fast path was taken
    monkeypatch.setattr(B._BlockRecord, "of", staticmethod(lambda *args: None))  # nothing is ever replayed
    full = [_dump(build_ir(spec, size)) for spec in loaded for size in (None, (61, 61))]
    assert len(fast) > 40
    for spec, a, b in zip([s for s in loaded for _ in (0, 1)], fast, full, strict=True):
        assert a == b, spec.display


def test_findings_of_replayed_blocks_are_reported_on_each(tmp_path):
    path = _specs(tmp_path)[-4]  # repeated_stage
    text = render_text(lint_network(build_ir(load_spec(path))))
    # one finding for the one cause: a stage repeated with its neighbour's name is reported at
    # that name, not as every layer of its blocks used twice
    assert "stages 1 and 2 are both named 'layer1'" in text
    assert "used twice" not in text and text.count("error[") == 1


def test_negative_zero_is_not_confused_with_zero(tmp_path):
    path = tmp_path / "leaky.yaml"
    path.write_text(textwrap.dedent(LEAKY))
    network = build_ir(load_spec(path))
    slopes = [repr(n.attrs.negative_slope) for n in network.nodes() if n.op == "leaky_relu"]
    assert slopes == ["0.0", "-0.0", "0.0", "0.0", "0.25"]


def test_expression_errors_are_raised_on_every_call():
    for _ in range(2):
        with pytest.raises(E.ExprError, match="unknown name"):
            E.evaluate("width * 2", {})
        with pytest.raises(E.ExprError, match="not allowed"):
            E.parse("__import__('os')")


def test_library_snapshot_is_used_only_for_unchanged_files(monkeypatch):
    snapshot = L._library_snapshot()
    assert set(snapshot) == {p.name for p in L.library_index().values()}
    reference = load_spec(SPECS / "resnet50.yaml")
    stale = {name: {**entry, "sha256": "0" * 64} for name, entry in snapshot.items()}
    monkeypatch.setattr(L, "_library_snapshot", lambda: stale)
    L._read_block_file.cache_clear()
    try:
        parsed = load_spec(SPECS / "resnet50.yaml")
    finally:
        L._read_block_file.cache_clear()
    assert parsed.spans.values == reference.spans.values and parsed.spans.keys == reference.spans.keys
    assert parsed.spec == reference.spec and parsed.digest == reference.digest
    assert {n: b.definition for n, b in parsed.blocks.items()} == {n: b.definition for n, b in reference.blocks.items()}


LIGHT = """
import sys
from archspec.cli import main
code = main(["lint", "specs/resnet50.yaml"]) + main(["summary", "specs/resnet50.yaml", "--format", "json"])
print(code, "networkx" in sys.modules)
from archspec import load
graph = load("specs/resnet50.yaml").graph
print(type(graph).__module__.split(".")[0], graph.number_of_nodes(), graph.number_of_edges())
"""


def test_lint_and_summary_do_not_import_networkx_but_the_graph_is_there():
    result = subprocess.run([sys.executable, "-c", LIGHT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-2] == "0 False"
    module, nodes, edges = lines[-1].split()
    network = B.build_ir(load_spec(SPECS / "resnet50.yaml"))
    assert module == "networkx" and int(nodes) == len(network.order)
    assert int(edges) == sum(len(n.inputs) for n in network.nodes())
