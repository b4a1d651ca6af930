"""Loading a spec: files, ``extends:`` variants, ``use:`` block files, the block library.

The result, :class:`LoadedSpec`, holds the validated :class:`~archspec.spec.model.Spec`, the
block types it can use, and a :class:`~archspec.spec.yamlsrc.SpanMap` that gives the source
position of every value, across all the files involved.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from archspec.diagnostics import ArchspecError, Diagnostic, Fix, Severity, SourceCache, Span
from archspec.spec import model as M
from archspec.spec.yamlsrc import SpanMap, load_file, parse_yaml, read_text

LIBRARY_DIR = Path(__file__).resolve().parent.parent / "library" / "blocks"
#: the shipped block library, parsed: written by ``archspec docs``, used only for files whose
#: text still has the recorded hash (parsing YAML with positions is the slowest part of a lint)
LIBRARY_SNAPSHOT = LIBRARY_DIR.parent / "blocks.snapshot.json"
MAX_EXTENDS_DEPTH = 16


@dataclass
class ResolvedBlock:
    """A block type and where it was defined (``prefix`` locates it in the span map)."""

    name: str
    definition: M.BlockDef
    origin: str
    prefix: tuple


@dataclass
class LoadedSpec:
    path: Path
    display: str
    spec: M.Spec
    spans: SpanMap
    sources: SourceCache
    blocks: dict[str, ResolvedBlock]
    files: list[str] = field(default_factory=list)
    digest: str = ""
    #: the spec's name in generated files: the same whatever the working directory or the
    #: spelling of the path (see :func:`source_label`)
    label: str = ""

    def block(self, name: str) -> ResolvedBlock | None:
        return self.blocks.get(name)


def display_path(path: Path) -> str:
    """A path as the user would write it: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


#: files or folders that mark a project's root folder, for :func:`source_label`
PROJECT_MARKERS = ("pyproject.toml", ".git")


def source_label(path: Path) -> str:
    """How generated files name the spec at ``path``: its path relative to the nearest folder
    above it that holds a ``pyproject.toml`` or ``.git`` (the project root), in ``/`` form; or
    its file name when no such folder encloses it.  A catalog spec is ``specs/<name>.yaml``,
    installed or in a source checkout.  Symbolic links are resolved first, so the label (and
    every byte of the generated file) is the same whatever the working directory and however
    the path is spelled.  A path that names no file (a spec given as text) is its file name."""
    from archspec import catalog

    try:
        if not path.exists():
            return path.name
        real = path.resolve()
        shipped = catalog.specs_dir().resolve()
    except (OSError, RuntimeError):
        return path.name
    if real.is_relative_to(shipped):
        return "specs/" + real.relative_to(shipped).as_posix()
    for folder in real.parents:
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return real.relative_to(folder).as_posix()
    return real.name


def _err(code: str, name: str, message: str, span: Span | None, hint: str | None = None) -> ArchspecError:
    return ArchspecError([Diagnostic(code, name, Severity.ERROR, message, span, hint)])


# ---------------------------------------------------------------------------------------------
# pydantic errors -> diagnostics


def _all_field_names() -> set[str]:
    names: set[str] = set()
    for obj in vars(M).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj is not BaseModel:
            for fname, finfo in obj.model_fields.items():
                names.add(finfo.alias or fname)
    return names


def validation_diagnostics(exc: ValidationError, spans: SpanMap, prefix: tuple = ()) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: set[tuple] = set()
    known = sorted(_all_field_names())
    for error in exc.errors():
        raw = error["loc"]
        # drop the stage-form discriminator tags ('stages', '@table', ...) that pydantic inserts
        loc = tuple(x for i, x in enumerate(raw) if not (i and raw[i - 1] == "stages" and x in ("@table", "@list")))
        # Cut union-member tags (e.g. 'int', 'list[...]') off the location: keep the longest
        # prefix that exists in the document.
        full = prefix + loc
        cut = len(full)
        while cut > len(prefix) and full[:cut] not in spans.values and full[:cut] not in spans.keys:
            cut -= 1
        etype = error["type"]
        where = ".".join(str(x) for x in loc) or "document"
        if etype == "extra_forbidden":
            key = str(loc[-1])
            candidates = [f.alias or n for n, f in M.Spec.model_fields.items()] if len(loc) == 1 else known
            close = difflib.get_close_matches(key, candidates, n=1)
            message = f"unknown key {key!r}"
            hint = f"did you mean {close[0]!r}?" if close else "remove it, or check the spec reference in the README"
            span = spans.key(full)
            dedupe = full
            fix = key_fix(span, key, candidates, spans, full)
        elif etype == "missing":
            message = f"missing required key {str(loc[-1])!r}"
            hint = fix = None
            span = spans.value(full[:-1])
            dedupe = full
        else:
            span = spans.value(full[:cut])
            dedupe = full[:cut]
            message = f"invalid value for {'.'.join(str(x) for x in full[len(prefix) : cut]) or where}: {error['msg']}"
            hint = fix = None
        if dedupe in seen:
            continue
        seen.add(dedupe)
        out.append(Diagnostic("AS101", "schema-error", Severity.ERROR, message, span, hint, fix=fix))
    return out


