"""The ``archspec`` command line.

Exit codes: 0 ok; 1 findings in a spec (errors, or warnings with ``--strict``), a stale file
with ``build --check``, or a failed ``check``; 2 usage or I/O problems (including a spec
file that cannot be read); 3 an internal error (a bug: please report it; ``--debug`` shows
the traceback).

The ``lint``, ``summary``, ``rules`` and ``explain`` commands import neither jinja2, torch,
tensorflow nor keras: they start fast and run with the core dependencies alone.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    pass


def _color(stream) -> bool:
    from archspec.lint.output import use_color

    return use_color("auto", stream)  # a terminal; NO_COLOR turns it off, FORCE_COLOR on


def _print_diagnostics(diagnostics, sources=None, stream=None) -> None:
    from archspec.diagnostics import render_text

    stream = stream or sys.stderr
    if diagnostics:
        stream.write(render_text(diagnostics, sources, color=_color(stream)))


def _input_size(values: Sequence[int] | None) -> tuple[int, int] | None:
    if not values:
        return None
    if len(values) == 1:
        values = [values[0], values[0]]
    if len(values) != 2 or any(v < 1 or v > 65_536 for v in values):
        raise UsageError("--input-size takes one or two sizes between 1 and 65536 (height [width])")
    return (values[0], values[1])


def _io_failure(diagnostics) -> bool:
    return any(d.code == "AS100" for d in diagnostics)


# ------------------------------------------------------------------------------------------------
# lint


def cmd_lint(args: argparse.Namespace) -> int:
    from archspec.lint.command import LintUsageError, run

    try:
        return run(args, _input_size(args.input_size))
    except LintUsageError as exc:
        raise UsageError(str(exc)) from None


# ------------------------------------------------------------------------------------------------
# summary


def _network_or_exit(spec: str, size, show_warnings: bool = False):
    """(network, exit code): the network when it lowered without errors.  With
    ``show_warnings``, the warnings and info findings it goes on with are printed too."""
    from archspec.diagnostics import ArchspecError
    from archspec.ir.build import build_ir
    from archspec.lint import lint_network
    from archspec.spec.load import load_spec

    try:
        loaded = load_spec(spec)
    except ArchspecError as exc:
        _print_diagnostics(exc.diagnostics)
        return None, EXIT_USAGE if _io_failure(exc.diagnostics) else EXIT_FINDINGS
    network = build_ir(loaded, size)
    found = lint_network(network)
    errors = [d for d in found if d.is_error]
    if errors:
        _print_diagnostics(errors, loaded.sources)
        return None, EXIT_FINDINGS
    if show_warnings:
        _print_diagnostics(found, loaded.sources)
    return network, EXIT_OK


def _write_json(obj, stream, level: int = 0) -> None:
    """``json.dumps(obj, indent=2)`` written piece by piece (nested ``level`` deep in a list)."""
    pad = "\n" + "  " * level
    buffer: list[str] = []
    size = 0
    for chunk in json.JSONEncoder(indent=2).iterencode(obj):
        buffer.append(chunk)
        size += len(chunk)
        if size > 1 << 16:  # a write per chunk would cost more than the encoding
            text = "".join(buffer)
            stream.write(text.replace("\n", pad) if level else text)
            buffer, size = [], 0
    text = "".join(buffer)
    stream.write(text.replace("\n", pad) if level else text)


def cmd_summary(args: argparse.Namespace) -> int:
    from archspec.summaries import COLUMNS, summarize

    columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown or not columns:
        raise UsageError(f"--columns takes a comma-separated list of {', '.join(COLUMNS)}")
    if args.depth is not None and args.depth < 1:
        raise UsageError("--depth takes a number from 1 (stem, stages, head)")
    if args.batch < 1:
        raise UsageError("--batch takes a positive number")
    # One spec at a time, written as it is summarized: only one network is held in memory.
    size = _input_size(args.input_size)
    status = EXIT_OK
    written = 0
    out = sys.stdout
    single = args.format == "json" and len(args.specs) == 1
    for spec in args.specs:
        network, code = _network_or_exit(spec, size)
        status = max(status, code)
        if network is None:
            continue
        summary = summarize(network, args.depth, args.batch, args.dtype)
        if single:
            _write_json(summary.as_dict(), out)
            out.write("\n")
        elif args.format == "json":
            out.write("[\n  " if not written else ",\n  ")
            _write_json(summary.as_dict(), out, level=1)
        else:
            if written:
                out.write("\n")
            out.writelines(summary.lines(columns))
        written += 1
        del network, summary
    if args.format == "json" and not single:
        out.write("\n]\n" if written else "[]\n")
    elif single and not written:
        out.write("[]\n")
    return status


# ------------------------------------------------------------------------------------------------
# build


def cmd_build(args: argparse.Namespace) -> int:
    from archspec.backends import BACKENDS, BackendError, get_backend
    from archspec.backends.naming import NamingError
    from archspec.backends.output import output_path, stale_diff, write_atomic
    from archspec.backends.render import RenderError

    if args.dependents:  # also every spec that extends or uses one of them
        from archspec.dependents import with_dependents

        args.specs = with_dependents(args.specs)
    backends = list(BACKENDS) if "all" in args.backend else list(dict.fromkeys(args.backend))
    if args.output and len(backends) > 1:
        raise UsageError("-o/--output takes one backend; build the backends one at a time")
    if args.output and Path(args.output).exists() and not Path(args.output).is_dir():
        raise UsageError(f"-o {args.output}: not a directory (it is a file); -o names the folder to write into")
    size = _input_size(args.input_size)
    status = EXIT_OK
    for spec in args.specs:
        network, code = _network_or_exit(spec, size, show_warnings=True)
        status = max(status, code)
        if network is None:
            continue
        for backend in backends:
            module = get_backend(backend)
            try:
                source = module.emit(network, inference=True) if args.inference else module.emit(network)
            except (BackendError, NamingError, RenderError) as exc:
                sys.stderr.write(f"error: {spec}: {backend} backend: {exc}\n")
                status = max(status, EXIT_FINDINGS)
                continue
            path = output_path(network.name, f"{backend}_inference" if args.inference else backend, args.output)
            if args.check:
                diff = stale_diff(path, source)
                if diff is None:
                    sys.stdout.write(f"fresh   {path}\n")
                else:
                    sys.stdout.write(
                        f"stale   {path} (run: archspec build {spec} --backend {backend}"
                        f"{' --inference' if args.inference else ''}"
                        f"{' -o ' + str(args.output) if args.output else ''})\n"
                    )
                    sys.stdout.write(diff)
                    status = max(status, EXIT_FINDINGS)
                continue
            try:
                changed = write_atomic(path, source)
            except OSError as exc:
                sys.stderr.write(f"error: cannot write {path}: {exc.strerror or exc}\n")
                status = max(status, EXIT_USAGE)
                continue
            except SyntaxError as exc:
                sys.stderr.write(
                    f"error: {spec}: the generated {backend} code does not compile ({exc.msg}, "
                    f"line {exc.lineno}); nothing was written. Please report this.\n"
                )
                status = max(status, EXIT_INTERNAL)
                continue
            sys.stdout.write(f"{'wrote    ' if changed else 'unchanged'} {path}\n")
            if len(args.specs) == 1 and not args.output:
                sys.stdout.write(_usage(network, backend, path))
    return status


def _usage(network, backend: str, path: Path) -> str:
    """How to use a file just built: its model and what running it needs."""
    import importlib.util

    from archspec.backends.arguments import model_arguments

    arguments = ", ".join(f"{k}={v!r}" for k, v in model_arguments(network).items())
    if backend == "keras":
        from archspec.backends.keras_backend import model_function_name

        call, framework, extra = f"{model_function_name(network)}(include_top=True, ...)", "keras", "keras"
    else:
        from archspec.backends.torch_backend import model_class_name

        call, framework, extra = f"{model_class_name(network)}({arguments})", "torch", "torch"
    where = f"from {path.stem} import {call.split('(')[0]} (with {path.parent} on sys.path)"
    installed = importlib.util.find_spec(framework) is not None
    needs = "" if installed else f"; {framework} is not installed here: pip install 'archspec-nn[{extra}]'"
    return f"          the model: {call}; {where}{needs}\n"


# ------------------------------------------------------------------------------------------------
# check


def _fmt_float(value: float) -> str:
    return "inf" if value == float("inf") else f"{value:.2e}"


def render_check(result, verbose: bool = False) -> str:
    lines = [
        f"{'PASS' if result.passed else 'FAIL'}  {result.name} ({result.spec}) at "
        f"{result.input_size[0]}x{result.input_size[1]}, batch {result.batch}: "
        f"{len(result.layers)} tensors, max abs diff {_fmt_float(result.max_abs_diff)}, "
        f"max scaled diff {_fmt_float(result.max_rel_diff)}"
    ]
    if result.first_divergence:
        lines.append(f"      first divergence: {result.first_divergence}")
    shown = result.layers if verbose else [d for d in result.layers if not d.passed][:10]
    for d in shown:
        lines.append(
            f"      {'ok  ' if d.passed else 'BAD '} {d.kind:<6} {d.name:<32} {d.keras_name:<32} "
            f"{'x'.join(map(str, d.shape)):<14} abs {_fmt_float(d.max_abs_diff)}  "
            f"scaled {_fmt_float(d.max_rel_diff)}"
        )
    return "\n".join(lines) + "\n"


def cmd_check(args: argparse.Namespace) -> int:
    from archspec.crosscheck import guard

    try:
        guard.validate_options(batch=args.batch, seed=args.seed, atol=args.atol, rtol=args.rtol)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.torch_inference and args.keras_inference:
        raise UsageError("--torch-inference and --keras-inference are two checks; run them one at a time")
    size = _input_size(args.input_size)
    if args.targets not in (None, "torch,keras"):
        try:
            guard.require_for_check(args.torch_inference)
        except guard.MissingDependency as exc:
            raise UsageError(str(exc)) from None
        from archspec.deploy.commands import cmd_check_targets

        return cmd_check_targets(args)
    from archspec.crosscheck.batch import check_many

    options = dict(
        input_size=size,
        batch=args.batch,
        seed=args.seed,
        atol=args.atol,
        rtol=args.rtol,
        dtype=args.dtype,
        torch_inference=args.torch_inference,
        keras_inference=args.keras_inference,
    )
    results = []
    status = EXIT_OK
    total = len(args.specs)
    progress = sys.stderr.isatty()  # a terminal only: never noise in JSON or CI logs

    def on_done(count, outcome):
        if progress:
            verdict = "refused" if outcome.result.diagnostics else "PASS" if outcome.result.passed else "FAIL"
            sys.stderr.write(f"[{count}/{total}] {outcome.spec}: {verdict} ({outcome.seconds:.1f}s)\n")
            sys.stderr.flush()

    # the specs are screened first (loading, lint, memory) without the frameworks: a missing
    # framework is reported only when a spec is to be compared
    outcomes = check_many(args.specs, options, jobs=args.jobs, color=_color(sys.stderr), on_done=on_done)
    try:
        first = next(outcomes, None)
    except guard.MissingDependency as exc:
        raise UsageError(str(exc)) from None
    for outcome in itertools.chain([first] if first is not None else [], outcomes):
        status = max(status, outcome.status)
        if outcome.diagnostics:
            sys.stderr.write(outcome.diagnostics)
        results.append(outcome.result)
        if outcome.result.diagnostics:  # refused before the comparison: nothing to show
            continue
        result = outcome.result
        if args.format == "text":
            sys.stdout.write(render_check(result, args.verbose))
            sys.stdout.flush()
    if args.format == "json":
        payload = [r.to_dict() for r in results]
        sys.stdout.write(json.dumps(payload[0] if total == 1 and payload else payload, indent=2) + "\n")
    elif total > 1:
        sys.stdout.write("\nsummary\n")
        width = max((len(r.name or r.spec) for r in results), default=4)
        for r in results:
            if r.diagnostics:
                sys.stdout.write(f"  FAIL  {r.name or r.spec:<{width}}  refused: {r.diagnostics[0]['message']}\n")
                continue
            sys.stdout.write(
                f"  {'PASS' if r.passed else 'FAIL'}  {r.name:<{width}}  "
                f"{r.input_size[0]}x{r.input_size[1]}  max abs {_fmt_float(r.max_abs_diff)}  "
                f"max scaled {_fmt_float(r.max_rel_diff)}  {r.timings.get('total', 0):.1f}s\n"
            )
        passed = sum(r.passed for r in results)
        sys.stdout.write(f"{passed}/{total} specs passed\n")
    return status


# ------------------------------------------------------------------------------------------------
# docs


def cmd_docs(args: argparse.Namespace) -> int:
    from archspec.backends.output import stale_diff, write_atomic_text
    from archspec.docs import documents

    specs = [Path(p) for p in args.specs] if args.specs else sorted(Path("specs").glob("*.yaml"))
    if not specs:
        raise UsageError("no specs found: run from the repository root or pass spec files")
    try:
        docs = documents(specs)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_FINDINGS
    status = EXIT_OK
    for path, text in docs.items():
        if args.check:
            diff = stale_diff(path, text)
            if diff is None:
                sys.stdout.write(f"fresh   {path}\n")
            else:
                sys.stdout.write(f"stale   {path} (run: archspec docs)\n{diff}")
                status = EXIT_FINDINGS
        else:
            changed = write_atomic_text(path, text)
            sys.stdout.write(f"{'wrote    ' if changed else 'unchanged'} {path}\n")
    return status


# ------------------------------------------------------------------------------------------------
# graph


def cmd_graph(args: argparse.Namespace) -> int:
    import shutil
    import subprocess

    from archspec.backends.output import write_atomic_bytes, write_atomic_text
    from archspec.graph import to_dot, to_mermaid

    size = _input_size(args.input_size)
    network, code = _network_or_exit(args.spec, size)
    if network is None:
        return code
    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix in (".mmd", ".mermaid", ".md"):
        text = to_mermaid(network, args.expand)
        if suffix == ".md":
            text = f"```mermaid\n{text}```\n"
    elif suffix in (".dot", ".gv", ".svg", ".png", ".pdf"):
        text = to_dot(network, args.expand)
    else:
        raise UsageError(f"unknown picture format {suffix or '(none)'!r}: use .svg, .png, .pdf, .dot or .mmd")
    try:
        if suffix in (".svg", ".png", ".pdf"):
            dot = shutil.which("dot")
            if dot is None:
                sys.stderr.write(
                    "archspec: error: rendering .svg/.png/.pdf needs Graphviz's 'dot', which is not installed "
                    "(apt-get install graphviz, brew install graphviz); .dot and .mmd need nothing\n"
                )
                return EXIT_USAGE
            rendered = subprocess.run([dot, f"-T{suffix[1:]}"], input=text.encode(), capture_output=True, timeout=120)
            if rendered.returncode != 0:
                sys.stderr.write(f"archspec: error: dot failed: {rendered.stderr.decode(errors='replace').strip()}\n")
                return EXIT_INTERNAL
            write_atomic_bytes(out, rendered.stdout)
        else:
            write_atomic_text(out, text)
    except OSError as exc:
        sys.stderr.write(f"error: cannot write {out}: {exc.strerror or exc}\n")
        return EXIT_USAGE
    sys.stdout.write(f"wrote   {out}\n")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------
# schema


def cmd_schema(args: argparse.Namespace) -> int:
    from archspec.schema import block_file_schema, spec_schema

    schema = block_file_schema() if args.blocks else spec_schema()
    sys.stdout.write(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------
# rules / explain


def cmd_rules(args: argparse.Namespace) -> int:
    from archspec.lint import RULES

    if args.format == "json":
        data = [
            {"code": r.code, "name": r.name, "severity": r.severity.value, "summary": r.summary, "fixable": r.fixable}
            for r in RULES.values()
        ]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return EXIT_OK
    for r in RULES.values():
        sys.stdout.write(f"{r.code}  {r.name:<22} {r.severity.value:<8} {r.summary}\n")
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from archspec.lint.registry import by_name

    found = by_name(args.code)
    if found is None:
        raise UsageError(f"no rule {args.code!r}; 'archspec rules' lists them")
    sys.stdout.write(
        f"{found.code} {found.name} ({found.severity.value}): {found.summary}\n{found.fix_line}\n\n{found.doc}\n"
    )
    return EXIT_OK


def cmd_completion(args: argparse.Namespace) -> int:
    from archspec.completion import script

    sys.stdout.write(script(args.shell))
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from archspec import catalog

    rows = catalog.entries(args.pattern)
    if args.format == "json":
        data = [{"name": r.name, "params": r.params, "macs": r.macs, "peer": r.peer, "path": str(r.path)} for r in rows]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return EXIT_OK
    if not rows:
        sys.stderr.write(f"no catalog spec matches {args.pattern!r}\n")
        return EXIT_FINDINGS
    width = max(len(r.name) for r in rows)
    sys.stdout.write(f"{'name':<{width}}  {'params':>13}  {'mult-adds':>16}  peer\n")
    for r in rows:
        sys.stdout.write(f"{r.name:<{width}}  {r.params:>13,}  {r.macs:>16,}  {r.peer or '-'}\n")
    sys.stdout.write(
        f"{len(rows)} spec{'s' if len(rows) != 1 else ''}; build one by name: archspec build {rows[0].name}\n"
    )
    return EXIT_OK


# ------------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # exit 2 with a short usage line, as argparse does
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    from archspec import __version__

    parser = _Parser(prog="archspec", description="Compile, lint and check ResNet-style architecture specs.")
    parser.add_argument("--version", action="version", version=f"archspec {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def size_arg(p):
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a spec value without editing it (vars.num_classes=10, input.size=[160,160]); repeatable",
        )
        p.add_argument(
            "--input-size",
            nargs="+",
            type=int,
            metavar="N",
            help="input height [width] (default: the spec's input size)",
        )

    p = sub.add_parser("lint", help="check specs: schema, shapes, topology, portability")
    from archspec.lint.command import add_arguments as lint_arguments

    lint_arguments(p, size_arg)
    p.set_defaults(func=cmd_lint)

    from archspec.importer.command import register as register_import

    register_import(sub, size_arg)

    p = sub.add_parser("summary", help="per-layer table: output shape, parameters, mult-adds")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument(
        "--depth",
        type=int,
        default=None,
        help="roll layers up: 1 stem, stages and head; 2 their layers and the blocks (default: every layer)",
    )
    p.add_argument(
        "--columns",
        default="op,output_shape,params,macs",
        help="comma-separated: op, output_shape, params, macs, keras_name (default: all but keras_name)",
    )
    p.add_argument("--batch", type=int, default=1, help="batch size of the memory estimate (default 1)")
    p.add_argument(
        "--dtype",
        choices=["float32", "float64", "float16", "bfloat16"],
        default="float32",
        help="element type of the memory estimate (default float32)",
    )
    size_arg(p)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("build", help="generate PyTorch / Keras source")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    p.add_argument(
        "--backend",
        action="append",
        choices=["torch", "keras", "all"],
        default=None,
        help="torch (default), keras, or all; may be repeated",
    )
    p.add_argument("-o", "--output", metavar="DIR", help="output folder (default: generated/<backend>/)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 with a diff if a file is stale")
    p.add_argument(
        "--inference",
        action="store_true",
        help="the inference form, in generated/<backend>_inference/: PyTorch's model.fuse_for_inference() "
        "folds BatchNorm and switches to channels-last; Keras' fuse_for_inference(model) returns a copy "
        "with BatchNorm folded",
    )
    p.add_argument(
        "--dependents",
        action="store_true",
        help="also the specs that extend or use these files (extends:/use:), as the pre-commit hook does",
    )
    size_arg(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("check", help="cross-check the PyTorch and Keras models numerically")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument(
        "--atol",
        type=float,
        default=1e-4,
        help="absolute tolerance, scaled by max(1, largest |value|) (and, in float32, by depth)",
    )
    p.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance per element")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="precision of both models (float64, the default: rounding out of the way; float32: as deployed)",
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--verbose", "-v", action="store_true", help="list every compared tensor")
    p.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        metavar="N",
        help="check specs in N worker processes (default: the cores available)",
    )
    p.add_argument(
        "--torch-inference",
        action="store_true",
        help="check PyTorch's inference form (BatchNorm folded, channels-last) against the plain PyTorch model",
    )
    p.add_argument(
        "--keras-inference",
        action="store_true",
        help="check Keras' inference form (fuse_for_inference(): BatchNorm folded) against the plain Keras model",
    )
    p.add_argument(
        "--targets", metavar="LIST", help="compare every pair of these: torch,keras,onnx (default torch,keras)"
    )
    size_arg(p)
    p.set_defaults(func=cmd_check)

    from archspec.deploy.commands import add_parsers

    add_parsers(sub, size_arg)

    p = sub.add_parser("docs", help="regenerate docs/catalog.md and docs/rules.md (--check: verify them)")
    p.add_argument("specs", nargs="*", metavar="SPEC", help="default: specs/*.yaml")
    p.add_argument("--check", action="store_true")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("graph", help="draw the architecture (.svg/.png/.pdf with Graphviz, .dot, .mmd always)")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="picture file: .svg .png .pdf .dot .mmd .md")
    p.add_argument("--expand", action="store_true", help="every layer instead of one box per stage")
    size_arg(p)
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("schema", help="print the JSON Schema (draft 2020-12) of the spec language")
    p.add_argument("--blocks", action="store_true", help="the schema of a block-definition file instead")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("list", help="list the shipped catalog: name, parameters, mult-adds, peer")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. 'resnet5*'")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("rules", help="list every lint rule")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_rules)

    p = sub.add_parser("explain", help="show a rule's documentation")
    p.add_argument("code", help="rule code (AS204) or name (suspicious-width)")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("completion", help="print a shell completion script (bash, zsh or fish)")
    p.add_argument("shell", choices=["bash", "zsh", "fish"])
    p.set_defaults(func=cmd_completion)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["lint"]:  # as a command: a report kept for this content
        from archspec.lintcache import run

        return run(sys.argv[2:], main)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if getattr(args, "backend", "unset") is None:
        args.backend = ["torch"]
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        from archspec.spec import overrides

        with overrides.using(getattr(args, "set", None) or ()):
            return func(args)
    except UsageError as exc:
        sys.stderr.write(f"archspec: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("archspec: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # the last line of defence: never a bare traceback
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(
            f"archspec: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in archspec; please report it with the spec that triggers it"
            f"{'' if args.debug else ' (run with --debug for the traceback)'}.\n"
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
