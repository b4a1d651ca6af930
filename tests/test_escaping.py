"""Outside text reaches generated code through one escaping function per context.

Every piece of text that comes from outside archspec (the spec file's name and folder, every
spec string that is not an identifier) is fuzzed here through each context it can reach:

- docstrings (the network's and a block type's ``doc:``, the Keras module header that names
  the spec file, the PyTorch module docstring that names it);
- ``#`` comments (the PyTorch header that names the spec file);
- string literals (Keras layer names come from patterns; they are checked by AS108 and reach
  the code through ``repr``).

For both backends the output must compile, contain only inert syntax (the same walk as
``test_generated_safety``), keep the text readable (the escaped text decodes back to the
cleaned original), and importing it must execute nothing.  ``archspec check`` imports the
generated modules inside archspec, so it is run on a spec whose file name carries a payload.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tokenize
from io import StringIO
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_generated_safety import _check_tree

import archspec
from archspec.backends import naming

# Fragments a hostile or careless user would put in a name or a doc string: quotes that close
# a docstring, escapes that the tokenizer rejects or decodes, comment and line breaks of every
# kind, template syntax, and a payload that would run if it ever became code.
FRAGMENTS = [
    '"""',
    "'''",
    '"',
    "'",
    "\\",
    "\\N",
    "\\N{",
    "\\x",
    "\\x4",
    "\\u12",
    "\\U0001",
    "\\0",
    "#",
    "\n",
    "\r",
    "\t",
    "\x0b",
    "\x0c",
    "\x1b[31m",
    "\x85",
    "\u2028",
    "\u2029",
    "{{ x }}",
    "{% raw %}",
    "${x}",
    "%s",
    " ",
    "é",
    "名前",
    "\U0001f600",
    "\u202e",  # right-to-left override
    '__import__("os").system("touch PWNED")',
    ") ; import os ; (",
]
PAYLOAD = '"""+__import__("os").system("touch PWNED")+"""'

hostile_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(min_size=1, max_size=4)), min_size=1, max_size=8
).map("".join)
# A file or folder name: no '/', no NUL, not '.' or '..', at most 200 bytes.
hostile_filename = (
    hostile_text.map(lambda s: s.replace("/", "_").replace("\x00", "_"))
    .filter(lambda s: s not in {".", ".."} and not s.startswith("-"))
    .filter(lambda s: 0 < len(os.fsencode(s) if _encodable(s) else b"x" * 999) <= 200)
)


def _encodable(text: str) -> bool:
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        return False
    return True


def _yaml_string(text: str) -> str:
    """``text`` as a double-quoted YAML scalar (every character escaped, so YAML gives it back)."""
    return '"' + "".join(f"\\U{ord(ch):08x}" for ch in text) + '"'


def _spec(doc: str = "A network.", block_doc: str = "A block.") -> str:
    return (
        "archspec: 1\n"
        "name: inert\n"
        f"doc: {_yaml_string(doc)}\n"
        "input: {channels: 3, size: [16, 16]}\n"
        "blocks:\n"
        "  odd:\n"
        f"    doc: {_yaml_string(block_doc)}\n"
        "    params: {width: null}\n"
        "    body:\n"
        "      - {op: conv, name: conv1, filters: width, kernel: 3, padding: 1}\n"
        "      - {op: relu}\n"
        "stem:\n"
        "  - {op: conv, name: conv1, filters: 8, kernel: 3, padding: 1}\n"
        "stages:\n"
        "  block: odd\n"
        "  columns: [depth, width]\n"
        "  table: [[1, 8]]\n"
        "head:\n"
        "  - {op: global_avg_pool, name: pool}\n"
        "  - {op: linear, name: fc, units: 2}\n"
    )


