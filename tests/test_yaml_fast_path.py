"""The loader's fast path (libyaml's events) reads every document it takes exactly as the
round-trip loader (ruamel) does, the same data and the same spans, and leaves to ruamel every
document it cannot be sure of; the diagnostics are byte-identical either way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT

from archspec.cli import main
from archspec.diagnostics import ArchspecError
from archspec.spec import load, yamlsrc

FIXTURES = sorted((ROOT / "tests" / "fixtures").rglob("*.yaml")) + sorted((ROOT / "tests" / "hostile").glob("*.yaml"))
SHIPPED = sorted((ROOT / "specs").rglob("*.yaml")) + sorted((ROOT / "archspec" / "library" / "blocks").glob("*.yaml"))


def _both(text: str):
    """(fast, round trip): each ``("ok", data, values, keys)``, ``("error", messages)`` or, for
    the fast path, ``("fallback",)``."""

    def outcome(parse):
        try:
            data, spans = parse(text, "doc.yaml")
        except ArchspecError as exc:
            return ("error", [str(d.message) for d in exc.diagnostics])
        except yamlsrc.FallBack:
            return ("fallback",)
        return ("ok", data, spans.values, spans.keys)

    return outcome(yamlsrc.parse_fast), outcome(yamlsrc.parse_round_trip)


@pytest.mark.parametrize("path", FIXTURES + SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_fast_path_reads_what_ruamel_reads(path):
    try:
        text = yamlsrc.read_text(path, path.name)
    except ArchspecError:
        return  # refused before parsing (not UTF-8, NUL bytes): neither loader sees it
    fast, slow = _both(text)
    if fast != ("fallback",):
        assert fast == slow


def test_a_large_document_takes_the_fast_path(monkeypatch):
    """Above the size where it pays, parse_yaml reads through libyaml (ruamel is not called)."""
    text = "blocks:\n" + "".join(f"  - {{args: {{width: {i}, name: b{i}}}}}\n" for i in range(2000))
    assert len(text) >= yamlsrc.FAST_PATH_MIN_CHARS

    def refuse(*args):
        raise AssertionError("the round-trip loader was called")

    monkeypatch.setattr(yamlsrc, "parse_round_trip", refuse)
    data, spans = yamlsrc.parse_yaml(text, "big.yaml")
    assert data["blocks"][1999] == {"args": {"width": 1999, "name": "b1999"}}
    assert spans.values[("blocks", 1999, "args", "width")].line == 2001


def test_the_fast_path_takes_every_shipped_document():
    """Not a path that always falls back: every catalog spec and block file goes through it."""
    for path in SHIPPED:
        fast, _ = _both(path.read_text(encoding="utf-8"))
        assert fast[0] == "ok", path


@pytest.mark.parametrize(
    "text",
    [
        "a: 1_conv\nb: 0_bn\nc: layer{stage}\n",  # text that starts with a digit
        "a: yes\nb: no\nc: on\nd: Off\ne: y\n",  # text in YAML 1.2, booleans in 1.1
        "a: 010\nb: 0o10\nc: 0x1f\nd: 1_000\ne: +5\n",  # octal, hex, underscores, a sign
        "a: 1e5\nb: .5\nc: 1.\nd: -0.25\ne: 1.0e-5\nf: .inf\ng: .nan\n",
        "a: ~\nb: null\nc:\nd: [1, , 2]\n",  # null and empty values
        "a: 2001-12-14\nb: 2001-12-14 21:59:43.10 -5\n",  # timestamps
        "a: &x {b: 1}\nc: *x\n<<: {d: 2}\n",  # anchors, aliases, merge keys
        "a: 'quoted'\nb: \"dq\\n\"\nc: |\n  literal\n  text\nd: >-\n  folded\n  text\ne: ''\n",
        "a: !!str 1\nb: !custom x\n",  # tags
        "%YAML 1.1\n---\na: yes\n",  # a directive
        "a: 1\na: 2\n",  # a duplicate key
        "1: a\ntrue: b\n",  # keys that are not text
        "a: b\n---\nc: d\n",  # two documents
        "a: [1, 2\n",  # an error
        "a: 12345678901234567890123\n",  # an integer out of range
        "a:\n  - b: 1\n    c: [x, y]\n  -   - 2\n      - 3\n",  # nested block collections
        "key: caf\u00e9 \u00fcber\nnel: a\u0085b\n",  # non-ASCII text, a NEL
        "- a\n- b\n",  # a list document
        "",  # empty
        "# only a comment\n",
        "a: b # comment\r\nc: d\r\n",  # CRLF
    ],
)
def test_edge_cases_agree_or_fall_back(text):
    fast, slow = _both(text)
    assert fast == ("fallback",) or fast == slow, (fast, slow)


def _lint_output(path: Path, fmt: str, capsys) -> tuple[int, str, str]:
    load._read_block_file.cache_clear()  # block files are read (and parsed) again
    code = main(["lint", str(path), "--format", fmt, "--isolated"])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_diagnostics_are_byte_identical_on_both_paths(path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(yamlsrc, "FAST_PATH_MIN_CHARS", 0)  # every document, however small
    rel = path.relative_to(ROOT)
    fast = {fmt: _lint_output(rel, fmt, capsys) for fmt in ("text", "json")}
    monkeypatch.setattr(yamlsrc, "FAST_PATH", False)
    slow = {fmt: _lint_output(rel, fmt, capsys) for fmt in ("text", "json")}
    load._read_block_file.cache_clear()
    assert fast == slow
    json.loads(fast["json"][1])  # the report is a real one
