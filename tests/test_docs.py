"""Generated documentation stays fresh: docs/catalog.md and docs/rules.md equal what
`archspec docs` would write now."""

from __future__ import annotations

import os

from conftest import ROOT, SPECS

from archspec.docs import documents


def test_generated_docs_are_fresh():
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        for path, text in documents(sorted(SPECS.glob("*.yaml"))).items():
            assert (ROOT / path).read_text() == text, f"{path} is stale: run `archspec docs`"
    finally:
        os.chdir(cwd)


def test_catalog_lists_every_spec_with_its_figures():
    text = (ROOT / "docs" / "catalog.md").read_text()
    for spec in SPECS.glob("*.yaml"):
        assert f"(../specs/{spec.name})" in text
    assert "| 25,557,032 | 4,089,238,376 | `torchvision.models.resnet50` |" in text
