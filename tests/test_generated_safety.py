"""Generated code is inert: only expected syntax, only torch/keras imports, no dangerous names;
spec text reaches it only as escaped string constants; importing it has no side effect."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest
from conftest import ROOT

import archspec

GENERATED = sorted((ROOT / "generated").glob("*/*.py"))

ALLOWED_NODES = {
    "Module",
    "Import",
    "ImportFrom",
    "alias",
    "ClassDef",
    "FunctionDef",
    "arguments",
    "arg",
    "Return",
    "Assign",
    "AugAssign",
    "AnnAssign",
    "Expr",
    "Call",
    "keyword",
    "Attribute",
    "Name",
    "Constant",
    "If",
    "For",  # forward_stages: for index, stage in enumerate(stages)
    "IfExp",
    "Compare",
    "BoolOp",
    "BinOp",
    "UnaryOp",
    "Tuple",
    "List",
    "Dict",
    "Subscript",
    "Slice",  # x[:, start:stop] (a channel slice)
    "Starred",  # super().__init__(*args, **kwargs) in a helper layer
    "Raise",
    "JoinedStr",
    "FormattedValue",
    "Load",
    "Store",
    "And",
    "Or",
    "Not",
    "Add",
    "Sub",
    "Mult",
    "Div",
    "FloorDiv",
    "Mod",
    "USub",
    "UAdd",
    "Eq",
    "NotEq",
    "Lt",
    "LtE",
    "Gt",
    "GtE",
    "Is",
    "IsNot",
    "In",
    "BitOr",  # only in annotations: list[int] | None
}
ALLOWED_IMPORTS = {
    "import torch",
    "import torch.nn.functional as F",
    "from torch import nn",
    "import keras",
    "from keras import layers",
    "from keras import layers, ops",
}
FORBIDDEN_NAMES = {
    "eval",
    "exec",
    "compile",
    "open",
    "__import__",
    "globals",
    "locals",
    "vars",
    "getattr",
    "setattr",
    "delattr",
    "os",
    "sys",
    "subprocess",
    "importlib",
    "builtins",
    "breakpoint",
    "input",
}


#: what the inference forms' folding code adds (archspec build --inference: PyTorch's
#: _fold_batchnorm() finds modules by their path, Keras' fuse_for_inference() clones the model):
#: template code, which reads the spec's names only as the string constants checked here
INFERENCE_NODES = {"Try", "ExceptHandler", "DictComp", "comprehension", "Pow", "Continue"}
INFERENCE_NAMES = {"getattr", "setattr"}


def _check_tree(source: str, inference: bool = False) -> ast.Module:
    tree = ast.parse(source)
    allowed = ALLOWED_NODES | (INFERENCE_NODES if inference else set())
    forbidden = FORBIDDEN_NAMES - (INFERENCE_NAMES if inference else set())
    for node in ast.walk(tree):
        assert type(node).__name__ in allowed, f"unexpected syntax: {ast.dump(node)[:120]}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            assert ast.unparse(node) in ALLOWED_IMPORTS, ast.unparse(node)
        if isinstance(node, ast.Name):
            assert node.id not in forbidden, node.id
        if isinstance(node, ast.Attribute):
            assert not (node.attr.startswith("__") and node.attr != "__init__"), node.attr
    # module level: docstring, imports, classes, functions, and constant assignments only
    for stmt in tree.body:
        assert isinstance(stmt, (ast.Expr, ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef, ast.Assign))
        if isinstance(stmt, ast.Expr):
            assert isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)
    return tree


@pytest.mark.parametrize("path", GENERATED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_generated_files_use_only_expected_syntax(path):
    _check_tree(path.read_text())


HOSTILE_DOC = 'x""" + __import__("os").system("touch PWNED") + """\\nimport os\\n\\x1b[31m #'


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_hostile_spec_text_is_emitted_inertly(tmp_path, backend):
    spec = tmp_path / "inert.yaml"
    spec.write_text(_spec_text())
    source = archspec.emit(spec, backend=backend)
    tree = _check_tree(source)
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert any("__import__" in s for s in strings)  # the text is there, as a string constant only
    assert "\x1b" not in source  # control characters never reach the file
    # importing the module (and building the model) has no side effect
    script = (
        "import os, sys, types\n"
        f"src = open({str(tmp_path / 'gen.py')!r}).read()\n"
        "m = types.ModuleType('gen'); exec(compile(src, 'gen.py', 'exec'), m.__dict__)\n"
        "print(sorted(os.listdir('.')))\n"
    )
    (tmp_path / "gen.py").write_text(source)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=work, capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert not (work / "PWNED").exists() and not (tmp_path / "PWNED").exists()


def _spec_text() -> str:
    doc = HOSTILE_DOC.replace("\\", "\\\\").replace('"', '\\"')
    return (
        "archspec: 1\n"
        "name: inert\n"
        f'doc: "{doc}"\n'
        "input: {channels: 3, size: [16, 16]}\n"
        "blocks:\n"
        "  odd:\n"
        '    doc: \'""" ); import os; ("""\'\n'
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
