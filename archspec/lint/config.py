"""Lint configuration: ``[tool.archspec]`` in ``pyproject.toml``, or an ``archspec.toml``.

As with ruff, the configuration of a spec is the closest one found walking up from the
spec's folder: in each folder an ``archspec.toml`` (settings at the top level) wins over a
``pyproject.toml``, and a ``pyproject.toml`` counts only when it has a ``[tool.archspec]``
table.  ``--config PATH`` names the file for every spec; ``--isolated`` ignores them all.

Settings (all optional)::

    [tool.archspec]
    select = ["AS"]                 # codes or prefixes (AS2, AS204); default: every rule
    extend-select = ["AS9"]         # added to select
    ignore = ["AS403"]              # codes or prefixes, never reported
    strict = true                   # exit 1 on warnings too
    input-size = [160, 160]         # default --input-size (or one number)
    output-format = "github"        # text, json, github or sarif

    [tool.archspec.per-file-ignores]
    "legacy/*.yaml" = ["AS204"]     # globs relative to the configuration file's folder

    [tool.archspec.severity]        # per-rule severity: error, warning or info
    AS403 = "warning"

Selection follows ruff: the most specific matching selector wins (``select = ["AS204"]`` with
``ignore = ["AS2"]`` keeps AS204); a tie goes to ``ignore``.  Errors are always reported: an
error rule cannot be ignored nor lowered below error, since code generation needs the spec
to be right.  An invalid configuration raises :class:`ConfigError` with its file and line.
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from archspec.diagnostics import Severity

__all__ = ["UsageProblem", "ConfigError", "LintConfig", "find_config", "load_config", "config_for", "Selector"]

FORMATS = ("text", "json", "github", "sarif")
KEYS = ("select", "extend-select", "ignore", "per-file-ignores", "severity", "strict", "input-size", "output-format")
_CODE = re.compile(r"^AS\d{0,3}$")


class UsageProblem(ValueError):
    """A command-line selector that names no rule."""


class ConfigError(Exception):
    """An invalid configuration file; ``str()`` is ``file:line: message``."""

    def __init__(self, file: Path | str, line: int, message: str):
        self.file, self.line, self.message = str(file), line, message
        super().__init__(f"{file}:{line}: {message}")


@dataclass(frozen=True)
class LintConfig:
    """Settings for linting; the defaults are archspec's when there is no configuration."""

    select: tuple[str, ...] | None = None  # None: every rule
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    severity: tuple[tuple[str, Severity], ...] = ()
    strict: bool = False
    input_size: tuple[int, int] | None = None
    output_format: str | None = None
    path: Path | None = None  # the file it came from
    root: Path = field(default_factory=Path.cwd)  # per-file-ignores globs are relative to it

    def with_cli(
        self,
        select: list[str] | None = None,
        extend_select: list[str] | None = None,
        ignore: list[str] | None = None,
        strict: bool = False,
        input_size: tuple[int, int] | None = None,
    ) -> LintConfig:
        """The configuration with command-line options on top (``--select`` replaces the
        configured selection, ``--extend-select`` and ``--ignore`` add to it)."""
        for codes in (select, extend_select, ignore):
            for code in codes or ():
                _check_code(code, None, 0, "--select/--ignore/--extend-select")
        return replace(
            self,
            select=tuple(c.upper() for c in select) if select else self.select,
            extend_select=self.extend_select + tuple(c.upper() for c in extend_select or ()),
            ignore=self.ignore + tuple(c.upper() for c in ignore or ()),
            strict=self.strict or strict,
            input_size=input_size or self.input_size,
        )

    def selector(self, file: str | os.PathLike[str] | None = None) -> Selector:
        """Which codes are reported, and at what severity, for ``file``."""
        ignore = list(self.ignore)
        if file is not None and self.per_file_ignores:
            ignore += per_file_codes(self.per_file_ignores, Path(file), self.root)
        return Selector(
            tuple(self.select) if self.select is not None else ("AS",),
            tuple(self.extend_select),
            tuple(ignore),
            dict(self.severity),
        )


def per_file_codes(table, file: Path, root: Path) -> list[str]:
    try:
        rel = PurePosixPath(Path(os.path.relpath(file.resolve(), root.resolve())).as_posix())
    except ValueError:  # another drive
        rel = PurePosixPath(file.as_posix())
    out: list[str] = []
    for pattern, codes in table:
        if _glob_match(rel, pattern) or _glob_match(PurePosixPath(file.name), pattern):
            out.extend(codes)
    return out


