"""Loading specs: spans, extends, defaults, block resolution, and bad input as diagnostics."""

from __future__ import annotations

import textwrap

import pytest
from conftest import SPECS

from archspec.diagnostics import ArchspecError
from archspec.lint import lint_path
from archspec.spec.load import load_spec


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def codes(path):
    return [(d.code, d.span.line if d.span else None) for d in lint_path(path)]


def test_spans_are_one_based_and_point_at_values():
    loaded = load_spec(SPECS / "resnet50.yaml")
    text = (SPECS / "resnet50.yaml").read_text().splitlines()
    span = loaded.spans.value(("stages", "table", 2, 0))
    assert text[span.line - 1][span.column - 1 :].startswith("6, 256, 2]")
    key = loaded.spans.key(("stages", "table"))
    assert text[key.line - 1][key.column - 1 :].startswith("table:")


def test_extends_merges_mappings_and_replaces_lists():
    loaded = load_spec(SPECS / "resnet101.yaml")
    spec = loaded.spec
    assert spec.name == "resnet101"
    assert [row[0] for row in spec.stages.table] == [3, 4, 23, 3]
    assert spec.stages.block == "bottleneck"  # inherited from resnet50.yaml
    assert spec.defaults["conv"] == {"bias": False}
    # the changed row's span is in resnet101.yaml, the inherited stem's in resnet50.yaml
    assert loaded.spans.value(("stages", "table", 2, 0)).file.endswith("resnet101.yaml")
    assert loaded.spans.value(("stem", 0)).file.endswith("resnet50.yaml")


def test_variants_are_short():
    for name in ("resnet101", "resnet152", "resnet34", "resnet18"):
        assert len((SPECS / f"{name}.yaml").read_text().splitlines()) <= 14  # with the schema and peer lines


def test_extends_missing_file(tmp_path):
    path = write(tmp_path, "a.yaml", "archspec: 1\nname: a\nextends: nowhere.yaml\n")
    assert codes(path) == [("AS105", 3)]


def test_extends_self_cycle(tmp_path):
    path = write(tmp_path, "a.yaml", "archspec: 1\nname: a\nextends: a.yaml\n")
    assert codes(path) == [("AS105", 3)]


def test_local_block_defined_in_yaml_needs_no_python(tmp_path):
    path = write(
        tmp_path,
        "tiny.yaml",
        """\
        archspec: 1
        name: tiny
        input: {channels: 3, size: [32, 32]}
        blocks:
          double:
            params: {width: null}
            let: {twice: width * 2}
            body:
              - {op: conv, name: conv1, filters: twice, kernel: 3, padding: 1}
              - {op: relu}
            shortcut:
              - when: in_channels != twice
                layers: [{op: conv, name: proj, filters: twice, kernel: 1}]
        stem:
          - {op: conv, name: stem, filters: 8, kernel: 3, padding: 1}
        stages:
          block: double
          columns: [depth, width]
          table:
            - [2, 8]
        head:
          - {op: global_avg_pool, name: pool}
          - {op: linear, name: fc, units: 10}
    """,
    )
    import archspec

    net = archspec.load(path)
    assert net.output_shape == (10,)
    assert net.node("layer1.0.conv1").shape == (16, 32, 32)
    assert "layer1.0.proj.weight" in net.state_dict_shapes()  # 8 -> 16 channels: projection
    assert "layer1.1.proj.weight" not in net.state_dict_shapes()  # 16 -> 16: identity


def test_use_file_and_duplicate_definitions(tmp_path):
    write(tmp_path, "b1.yaml", "archspec: 1\nblocks:\n  mine:\n    body: [{op: relu}]\n")
    write(tmp_path, "b2.yaml", "archspec: 1\nblocks:\n  mine:\n    body: [{op: relu}]\n")
    spec = write(tmp_path, "s.yaml", "archspec: 1\nname: s\nuse: [b1.yaml, b2.yaml]\n")
    assert codes(spec) == [("AS102", 3)]
    missing = write(tmp_path, "m.yaml", "archspec: 1\nname: m\nuse: [nothere.yaml]\n")
    assert codes(missing) == [("AS102", 3)]


@pytest.mark.parametrize(
    "content, code",
    [
        (b"", "AS101"),
        (b"- just\n- a list\n", "AS101"),
        (b"archspec: 1\nname: x\nname: y\n", "AS109"),
        (b"archspec: 1\nname: !!python/object:os.system x\n", "AS109"),
        (b"archspec: 1\nname: x\nstem: [\n", "AS109"),
        (b"archspec: 1\nname: \xff\xfe\n", "AS100"),
        (b"archspec: 1\nname: x\x00\n", "AS100"),
        (b"archspec: 2\nname: x\n", "AS101"),
        (b"archspec: 1\nname: x\ninput: {channels: 0}\n", "AS101"),
        (b"archspec: 1\nname: x\ninput: {size: [224, -3]}\n", "AS101"),
        (b"archspec: 1\nname: x\nstem: [{op: conv, filters: " + b"9" * 5000 + b", kernel: 3}]\n", "AS101"),
        (b"archspec: 1\nname: x\nstem: [{op: conv, filters: 1000000000000, kernel: 3}]\n", "AS101"),
        (b"archspec: 1\nname: 'not a name'\n", "AS101"),
    ],
)
def test_bad_input_is_a_diagnostic_never_a_traceback(tmp_path, content, code):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    found = lint_path(path)
    assert found and found[0].code == code, found
    assert found[0].span is not None and found[0].span.line >= 1


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + (SPECS / "resnet18.yaml")
        .read_bytes()
        .replace(b"extends: resnet34.yaml", b"extends: " + str(SPECS / "resnet34.yaml").encode())
    )
    assert lint_path(path) == []


def test_billion_laughs_is_refused(tmp_path):
    lines = ["archspec: 1", "name: lol", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    path = tmp_path / "lol.yaml"
    path.write_text("\n".join(lines) + "\n")
    found = lint_path(path)
    assert [d.code for d in found] == ["AS109"]
    assert "expands to more than" in found[0].message


def test_load_error_carries_diagnostics(tmp_path):
    path = write(tmp_path, "x.yaml", "archspec: 1\nname: x\nstges: []\n")
    with pytest.raises(ArchspecError) as info:
        load_spec(path)
    diag = info.value.diagnostics[0]
    assert (diag.code, diag.span.line, diag.span.column, diag.hint) == ("AS101", 3, 1, "did you mean 'stages'?")


def test_keys_that_look_like_internal_tags_are_plain_unknown_keys(tmp_path):
    # found by test_random_yaml_documents_never_raise: {'@': None}
    path = write(tmp_path, "at.yaml", "'@': null\n'@table': 1\n")
    found = [(d.code, d.message) for d in lint_path(path)]
    assert ("AS101", "unknown key '@'") in found and ("AS101", "unknown key '@table'") in found
