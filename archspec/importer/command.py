"""The ``archspec import`` command, and ``archspec lint TARGET`` (lint an imported model).

Nothing here imports torch or keras at module level: the command line stays fast for the
other commands, and a missing framework is a usage problem (exit 2), not a crash.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def is_target(arg: str) -> bool:
    """An import TARGET rather than a spec file: ``pkg.module:factory``, ``file.py:Class``, ``.keras``."""
    if arg.endswith((".keras", ".h5")):
        return True
    return ":" in arg and not os.path.exists(arg) and not arg.endswith((".yaml", ".yml"))


def register(sub, size_arg) -> None:
    p = sub.add_parser("import", help="turn a PyTorch or Keras model into a spec, proven by a round trip")
    p.add_argument(
        "target", metavar="TARGET", help="package.module:factory, path/to/file.py:ClassOrFactory or a .keras file"
    )
    p.add_argument("-o", "--output", metavar="SPEC.yaml", help="where to write the spec (default: <name>.yaml)")
    p.add_argument("--args", metavar="JSON", help="constructor arguments: a JSON object or list, or k=v,k=v")
    p.add_argument("--name", help="the spec's name (default: from the target)")
    p.add_argument("--partial", action="store_true", help="write the spec even with unmapped layers (marked)")
    p.add_argument("--no-check", action="store_true", help="skip the round trip")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("-v", "--verbose", action="store_true", help="list every compared tensor")
    size_arg(p)
    p.set_defaults(func=cmd_import)


def _missing(exc: ImportError) -> int:
    sys.stderr.write(f"archspec: error: import needs {exc.name or 'torch or keras'} (pip install 'archspec[torch]')\n")
    return EXIT_USAGE


def cmd_import(args: argparse.Namespace) -> int:
    from archspec.importer.run import TargetError, import_model, resolve

    size = tuple(args.input_size * 2 if len(args.input_size) == 1 else args.input_size[:2]) if args.input_size else None
    try:
        model, framework, name = resolve(args.target, args.args)
    except TargetError as exc:
        sys.stderr.write(f"archspec: error: {exc}\n")
        return EXIT_USAGE
    except ImportError as exc:
        return _missing(exc)
    name = args.name or name
    out = Path(args.output) if args.output else Path(f"{name}.yaml")
    result = import_model(
        model,
        framework,
        name,
        target=args.target,
        input_size=size,  # type: ignore[arg-type]
        partial=args.partial,
        out_dir=out.parent if str(out.parent) else None,
        roundtrip=not args.no_check,
    )
    for problem in result.problems:
        sys.stderr.write(f"error: {problem}\n")
    if result.text is None:
        sys.stderr.write(
            f"archspec: nothing written: {len(result.problems)} layer(s) or structure not mapped"
            " (--partial writes a marked spec)\n"
        )
        return EXIT_FINDINGS
    check = result.check
    if check is not None:
        if args.format == "json":
            import json

            sys.stdout.write(json.dumps({"spec": str(out), "roundtrip": check.to_dict()}, indent=2) + "\n")
        else:
            from archspec.cli import render_check

            sys.stdout.write(render_check(replace(check, spec=str(out)), args.verbose))
        if not check.passed:
            sys.stderr.write("archspec: nothing written: the regenerated model differs from the original\n")
            return EXIT_FINDINGS
    from archspec.backends.output import write_atomic_text

    write_atomic_text(out, result.text)
    lines = len(result.text.splitlines())
    sys.stderr.write(
        f"wrote {out} ({lines} lines)" + (", PARTIAL: unmapped layers marked" if result.problems else "") + "\n"
    )
    return EXIT_FINDINGS if result.problems else EXIT_OK


def imported_text(target: str) -> tuple[str, Path]:
    """The annotated spec recovered from ``target`` and the name its diagnostics carry
    (``TARGET (imported)``); ValueError when the target cannot be imported at all."""
    from archspec.importer.run import TargetError, import_model, resolve

    try:
        model, framework, name = resolve(target)
    except TargetError as exc:
        raise ValueError(str(exc)) from None
    except ImportError as exc:
        raise ValueError(f"importing {target} needs {exc.name or 'torch or keras'}") from None
    result = import_model(model, framework, name, target=target, partial=True, roundtrip=False, annotate=True)
    if result.text is None:
        raise ValueError(f"{target}: " + "; ".join(result.problems))
    return result.text, Path(f"{target} (imported)")


def lint_target(target: str, input_size, sources):
    """Diagnostics of the spec recovered from ``target``; spans point into the imported spec,
    whose lines end with the original's module path and Python line."""
    from archspec.diagnostics import Diagnostic, Severity, Span
    from archspec.importer.run import TargetError, import_model, resolve
    from archspec.lint import lint_path

    unreadable = Span(target, 1, 1)
    try:
        model, framework, name = resolve(target)
    except (TargetError, ImportError) as exc:
        return [Diagnostic("AS100", "unreadable-file", Severity.ERROR, str(exc), unreadable)]
    result = import_model(model, framework, name, target=target, partial=True, roundtrip=False, annotate=True)
    if result.text is None:
        return [Diagnostic("AS100", "unreadable-file", Severity.ERROR, p, unreadable) for p in result.problems]
    display = f"{target} (imported)"
    sources.add(display, result.text)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(result.text, encoding="utf-8")
        found = lint_path(path, input_size)
    for d in found:
        if d.span is not None and d.span.file.endswith(f"{name}.yaml"):
            d.span = replace(d.span, file=display)
    return found
