"""The JSON Schema validates every shipped spec and example, and rejects what the loader rejects."""

from __future__ import annotations

import json

import jsonschema
import pytest
from conftest import FIXTURES, ROOT, SPECS
from ruamel.yaml import YAML

from archspec.schema import block_file_schema, spec_schema

YAML_LOADER = YAML(typ="safe", pure=True)
VALIDATOR = jsonschema.Draft202012Validator(spec_schema())
GOOD = (
    sorted(SPECS.glob("*.yaml"))
    + sorted((SPECS / "examples").glob("*.yaml"))
    + sorted((FIXTURES / "seeds").glob("*.yaml"))
)


def test_schemas_are_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(spec_schema())
    jsonschema.Draft202012Validator.check_schema(block_file_schema())
    assert spec_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_schema_accepts_shipped_specs(path):
    errors = list(VALIDATOR.iter_errors(YAML_LOADER.load(path.read_text())))
    assert not errors, errors[0].message


@pytest.mark.parametrize(
    "path", sorted((ROOT / "archspec" / "library" / "blocks").glob("*.yaml")), ids=lambda p: p.stem
)
def test_block_schema_accepts_the_library(path):
    validator = jsonschema.Draft202012Validator(block_file_schema())
    assert not list(validator.iter_errors(YAML_LOADER.load(path.read_text())))


@pytest.mark.parametrize("name", ["AS101_unknown_key", "AS101_schema_error", "AS103_unknown_op"])
def test_schema_rejects_schema_errors(name):
    data = YAML_LOADER.load((FIXTURES / "rules" / f"{name}.yaml").read_text())
    assert list(VALIDATOR.iter_errors(data))


def test_cli_prints_the_schema(capsys):
    from archspec.cli import main

    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"].startswith("archspec spec")