def key_fix(span: Span | None, key: str, candidates, spans: SpanMap, path: tuple) -> Fix | None:
    """Rename a misspelt key when exactly one known key is close to it (similarity 0.8 or more,
    e.g. one letter dropped or swapped) and the mapping does not already have that key: a safe
    fix, the key written is the one the reader meant."""
    close = difflib.get_close_matches(key, list(candidates), n=2, cutoff=0.8)
    if span is None or len(close) != 1 or span.length != len(key) or path[:-1] + (close[0],) in spans.keys:
        return None
    return Fix.replace(span, close[0], key, message=f"rename {key!r} to {close[0]!r}")


# ---------------------------------------------------------------------------------------------
# files, extends, use


def _deep_merge(base: Any, over: Any, path: tuple, replaced: list[tuple]) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            if key == "use" and not path and isinstance(value, list) and isinstance(base.get("use"), list):
                out[key] = list(dict.fromkeys([*base["use"], *value]))
                continue
            out[key] = _deep_merge(base.get(key), value, path + (key,), replaced) if key in base else value
            if key not in base or not (isinstance(base[key], dict) and isinstance(value, dict)):
                replaced.append(path + (key,))
        return out
    return over


def _load_tree(
    path: Path,
    sources: SourceCache,
    stack: list[Path],
    files: list[str],
    root_span: Span | None = None,
    text: str | None = None,
) -> tuple[dict, SpanMap]:
    display = display_path(path)
    data, spans = load_file(path, display, sources) if text is None else parse_yaml(text, display, sources)
    files.append(display)
    if data is None:
        raise _err(
            "AS101",
            "schema-error",
            f"{display} is empty",
            Span(display, 1, 1),
            "a spec starts with 'archspec: 1' and a 'name:'",
        )
    if not isinstance(data, dict):
        raise _err(
            "AS101",
            "schema-error",
            f"{display} must hold a mapping (key: value pairs) at the top level",
            Span(display, 1, 1),
        )
    if isinstance(data.get("use"), list):
        data["use"] = [_resolve_use(u, path, spans, ("use", i)) for i, u in enumerate(data["use"])]
    if "extends" not in data:
        return data, spans
    target = data.pop("extends")
    tspan = spans.value(("extends",))
    root_span = root_span or tspan  # a cycle is reported where the user's own spec starts it
    if not isinstance(target, str) or not target.strip():
        raise _err("AS105", "bad-extends", "'extends' must be a file name", tspan)
    parent = _resolve(path.parent / target)
    if parent is None:
        raise _err(
            "AS105",
            "bad-extends",
            f"'extends' names {target!r}, which is a symbolic link that loops (or cannot be followed)",
            tspan,
            "point 'extends' at the base spec file itself",
        )
    chain = [*stack, path]
    if parent in chain:
        cycle = " -> ".join(display_path(p) for p in [*chain[chain.index(parent) :], parent])
        raise _err(
            "AS105",
            "bad-extends",
            f"'extends' forms a cycle: {cycle}",
            root_span,
            "a variant extends its base; the base must not extend the variant",
        )
    if len(chain) > MAX_EXTENDS_DEPTH:
        raise _err("AS105", "bad-extends", f"'extends' chain is longer than {MAX_EXTENDS_DEPTH}", tspan)
    if not parent.is_file():
        raise _err(
            "AS105",
            "bad-extends",
            f"'extends' names {target!r}, which is not a file (looked for {display_path(parent)})",
            tspan,
            "the path is relative to this spec's folder",
        )
    base, base_spans = _load_tree(parent, sources, chain, files, root_span)
    replaced: list[tuple] = []
    merged = _deep_merge(base, data, (), replaced)
    for prefix in replaced:
        base_spans.drop(prefix)
    base_spans.update(spans)
    return merged, base_spans