def _glob_match(rel: PurePosixPath, pattern: str) -> bool:
    """ruff-style globs: ``*`` within a folder, ``**`` across folders, a bare folder name
    (``legacy/``) for everything under it."""
    text = rel.as_posix()
    if pattern.endswith("/"):
        pattern += "**"
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    regex = regex.replace(r"\?", "[^/]")
    return re.fullmatch(regex, text) is not None or fnmatch.fnmatchcase(text, pattern)


@dataclass(frozen=True)
class Selector:
    select: tuple[str, ...]
    extend_select: tuple[str, ...]
    ignore: tuple[str, ...]
    severity: dict[str, Severity]

    def enabled(self, code: str, default: Severity | None = None) -> bool:
        """Whether ``code`` is reported; errors always are."""
        if default is Severity.ERROR:
            return True
        chosen = max((len(p) for p in self.select + self.extend_select if code.startswith(p)), default=-1)
        ignored = max((len(p) for p in self.ignore if code.startswith(p)), default=-1)
        return chosen > ignored

    def severity_of(self, code: str, default: Severity) -> Severity:
        return self.severity.get(code, default)


# ------------------------------------------------------------------------------------------------
# discovery


def find_config(start: Path) -> Path | None:
    """The closest ``archspec.toml``, or ``pyproject.toml`` with ``[tool.archspec]``, at or above ``start``."""
    folder = start.resolve()
    if not folder.is_dir():
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        toml = candidate / "archspec.toml"
        if toml.is_file():
            return toml
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
    return None


