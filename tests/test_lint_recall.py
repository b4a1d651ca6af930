"""Lint finds mistakes where the user wrote them: width typos in every form with their fix as
data, errors inside shared definitions reported at the user's value with the evaluation chain,
one finding per cause, and the warnings `build` goes on with."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT, SPECS

from archspec.cli import main
from archspec.diagnostics import Diagnostic, Severity, Span
from archspec.ir.build import build_ir
from archspec.lint import lint_path
from archspec.lint.aggregate import merge_instances
from archspec.lint.rules_widths import typo_kind
from archspec.spec.load import load_spec

RESNET50 = (SPECS / "resnet50.yaml").read_text()


def _variant(tmp_path, text: str, name: str = "net.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _table(tmp_path, row: str):
    return _variant(tmp_path, RESNET50.replace("- [6, 256, 2]", row))


@pytest.mark.parametrize(
    "wrote, meant, kind",
    [
        (265, 256, "two digits swapped"),
        (25, 256, "a digit dropped"),
        (2566, 256, "a digit added"),
        (356, 256, "one digit changed"),
        (2560, 256, "a factor of ten"),
        (652, 256, None),
        (256, 256, None),
    ],
)
def test_typo_kinds(wrote, meant, kind):
    assert typo_kind(wrote, meant) == kind


@pytest.mark.parametrize("wrote", ["265", "2560", "25", "2566", "356", "128"])
def test_a_table_row_typo_is_reported_at_its_cell_with_the_fix(tmp_path, wrote):
    path = _table(tmp_path, f"- [6, {wrote}, 2]")
    found = [d for d in lint_path(path) if d.code == "AS204"]
    assert len(found) == 1
    d = found[0]
    line = RESNET50.splitlines().index("    - [6, 256, 2]") + 1
    assert (d.span.line, d.span.column, d.span.length) == (line, 11, len(wrote))
    assert d.hint == "did you mean 256?"
    (edit,) = d.fix.edits
    assert (edit.original, edit.replacement, edit.span) == (wrote, "256", d.span)
    assert d.fix.safe == (wrote != "128")  # a halved stage is a guess: only with --unsafe-fixes


def test_a_correct_table_and_an_irregular_one_are_quiet(tmp_path):
    assert lint_path(SPECS / "resnet50.yaml") == []
    pruned = RESNET50.replace("[3,  64, 1]", "[3,  51, 1]").replace("[4, 128, 2]", "[4, 102, 2]")
    pruned = pruned.replace("[6, 256, 2]", "[6, 204, 2]").replace("[3, 512, 2]", "[3, 409, 2]")
    assert lint_path(_variant(tmp_path, pruned)) == []


def test_keras_momentum_has_its_fix(tmp_path):
    path = _variant(tmp_path, RESNET50.replace("momentum: 0.1}", "momentum: 0.99}"))
    (d,) = lint_path(path)
    assert d.code == "AS404" and d.hint == "did you mean momentum: 0.01?"
    (edit,) = d.fix.edits
    assert (edit.original, edit.replacement) == ("0.99", "0.01")


def test_a_bad_value_in_a_library_block_is_reported_at_the_row_that_supplied_it(tmp_path):
    path = _table(tmp_path, "- [6, 256, -2]")
    (d,) = lint_path(path)
    line = RESNET50.splitlines().index("    - [6, 256, 2]") + 1
    assert (d.code, d.span.file, d.span.line, d.span.column) == ("AS101", str(path), line, 16)
    assert any("stride: stride = -2 in block layer3.0 (bottleneck)" in n for n in d.notes)
    assert any(n.startswith("defined at ") and "bottleneck.yaml" in n for n in d.notes)


def test_the_notes_show_the_let_chain_and_its_values(tmp_path):
    path = _table(tmp_path, "- [6, 0, 2]")
    (d,) = [d for d in lint_path(path) if d.is_error]
    assert d.span.file == str(path)
    assert "mid = width * base_width // 64 * groups = 0" in d.notes
    assert "with width=0, base_width=64, groups=1" in d.notes


def test_a_misspelled_column_is_one_error_at_the_column(tmp_path):
    path = _variant(tmp_path, RESNET50.replace("columns: [depth, width, stride]", "columns: [depth, widht, stride]"))
    (d,) = lint_path(path)
    assert (d.code, d.hint) == ("AS101", "did you mean 'width'?")
    assert "columns: [depth, widht" in path.read_text().splitlines()[d.span.line - 1]


def test_findings_that_differ_only_by_block_instance_are_one(tmp_path):
    network = build_ir(load_spec(SPECS / "resnet50.yaml"))
    span = Span("x.yaml", 3, 1)
    diags = [
        Diagnostic("AS305", "double-normalization", Severity.WARNING, f"bn in {b} twice", span)
        for b in ("layer1.0", "layer1.1", "layer1.2", "layer2.0", "layer2.1")
    ]
    other = Diagnostic("AS305", "double-normalization", Severity.WARNING, "bn in layer1.0 twice", Span("x.yaml", 4, 1))
    merged = merge_instances(network, [*diags, other])
    assert len(merged) == 2
    assert merged[0].notes == ["the same in 5 block instances: layer1.0, layer1.1, layer1.2 and 2 more"]
    assert merged[1] is other


def test_a_definition_mistake_in_many_blocks_is_one_finding(tmp_path):
    text = RESNET50.replace("block: bottleneck", "block: mine") + textwrap.dedent(
        """\
        blocks:
          mine:
            params: {width: null, stride: 1}
            let: {out: width * 4}
            body:
              - {op: conv, filters: width, kernel: 3, stride: stride, padding: 1}
              - {op: batchnorm}
              - {op: batchnorm}
              - {op: conv, filters: out, kernel: 1}
              - {op: batchnorm}
            shortcut:
              - when: stride != 1 or in_channels != out
                layers: [{op: conv, filters: out, kernel: 1, stride: stride}, {op: batchnorm}]
        """
    )
    (d,) = lint_path(_variant(tmp_path, text))
    assert d.code == "AS305" and "(in 16 blocks: layer1.0, layer1.1, layer1.2 and 13 more)" in d.message


def test_build_prints_the_warnings_it_builds_through(tmp_path, capsys):
    path = _table(tmp_path, "- [6, 265, 2]")
    assert main(["build", str(path), "--backend", "torch", "-o", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "warning[AS204]" in captured.err and "did you mean 256?" in captured.err
    assert (tmp_path / "out" / "resnet50.py").is_file()


def test_the_summary_line_counts_info_findings(tmp_path, capsys):
    head = "head:\n  - {op: flatten, name: flatten}\n  - {op: linear, name: fc, units: num_classes}\n"
    text = RESNET50[: RESNET50.index("head:")] + head
    path = _variant(tmp_path, text)
    assert main(["lint", str(path)]) == 0
    assert "1 spec checked: 0 errors, 0 warnings, 1 info" in capsys.readouterr().out


def test_lint_imports_neither_networkx_jinja2_nor_torch():
    code = (
        "import sys\nfrom archspec.lint import lint_path\n"
        f"lint_path({str(ROOT / 'tests' / 'lint_eval' / 'mistakes' / 'm16_stride_on_last_1x1.yaml')!r})\n"
        "print(sorted(m for m in ('networkx', 'jinja2', 'torch', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
