"""A small, safe evaluator for arithmetic on block arguments (``width * 4``).

The text is parsed with :func:`ast.parse` (which only parses, it never runs code) and the
tree is checked against a short allow-list before a tree-walking interpreter evaluates it.
Nothing is ever handed to ``eval``/``exec``.  Allowed:

- integer, float and boolean literals; names of block parameters and derived values;
- ``+ - * // % /`` (``/`` only when the result is a whole number), unary ``-`` and ``+``;
- comparisons (``== != < <= > >=``), ``and``, ``or``, ``not``, ``a if cond else b``;
- indexing a list argument with a constant (``filters[1]``);
- the functions ``min``, ``max`` and ``round_to(value, multiple)``.

Every intermediate value is bounded (``MAX_MAGNITUDE``) so that ``10 ** 12``-style blowups
and huge literals are refused with a clear message.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MAX_LENGTH = 256
MAX_MAGNITUDE = 2**31
MAX_DEPTH = 32

Value = int | float | bool | list


class ExprError(ValueError):
    """An expression that cannot be parsed, is not allowed, or cannot be evaluated."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


_BINOPS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Div: "/",
}
_CMPOPS = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_FUNCS = {"min", "max", "round", "round_to"}


def _round_to(value: int, multiple: int) -> int:
    """Round ``value`` to the nearest multiple of ``multiple`` (at least ``multiple``)."""
    if multiple <= 0:
        raise ExprError("round_to needs a positive multiple")
    return max(multiple, int(value + multiple / 2) // multiple * multiple)


@dataclass(frozen=True)
class Expr:
    """A parsed, checked expression."""

    text: str
    tree: ast.expr

    @property
    def names(self) -> set[str]:
        return {n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name) and n.id not in _FUNCS}

    def evaluate(self, env: Mapping[str, Any]) -> Value:
        return _eval(self.tree, env, 0)

    def to_python(self) -> str:
        """The expression as Python source (the allow-list is a subset of Python)."""
        return ast.unparse(self.tree)


def parse(text: str) -> Expr:
    if not isinstance(text, str):
        raise ExprError(f"expected an expression string, got {type(text).__name__}")
    return _parse(text)


