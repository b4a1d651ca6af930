"""All naming for generated code, in one place.

Every identifier that reaches generated source passes :func:`identifier`; every piece of
outside text (spec strings, file names and paths) that reaches a comment or a docstring passes
:func:`comment` / :func:`comment_lines` or :func:`docstring` / :func:`docstring_lines`, once,
where it is placed; every literal passes :func:`literal` (``repr`` underneath).  Text is kept
raw until then: a view model never holds text escaped for another context.
"""

from __future__ import annotations

import keyword
import math
import re
import textwrap

__all__ = [
    "NamingError",
    "identifier",
    "class_name",
    "comment",
    "comment_lines",
    "docstring",
    "docstring_lines",
    "literal",
]

_ASCII_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class NamingError(ValueError):
    pass


def identifier(name: str, reserved: frozenset[str] | set[str] = frozenset()) -> str:
    """``name`` if it is a plain ASCII Python identifier, not a keyword or soft keyword, not
    reserved by the generated module, and not a dunder; else :class:`NamingError`."""
    if not isinstance(name, str) or not _ASCII_IDENT.match(name):
        raise NamingError(f"{name!r} is not a plain ASCII Python identifier")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise NamingError(f"{name!r} is a Python keyword")
    if name.startswith("__") and name.endswith("__"):
        raise NamingError(f"{name!r} is a reserved (dunder) name")
    if name in reserved:
        raise NamingError(f"{name!r} would shadow a name the generated module uses")
    return name


def class_name(block_type: str) -> str:
    """``bottleneck_v1`` -> ``BottleneckV1``."""
    return "".join(part[:1].upper() + part[1:] for part in block_type.split("_") if part)


def _clean(text: str) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in text)


def comment(text: str, limit: int = 200) -> str:
    """Spec text made safe for a one-line ``#`` comment."""
    text = " ".join(_clean(str(text)).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def docstring(text: str) -> str:
    """Outside text made safe inside a (non-raw) triple-double-quoted docstring: one line,
    printable characters only, every backslash doubled (so ``\\N``, ``\\x`` and ``\\u`` stay
    text), and every double quote escaped that could close the string: runs of three or more,
    and a run at the end (the closing quotes may follow on the same line)."""
    text = " ".join(_clean(str(text)).split()).replace("\\", "\\\\")

    def quotes(match: re.Match[str]) -> str:
        run = match.group(0)
        return run.replace('"', '\\"') if len(run) >= 3 or match.end() == len(text) else run

    return _QUOTE_RUN.sub(quotes, text)


_QUOTE_RUN = re.compile(r'"+')


def _wrap(text: str, width: int) -> list[str]:
    # Escapes hold no whitespace, and words are never broken: a wrap cannot split an escape.
    return textwrap.wrap(text, width=max(width, 20), break_long_words=False, break_on_hyphens=False) or [""]


def docstring_lines(text: str, width: int) -> list[str]:
    """Outside text escaped for a docstring (:func:`docstring`), wrapped to ``width``."""
    return [docstring(line) for line in _wrap(" ".join(_clean(str(text)).split()), width)]


def comment_lines(text: str, width: int) -> list[str]:
    """Outside text escaped for ``#`` comments (:func:`comment`, no length cut), wrapped."""
    return _wrap(comment(text, limit=10**9), width)


def literal(value: object) -> str:
    """Python source for a literal value (numbers, booleans, None, strings, tuples, lists)."""
    if isinstance(value, float):
        if math.isinf(value):
            return 'float("-inf")' if value < 0 else 'float("inf")'
        if math.isnan(value):
            raise NamingError("NaN cannot be emitted")
        return repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise NamingError(f"cannot emit a literal of type {type(value).__name__}")
