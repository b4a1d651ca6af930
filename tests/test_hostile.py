"""Hostile input (tests/hostile/): every file is refused with a clear diagnostic and the
right exit code, never a traceback; nothing is written; internal errors exit 3."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from archspec import cli
from archspec.cli import main

HOSTILE = ROOT / "tests" / "hostile"

EXPECTED = {
    # file: (exit code, first diagnostic code)
    "alias_string_bomb.yaml": (1, "AS109"),
    "billion_laughs.yaml": (1, "AS109"),
    "block_param_self.yaml": (1, "AS108"),
    "comment_only.yaml": (1, "AS101"),
    "custom_tag.yaml": (1, "AS109"),
    "deep_nesting.yaml": (1, "AS109"),
    "duplicate_keys.yaml": (1, "AS109"),
    "empty.yaml": (1, "AS101"),
    "expression_attribute.yaml": (1, "AS104"),
    "expression_lambda.yaml": (1, "AS104"),
    "extends_missing.yaml": (1, "AS105"),
    "extends_self.yaml": (1, "AS105"),
    "extends_symlink_loop.yaml": (1, "AS105"),
    "huge_int.yaml": (1, "AS101"),
    "keras_name_injection.yaml": (1, "AS101"),
    "list_document.yaml": (1, "AS101"),
    "name_dunder_import.yaml": (1, "AS101"),
    "name_injection.yaml": (1, "AS101"),
    "name_keyword.yaml": (1, "AS108"),
    "name_lookalike.yaml": (1, "AS101"),
    "name_newline.yaml": (1, "AS101"),
    "negative_kernel.yaml": (1, "AS101"),
    "network_name_keyword.yaml": (1, "AS108"),
    "non_utf8.yaml": (2, "AS100"),
    "nul_bytes.yaml": (2, "AS100"),
    "power_expression.yaml": (1, "AS104"),
    "python_tag.yaml": (1, "AS109"),
    "scalar_document.yaml": (1, "AS101"),
    "too_many_blocks.yaml": (1, "AS101"),
    "trillion_filters.yaml": (1, "AS101"),
    "use_symlink_loop.yaml": (1, "AS102"),
    "utf16.yaml": (2, "AS100"),
    "zero_depth.yaml": (1, "AS101"),
    "zero_size.yaml": (1, "AS101"),
    # lint clean, build broken (issue 12, item 2): each is now an error at its spec line
    "stage_name_module_attr.yaml": (1, "AS108"),
    "stage_name_keyword.yaml": (1, "AS108"),
    "stage_name_private.yaml": (1, "AS108"),
    "stage_name_head_layer.yaml": (1, "AS108"),
    "stem_layer_stage_name.yaml": (1, "AS108"),
    "layer_name_torch_hook.yaml": (1, "AS108"),
    "layer_name_private.yaml": (1, "AS108"),
    "class_name_helper.yaml": (1, "AS108"),
    "class_name_model.yaml": (1, "AS108"),
    "class_name_builtin.yaml": (1, "AS108"),
    "network_name_helper_class.yaml": (1, "AS108"),
    "block_type_local.yaml": (1, "AS108"),
    "var_expression_function.yaml": (1, "AS108"),
    "var_module_name.yaml": (1, "AS108"),
    "network_named_like_block.yaml": (1, "AS108"),
    "keras_pattern_slash.yaml": (1, "AS108"),
    "shortcut_cases_one_name.yaml": (1, "AS107"),
    "avgpool_asymmetric_exclude_pad.yaml": (1, "AS405"),
    "unused_block_unknown_op.yaml": (1, "AS103"),
    "merge_when.yaml": (1, "AS101"),
}


def test_every_hostile_file_has_an_expectation():
    assert sorted(p.name for p in HOSTILE.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_input_is_a_diagnostic(name, capsys):
    exit_code, code = EXPECTED[name]
    assert main(["lint", str(HOSTILE / name), "--format", "json"]) == exit_code
    found = json.loads(capsys.readouterr().out)
    assert found[0]["code"] == code
    assert found[0]["line"] >= 1 and found[0]["message"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_input_builds_nothing(name, tmp_path, capsys):
    assert main(["build", str(HOSTILE / name), "--backend", "torch", "-o", str(tmp_path)]) in (1, 2)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    assert list(tmp_path.iterdir()) == []


def test_directory_is_a_usage_error(capsys):
    assert main(["summary", str(HOSTILE)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_oversized_file_is_refused(tmp_path, capsys):
    big = tmp_path / "big.yaml"
    big.write_text("archspec: 1\nname: big\n" + "# padding\n" * 120_000)
    assert main(["lint", str(big)]) == 2
    assert "specs are limited to 1,000,000" in capsys.readouterr().out


def test_internal_error_exits_3_with_a_short_message(monkeypatch, capsys):
    def boom(args):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(cli, "cmd_lint", boom)
    assert main(["lint", "specs/resnet50.yaml"]) == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: simulated bug" in err and "please report" in err
    assert "Traceback" not in err
    assert main(["--debug", "lint", "specs/resnet50.yaml"]) == 3
    assert "Traceback" in capsys.readouterr().err