@lru_cache(maxsize=4096)
def _parse(text: str) -> Expr:
    """Parse and check once per distinct text (an :class:`Expr` is immutable; errors are
    raised again on every call, as they are not cached)."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression is longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise ExprError("empty expression")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        msg = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        raise ExprError(f"cannot parse expression {text!r}: {msg}") from None
    _check(tree.body, 0)
    return Expr(text.strip(), tree.body)


def _check(node: ast.AST, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ExprError("expression is nested too deeply")
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or isinstance(node.value, (int, float)):
            if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
                if not math.isfinite(node.value) or abs(node.value) > MAX_MAGNITUDE:
                    raise ExprError(f"number {node.value!r} is out of range (|x| <= {MAX_MAGNITUDE})")
            return
        raise ExprError(f"literal {node.value!r} is not allowed in an expression")
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise ExprError(f"name {node.id!r} is not allowed")
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise ExprError(
                f"operator {type(node.op).__name__} is not allowed",
                hint="use + - * // % / and parentheses",
            )
        _check(node.left, depth + 1)
        _check(node.right, depth + 1)
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            raise ExprError(f"operator {type(node.op).__name__} is not allowed")
        _check(node.operand, depth + 1)
        return
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, depth + 1)
        return
    if isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _CMPOPS:
                raise ExprError(f"comparison {type(op).__name__} is not allowed")
        _check(node.left, depth + 1)
        for comp in node.comparators:
            _check(comp, depth + 1)
        return
    if isinstance(node, ast.IfExp):
        _check(node.test, depth + 1)
        _check(node.body, depth + 1)
        _check(node.orelse, depth + 1)
        return
    if isinstance(node, ast.Subscript):
        if not isinstance(node.value, ast.Name):
            raise ExprError("only a parameter can be indexed, as in filters[1]")
        index = node.slice
        if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub):
            index = index.operand
        if not (isinstance(index, ast.Constant) and type(index.value) is int):
            raise ExprError("an index must be a whole-number constant, as in filters[1]")
        return
    if isinstance(node, ast.Call):
        if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCS):
            raise ExprError("function calls are not allowed", hint=f"allowed functions: {', '.join(sorted(_FUNCS))}")
        if node.keywords:
            raise ExprError("keyword arguments are not allowed")
        for arg in node.args:
            _check(arg, depth + 1)
        return
    raise ExprError(f"{type(node).__name__} is not allowed in an expression")


def _bounded(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ExprError("result is not a finite number")
        if abs(value) > MAX_MAGNITUDE:
            raise ExprError(f"intermediate value {value} is out of range (|x| <= {MAX_MAGNITUDE})")
    return value


def _number(value: Any, what: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExprError(f"{what} must be a number, got {_describe(value)}")
    return value


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return f"a list {value!r}"
    return repr(value)


def _eval(node: ast.AST, env: Mapping[str, Any], depth: int) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in env:
            known = ", ".join(sorted(env)) or "none"
            raise ExprError(f"unknown name {node.id!r}", hint=f"names in scope: {known}")
        return env[node.id]
    if isinstance(node, ast.BinOp):
        left = _number(_eval(node.left, env, depth + 1), "an operand")
        right = _number(_eval(node.right, env, depth + 1), "an operand")
        op = type(node.op)
        if op in (ast.FloorDiv, ast.Mod, ast.Div) and right == 0:
            raise ExprError("division by zero")
        if op is ast.Add:
            result = left + right
        elif op is ast.Sub:
            result = left - right
        elif op is ast.Mult:
            result = left * right
        elif op is ast.FloorDiv:
            result = left // right
        elif op is ast.Mod:
            result = left % right
        else:
            result = left / right
            if isinstance(left, int) and isinstance(right, int):
                if left % right:
                    raise ExprError(f"{left} / {right} is not a whole number", hint="use // for floor division")
                result = left // right
        return _bounded(result)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, env, depth + 1)
        if isinstance(node.op, ast.Not):
            return not value
        value = _number(value, "an operand")
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for value in node.values:
                result = _eval(value, env, depth + 1)
                if not result:
                    return result
            return result
        result = False
        for value in node.values:
            result = _eval(value, env, depth + 1)
            if result:
                return result
        return result
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env, depth + 1)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, env, depth + 1)
            ok = {
                ast.Eq: lambda a, b: a == b,
                ast.NotEq: lambda a, b: a != b,
                ast.Lt: lambda a, b: _number(a, "a comparison operand") < _number(b, "a comparison operand"),
                ast.LtE: lambda a, b: _number(a, "a comparison operand") <= _number(b, "a comparison operand"),
                ast.Gt: lambda a, b: _number(a, "a comparison operand") > _number(b, "a comparison operand"),
                ast.GtE: lambda a, b: _number(a, "a comparison operand") >= _number(b, "a comparison operand"),
            }[type(op)](left, right)
            if not ok:
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        if _eval(node.test, env, depth + 1):
            return _eval(node.body, env, depth + 1)
        return _eval(node.orelse, env, depth + 1)
    if isinstance(node, ast.Subscript):
        seq = _eval(node.value, env, depth + 1)
        index_node = node.slice
        index = -index_node.operand.value if isinstance(index_node, ast.UnaryOp) else index_node.value
        if not isinstance(seq, list):
            raise ExprError(f"{ast.unparse(node.value)} is not a list, it cannot be indexed")
        if not -len(seq) <= index < len(seq):
            raise ExprError(f"index {index} is out of range for {ast.unparse(node.value)} (length {len(seq)})")
        return seq[index]
    if isinstance(node, ast.Call):
        args = [_number(_eval(a, env, depth + 1), "a function argument") for a in node.args]
        name = node.func.id
        if name == "round":
            if len(args) != 1:
                raise ExprError("round takes one argument: round(value), to the nearest whole number (halves to even)")
            return _bounded(round(args[0]))
        if name == "round_to":
            if len(args) != 2:
                raise ExprError("round_to takes two arguments: round_to(value, multiple)")
            return _bounded(_round_to(*args))
        if not args:
            raise ExprError(f"{name} needs at least one argument")
        return min(args) if name == "min" else max(args)
    raise ExprError(f"{type(node).__name__} is not allowed in an expression")  # pragma: no cover


def evaluate(text: str, env: Mapping[str, Any]) -> Value:
    return parse(text).evaluate(env)


def format_pattern(pattern: str, env: Mapping[str, Any]) -> str:
    """Fill a naming pattern such as ``conv{stage + 1}_block{block}``.

    Each ``{...}`` holds an expression evaluated with :func:`evaluate`; ``{{`` and ``}}``
    stand for literal braces.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "{":
            if pattern.startswith("{{", i):
                out.append("{")
                i += 2
                continue
            end = pattern.find("}", i)
            if end < 0:
                raise ExprError(f"unclosed '{{' in naming pattern {pattern!r}")
            value = evaluate(pattern[i + 1 : end], env)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ExprError(f"naming pattern field {{{pattern[i + 1 : end]}}} must be a whole number")
            out.append(str(value))
            i = end + 1
        elif ch == "}":
            if pattern.startswith("}}", i):
                out.append("}")
                i += 2
                continue
            raise ExprError(f"unmatched '}}' in naming pattern {pattern!r}")
        else:
            out.append(ch)
            i += 1
    return "".join(out)