def _resolve(path: Path) -> Path | None:
    """``path`` made absolute with every symbolic link followed; None for a link loop."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # "Symlink loop" (RuntimeError before Python 3.13, OSError after)
        return None


def _resolve_use(entry: Any, path: Path, spans: SpanMap, loc: tuple) -> Any:
    if not isinstance(entry, str):
        return entry  # reported by schema validation
    if entry.endswith((".yaml", ".yml")):
        target = _resolve(path.parent / entry)
        if target is None:
            raise _err(
                "AS102",
                "unknown-block",
                f"'use' names {entry!r}, which is a symbolic link that loops (or cannot be followed)",
                spans.value(loc),
                "point 'use' at the block file itself",
            )
        if not target.is_file():
            raise _err(
                "AS102",
                "unknown-block",
                f"'use' names {entry!r}, which is not a file (looked for {display_path(target)})",
                spans.value(loc),
                "the path is relative to this spec's folder; shipped blocks need no 'use'",
            )
        return str(target)
    if entry not in library_index():
        raise _err(
            "AS102",
            "unknown-block",
            f"no shipped block library named {entry!r}",
            spans.value(loc),
            f"shipped: {', '.join(sorted(library_index()))}",
        )
    return entry


@lru_cache(maxsize=1)
def library_index() -> dict[str, Path]:
    """Block type name -> shipped library file."""
    index: dict[str, Path] = {}
    for file in sorted(LIBRARY_DIR.glob("*.yaml")):
        index[file.stem] = file
    return index


def library_snapshot_text() -> str:
    """The block library as data and source positions (JSON), for :data:`LIBRARY_SNAPSHOT`."""

    def compact(value: Any) -> str:
        # key order is kept: it is the document's (a block's parameters are its constructor's)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    files = []
    for path in library_index().values():
        text = read_text(path, path.name)
        data, spans = parse_yaml(text, path.name)
        parts = [f'"sha256":"{hashlib.sha256(text.encode()).hexdigest()}"', f'"data":{compact(data)}']
        for kind, table in (("values", spans.values), ("keys", spans.keys)):
            rows = ",\n".join(compact([list(p), s.line, s.column, s.length]) for p, s in table.items())
            parts.append(f'"{kind}":[\n{rows}]')
        files.append(f"{compact(path.name)}:{{\n" + ",\n".join(parts) + "}")
    return '{"format":1,"files":{\n' + ",\n".join(files) + "}}\n"


@lru_cache(maxsize=1)
def _library_snapshot() -> dict:
    try:
        snapshot = json.loads(LIBRARY_SNAPSHOT.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return snapshot.get("files", {}) if isinstance(snapshot, dict) and snapshot.get("format") == 1 else {}


def _from_snapshot(path: Path, display: str, sources: SourceCache) -> tuple[Any, SpanMap] | None:
    """A shipped library file's data and spans from the snapshot, when it matches the file."""
    if path.parent != LIBRARY_DIR:
        return None
    entry = _library_snapshot().get(path.name)
    if entry is None:
        return None
    text = read_text(path, display)
    if hashlib.sha256(text.encode()).hexdigest() != entry.get("sha256"):
        return None
    sources.add(display, text)
    spans = SpanMap()
    spans.values = {tuple(p): Span(display, line, col, length) for p, line, col, length in entry["values"]}
    spans.keys = {tuple(p): Span(display, line, col, length) for p, line, col, length in entry["keys"]}
    return entry["data"], spans


@lru_cache(maxsize=64)
def _read_block_file(file: str) -> tuple[M.BlockFile, SpanMap, SourceCache]:
    sources = SourceCache()
    display = display_path(Path(file))
    parsed = _from_snapshot(Path(file), display, sources)
    data, spans = parsed if parsed is not None else load_file(Path(file), display, sources)
    if not isinstance(data, dict):
        raise _err(
            "AS101", "schema-error", f"{display} must hold a mapping with 'archspec' and 'blocks'", Span(display, 1, 1)
        )
    try:
        return M.BlockFile.model_validate(data), spans, sources
    except ValidationError as exc:
        raise ArchspecError(validation_diagnostics(exc, spans)) from None


_REBASED: dict[str, tuple[SpanMap, SpanMap]] = {}