def _flat(text: str) -> str:
    """What a reader sees of outside text in generated code: printable characters, one space
    between words (the escaping functions promise exactly this much of the original)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _strings(tree: ast.Module) -> list[str]:
    return [
        " ".join(n.value.split()) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def _comments(source: str) -> str:
    tokens = tokenize.generate_tokens(StringIO(source).readline)
    return " ".join(" ".join(t.string[1:].split()) for t in tokens if t.type == tokenize.COMMENT)


#: each generated form: the backends' default modules and their inference forms
FORMS = [("torch", False), ("keras", False), ("torch", True), ("keras", True)]


def _emit_checked(spec: Path, backend: str, inference: bool = False) -> tuple[str, ast.Module]:
    if inference:
        from archspec.backends import get_backend
        from archspec.pipeline import checked_network

        source = get_backend(backend).emit(checked_network(spec), inference=True)
    else:
        source = archspec.emit(spec, backend=backend)
    tree = _check_tree(source, inference)  # compiles, inert syntax only, expected imports only
    return source, tree


# -- the escaping functions themselves ------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_docstring_escaping_round_trips_through_the_tokenizer(text):
    for width in (20, 60, 200):
        lines = naming.docstring_lines(text, width)
        for single in (len(lines) == 1, False):
            body = f'"""{lines[0]}"""' if single else '"""' + "\n    ".join(lines) + '\n"""'
            source = f"{body}\nx = 1\n"
            tree = ast.parse(source)  # no SyntaxError for \N, \x, closing quotes...
            assert len(tree.body) == 2  # ...and nothing but the string and x = 1
            value = tree.body[0].value.value
            assert " ".join(value.split()) == _flat(text)


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_comment_escaping_stays_one_comment_per_line(text):
    lines = naming.comment_lines(text, 40)
    source = "".join(f"# {line}\n" for line in lines) + "x = 1\n"
    tree = ast.parse(source)
    assert len(tree.body) == 1
    assert _comments(source) == _flat(text)


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_literal_escaping_round_trips(text):
    assert ast.literal_eval(naming.literal(text)) == text


# -- every context, through both backends ------------------------------------------------------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(folder=hostile_filename, stem=hostile_filename, doc=hostile_text, block_doc=hostile_text)
@pytest.mark.parametrize("backend,inference", FORMS)
def test_outside_text_reaches_generated_code_inertly(
    tmp_path_factory, backend, inference, folder, stem, doc, block_doc
):
    base = tmp_path_factory.mktemp("names")
    spec = base / folder / f"{stem}.yaml"
    try:
        spec.parent.mkdir(parents=True, exist_ok=True)
        spec.write_text(_spec(doc, block_doc), encoding="utf-8")
    except (OSError, UnicodeEncodeError):
        return  # the file system refuses this name: nothing a user could hand archspec
    source, tree = _emit_checked(spec, backend, inference)
    strings = " ".join(_strings(tree))
    assert _flat(doc) in strings and _flat(block_doc) in strings
    # the spec's file name is named in the provenance text (a docstring or comments)
    provenance = strings if backend == "keras" else _comments(source)
    assert _flat(stem + ".yaml") in provenance


HOSTILE_NAMES = [
    PAYLOAD,
    f"x{PAYLOAD}",
    "\\N{LATIN SMALL LETTER A}\\x41\\u0041",
    'ends with a quote"',
    '""""""',
    "\\",
    "line\nbreak\rand\u2028separators",
]


@pytest.mark.parametrize("backend,inference", FORMS)
def test_hostile_file_names_build_and_import_without_side_effects(tmp_path, backend, inference):
    modules = []
    for index, name in enumerate(HOSTILE_NAMES):
        folder = tmp_path / f"spec{index}"
        folder.mkdir()
        spec = folder / f"{name}.yaml"
        spec.write_text(_spec(), encoding="utf-8")
        source, _ = _emit_checked(spec, backend, inference)
        (tmp_path / f"gen{index}.py").write_text(source, encoding="utf-8")
        modules.append(str(tmp_path / f"gen{index}.py"))
    work = tmp_path / "work"
    work.mkdir()
    script = (
        "import importlib.util, os, sys\n"
        f"for index, path in enumerate({modules!r}):\n"
        "    spec = importlib.util.spec_from_file_location(f'gen{index}', path)\n"
        "    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(sorted(os.listdir('.')))\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=work, capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"  # nothing written where the modules were imported
    assert not any(p.name == "PWNED" for p in tmp_path.rglob("*"))


def test_check_on_a_hostile_file_name_runs_nothing(tmp_path):
    """``archspec check`` imports both generated modules inside archspec: the file name's
    payload must stay text there too (the check itself must pass)."""
    spec = tmp_path / f"{PAYLOAD}.yaml"
    spec.write_text(_spec(), encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "archspec", "check", str(spec), "--input-size", "16"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not any(p.name == "PWNED" for p in tmp_path.rglob("*"))
    assert not (ROOT / "PWNED").exists()