def _has_tool_table(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if "archspec" not in text:
        return False
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return bool(re.search(r"^\s*\[\s*tool\s*\.\s*archspec\b", text, re.MULTILINE))  # reported when loaded
    return isinstance(data.get("tool"), dict) and "archspec" in data["tool"]


_cache: dict[Path, tuple[Any, LintConfig]] = {}


def config_for(spec: str | os.PathLike[str], explicit: Path | None = None, isolated: bool = False) -> LintConfig:
    """The configuration that applies to ``spec``: ``explicit`` if given, none when ``isolated``,
    otherwise the closest one above the spec's folder."""
    if isolated:
        return LintConfig()
    path = explicit if explicit is not None else find_config(Path(spec).parent if str(spec) else Path.cwd())
    if path is None:
        return LintConfig()
    key = path.resolve()
    stamp = _stamp(key)
    cached = _cache.get(key)
    if cached is None or cached[0] != stamp:
        cached = (stamp, load_config(path))
        _cache[key] = cached
    return cached[1]


def _stamp(path: Path):
    try:
        st = path.stat()
        return (st.st_mtime_ns, st.st_size)
    except OSError:
        return None


# ------------------------------------------------------------------------------------------------
# reading and validating


def load_config(path: str | os.PathLike[str]) -> LintConfig:
    """Read and validate a configuration file.  Raises :class:`ConfigError`."""
    path = Path(path)
    try:
        if path.exists() and not path.is_file():  # a folder, a FIFO (reading one blocks), a device
            raise ConfigError(path, 1, "not a regular file")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, 1, "no such configuration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, 1, f"cannot read the configuration: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_of_decode_error(str(exc), text)
        raise ConfigError(path, line, f"invalid TOML: {getattr(exc, 'msg', None) or exc}") from None
    section: tuple[str, ...] = ()
    if path.name == "pyproject.toml" or "tool" in data and "archspec" in data.get("tool", {}):
        section = ("tool", "archspec")
        table = data.get("tool", {}).get("archspec")
        if table is None:
            raise ConfigError(path, 1, "no [tool.archspec] table")
        if not isinstance(table, dict):
            raise ConfigError(path, _key_line(text, ("tool",), "archspec"), "tool.archspec must be a table")
    else:
        table = data
    return _parse(table, path, text, section)


def _line_of_decode_error(message: str, text: str) -> int:
    match = re.search(r"line (\d+)", message)
    if match:
        return int(match.group(1))
    return text.count("\n") + 1 if "end of document" in message else 1


def _parse(table: dict[str, Any], path: Path, text: str, section: tuple[str, ...]) -> LintConfig:
    def fail(key: str | None, message: str, sub: tuple[str, ...] = ()) -> ConfigError:
        return ConfigError(path, _key_line(text, section + sub, key), message)

    def codes(key: str, value: Any, sub: tuple[str, ...] = ()) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, list):
            raise fail(key if not sub else key, f"{'.'.join(sub + (key,))} must be a list of rule codes", sub)
        out = []
        for code in value:
            if not isinstance(code, str):
                raise fail(key, f"{key}: {code!r} is not a rule code", sub)
            _check_code(code, path, _key_line(text, section + sub, key), key)
            out.append(code.upper())
        return tuple(out)

    for key in table:
        if key not in KEYS:
            import difflib

            close = difflib.get_close_matches(key, KEYS, n=1)
            raise fail(key, f"unknown setting {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    out: dict[str, Any] = {"path": path, "root": path.resolve().parent}
    if "select" in table:
        out["select"] = codes("select", table["select"])
    if "extend-select" in table:
        out["extend_select"] = codes("extend-select", table["extend-select"])
    if "ignore" in table:
        out["ignore"] = codes("ignore", table["ignore"])
    if "per-file-ignores" in table:
        pfi = table["per-file-ignores"]
        if not isinstance(pfi, dict):
            raise fail("per-file-ignores", "per-file-ignores must be a table of glob = [codes]")
        out["per_file_ignores"] = tuple(
            (pattern, codes(pattern, value, ("per-file-ignores",))) for pattern, value in pfi.items()
        )
    if "severity" in table:
        sev = table["severity"]
        if not isinstance(sev, dict):
            raise fail("severity", 'severity must be a table of code = "error" | "warning" | "info"')
        levels = []
        for code, level in sev.items():
            from archspec.lint import RULES

            if code.upper() not in RULES:
                raise fail(code, f"severity: no rule {code!r} ('archspec rules' lists them)", ("severity",))
            if level not in ("error", "warning", "info"):
                raise fail(code, f'severity of {code}: {level!r} is not "error", "warning" or "info"', ("severity",))
            rule = RULES[code.upper()]
            if rule.severity is Severity.ERROR and level != "error":
                raise fail(code, f"{code} reports errors, which cannot be lowered to {level}", ("severity",))
            levels.append((code.upper(), Severity(level)))
        out["severity"] = tuple(levels)
    if "strict" in table:
        if not isinstance(table["strict"], bool):
            raise fail("strict", "strict must be true or false")
        out["strict"] = table["strict"]
    if "input-size" in table:
        size = table["input-size"]
        if isinstance(size, int) and not isinstance(size, bool):
            size = [size, size]
        if (
            not isinstance(size, list)
            or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 65_536 for v in size)
        ):
            raise fail("input-size", "input-size must be a size or [height, width], between 1 and 65536")
        out["input_size"] = (size[0], size[1])
    if "output-format" in table:
        fmt = table["output-format"]
        if fmt not in FORMATS:
            raise fail("output-format", f"output-format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        out["output_format"] = fmt
    return LintConfig(**out)


def _check_code(code: str, path: Path | None, line: int, key: str) -> None:
    """A selector is a rule code or a prefix of one (``AS``, ``AS2``, ``AS20``, ``AS204``)."""
    from archspec.lint import RULES

    upper = code.upper()
    if _CODE.match(upper) and any(c.startswith(upper) for c in RULES):
        return
    message = f"{key}: {code!r} is not a rule code or prefix ('archspec rules' lists them)"
    if path is None:
        raise UsageProblem(message)
    raise ConfigError(path, line, message)


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")


def _split_dotted(key: str) -> tuple[str, ...]:
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([A-Za-z0-9_-]+)', key)
    return tuple(a or b or c for a, b, c in parts)


def _key_line(text: str, section: tuple[str, ...], key: str | None) -> int:
    """The line of ``key`` in table ``section`` (tomllib keeps no positions): the key's own
    line, written in the table, as a dotted key, or in an inline table; else the table's header."""
    current: tuple[str, ...] = ()
    header_line = 0
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        match = _HEADER.match(line)
        if match and not line.lstrip().startswith("[["):
            current = _split_dotted(match.group(1))
            if current == section:
                header_line = number
            continue
        if "=" not in line or line.lstrip().startswith("#"):
            continue
        left = _split_dotted(line.split("=", 1)[0])
        full = current + left
        if key is None:
            if full[: len(section)] == section and header_line == 0:
                return number
            continue
        if full == section + (key,):
            return number
        # an inline table: `per-file-ignores = {"a/*" = [...]}` or `severity = {AS204 = "error"}`
        if (
            len(section) > len(current)
            and full == section[: len(full)]
            and re.search(
                rf"(^|[{{,\s])(\"{re.escape(key)}\"|'{re.escape(key)}'|{re.escape(key)})\s*=", line.split("=", 1)[1]
            )
        ):
            return number
    if header_line:
        return header_line
    return _key_line(text, section[:-1], section[-1]) if section and key is not None else 1