def _file_spans(file: str) -> SpanMap:
    """The spans of a block file under ``("@file", file)``, computed once per parse of the
    file (not once per block and per spec: that cost every load 30 ms with the library)."""
    fspans = _read_block_file(file)[1]
    hit = _REBASED.get(file)
    if hit is None or hit[0] is not fspans:
        if len(_REBASED) > 256:
            _REBASED.clear()
        hit = _REBASED[file] = (fspans, fspans.rebase((), ("@file", file)))
    return hit[1]


def _library_blocks() -> dict[str, tuple[str, M.BlockDef]]:
    out: dict[str, tuple[str, M.BlockDef]] = {}
    for file in library_index().values():
        bf, _, _ = _read_block_file(str(file))
        for name, definition in bf.blocks.items():
            out[name] = (str(file), definition)
    return out


def load_spec(path: str | os.PathLike[str], text: str | None = None, overrides=None) -> LoadedSpec:
    """Read, merge (``extends:``), apply ``overrides`` and validate a spec.  Raises
    :class:`ArchspecError`.

    ``path`` may also be a catalog name (``resnet50``: a file of that name wins).  With
    ``text``, that is the spec's content (an editor's unsaved buffer, standard input) and
    ``path`` only names it: for messages, and to resolve ``extends:`` and ``use:`` from its
    folder.  ``overrides`` are ``KEY=VALUE`` strings or a mapping (see
    :mod:`archspec.spec.overrides`); by default the ones in force (``--set``).
    """
    from archspec import catalog
    from archspec.spec import overrides as _overrides

    path = Path(path) if text is not None else catalog.resolve(path)
    sources = SourceCache()
    files: list[str] = []
    known = path.exists() or text is not None
    data, spans = _load_tree(path.resolve() if known else path, sources, [], files, text=text)
    display = display_path(path.resolve()) if known else str(path)
    settings = _overrides.active() if overrides is None else _overrides.normalise(overrides)
    if settings:
        _overrides.apply(data, spans, settings, sources)
    try:
        spec = M.Spec.model_validate(data)
    except ValidationError as exc:
        raise ArchspecError(validation_diagnostics(exc, spans)) from None

    blocks: dict[str, ResolvedBlock] = {}
    merged: set[str] = set()
    for name, (file, definition) in _library_blocks().items():
        blocks[name] = ResolvedBlock(name, definition, display_path(Path(file)), ("@file", file, "blocks", name))
        if file not in merged:
            merged.add(file)
            spans.update(_file_spans(file))
            sources.merge(_read_block_file(file)[2])
    defined_by: dict[str, str] = {}
    for i, entry in enumerate(spec.use):
        file = str(library_index()[entry]) if entry in library_index() else entry
        bf, _, fsources = _read_block_file(file)
        spans.update(_file_spans(file))
        sources.merge(fsources)
        for name, definition in bf.blocks.items():
            if name in defined_by and defined_by[name] != file:
                raise _err(
                    "AS102",
                    "unknown-block",
                    f"block type {name!r} is defined by both "
                    f"{display_path(Path(defined_by[name]))} and {display_path(Path(file))}",
                    spans.value(("use", i)),
                    "rename one of them, or use only one file",
                )
            defined_by[name] = file
            blocks[name] = ResolvedBlock(name, definition, display_path(Path(file)), ("@file", file, "blocks", name))
    for name, definition in spec.blocks.items():
        blocks[name] = ResolvedBlock(name, definition, display, ("blocks", name))

    used = _referenced_blocks(spec)
    # block files by their label, not their absolute path: the digest is a function of the text
    labelled = dict(data)
    if isinstance(data.get("use"), list):
        labelled["use"] = [source_label(Path(u)) if u not in library_index() else u for u in data["use"]]
    canonical = json.dumps(
        {
            "spec": labelled,
            "blocks": {
                n: b.definition.model_dump(mode="json", by_alias=True) for n, b in sorted(blocks.items()) if n in used
            },
        },
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return LoadedSpec(path, display, spec, spans, sources, blocks, files, digest, source_label(path))


def _referenced_blocks(spec: M.Spec) -> set[str]:
    stages = spec.stages
    if isinstance(stages, M.StageTable):
        return {stages.block} | ({stages.first_block} if stages.first_block else set())
    names = {s.block for s in stages if s.block}
    names |= {b.block for s in stages for b in (s.blocks or []) if b.block}
    return names
