"""``archspec lint``: its options and what it does with them (cli.py registers it).

Exit codes: 0 no findings that fail (errors, or warnings under ``strict``), or ``--exit-zero``;
1 findings, or with ``--diff`` fixes that would change a file; 2 usage, an unreadable spec or an
invalid configuration.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _codes(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def add_arguments(p: argparse.ArgumentParser, size_arg) -> None:
    p.add_argument("specs", nargs="+", metavar="SPEC", help="spec files; - reads one from standard input")
    p.add_argument(
        "--format",
        choices=["text", "json", "github", "sarif"],
        default=None,
        help="report format (default: the configuration's output-format, else text)",
    )
    p.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    size_arg(p)
    sel = p.add_argument_group("rule selection (codes or prefixes, comma-separated: AS204,AS3)")
    sel.add_argument("--select", type=_codes, action="extend", metavar="CODES", help="report only these rules")
    sel.add_argument("--extend-select", type=_codes, action="extend", metavar="CODES", help="add these rules")
    sel.add_argument("--ignore", type=_codes, action="extend", metavar="CODES", help="do not report these rules")
    cfg = p.add_argument_group("configuration")
    cfg.add_argument("--config", metavar="PATH", help="use this archspec.toml or pyproject.toml for every spec")
    cfg.add_argument("--isolated", action="store_true", help="ignore every configuration file")
    fix = p.add_argument_group("fixes")
    fix.add_argument("--fix", action="store_true", help="apply safe fixes in place")
    fix.add_argument("--diff", action="store_true", help="print the fixes as a diff; write nothing")
    fix.add_argument("--unsafe-fixes", action="store_true", help="apply (or show) unsafe fixes too")
    out = p.add_argument_group("output")
    out.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    out.add_argument("--statistics", action="store_true", help="print the number of findings per rule")
    out.add_argument("-o", "--output-file", metavar="FILE", help="write the report to FILE instead of standard output")
    out.add_argument("-q", "--quiet", action="store_true", help="print the findings only (no summary)")
    out.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the text report (auto: on a terminal, unless NO_COLOR is set; FORCE_COLOR forces it)",
    )
    out.add_argument(
        "--stdin-filename",
        metavar="PATH",
        help="the name of the spec read from standard input (-), for messages, extends:/use: and configuration",
    )


class LintUsageError(Exception):
    pass


def run(args: argparse.Namespace, input_size) -> int:
    """Run ``archspec lint`` with parsed ``args`` (``input_size``: the parsed --input-size)."""
    from archspec.diagnostics import SourceCache
    from archspec.lint.config import ConfigError, LintConfig, UsageProblem, config_for
    from archspec.lint.fix import unified_diff, write_fixed
    from archspec.lint.output import render, use_color
    from archspec.lint.runner import fix_file, lint_file

    if args.specs.count("-") > 1:
        raise LintUsageError("standard input (-) can be linted once per run")
    if args.stdin_filename and "-" not in args.specs:
        raise LintUsageError("--stdin-filename names the spec read from standard input: pass - as the spec")
    if args.fix and args.diff:
        raise LintUsageError("--fix writes the fixes and --diff only shows them: pass one of them")
    explicit = Path(args.config) if args.config else None
    if explicit is not None and not explicit.is_file():
        raise LintUsageError(f"--config: no such file: {args.config}")

    def configured(spec: Path) -> LintConfig:
        return config_for(spec, explicit, args.isolated).with_cli(
            args.select, args.extend_select, args.ignore, args.strict, input_size
        )

    try:
        results = []
        configs = []
        for spec in args.specs:
            text = None
            path = Path(spec)
            if spec == "-":
                text = sys.stdin.read()
                path = Path(args.stdin_filename or "-")
            config = configured(path)
            configs.append(config)
            if args.fix or args.diff:
                results.append(fix_file(path, config, text, unsafe=args.unsafe_fixes))
            else:
                results.append(lint_file(path, config, text))
    except ConfigError as exc:
        sys.stderr.write(f"archspec: error: invalid configuration: {exc}\n")
        return EXIT_USAGE
    except UsageProblem as exc:
        raise LintUsageError(str(exc)) from None

    status = EXIT_OK
    if args.diff:
        changed = False
        for result in results:
            if result.changed:
                changed = True
                sys.stdout.write(unified_diff(result.original, result.text, result.file))
        fixed = sum(len(r.fixed) for r in results)
        if not args.quiet:
            sys.stderr.write(f"would fix {fixed} finding{'s' if fixed != 1 else ''}\n" if fixed else "no fixes\n")
        return EXIT_FINDINGS if changed else EXIT_OK

    for spec, result in zip(args.specs, results):
        if args.fix and result.changed:
            if spec == "-":
                continue  # written to standard output below
            try:
                write_fixed(Path(spec), result.text)
            except OSError as exc:
                sys.stderr.write(f"archspec: error: cannot write {spec}: {exc.strerror or exc}\n")
                status = EXIT_USAGE
    if args.fix and "-" in args.specs:
        stdin_result = results[args.specs.index("-")]
        sys.stdout.write(stdin_result.text if stdin_result.text is not None else "")

    diagnostics = [d for r in results for d in r.diagnostics]
    sources = SourceCache()
    for r in results:
        sources.merge(r.sources)
    fmt = args.format or next((c.output_format for c in configs if c.output_format), None) or "text"
    to_stdout = args.output_file is None and not (args.fix and "-" in args.specs)
    stream = sys.stdout if to_stdout else (sys.stderr if args.output_file is None else None)
    report = render(
        fmt,
        diagnostics,
        sources,
        color=fmt == "text" and use_color(args.color, stream),
        files=len(results),
        quiet=args.quiet,
        fixed=sum(len(r.fixed) for r in results),
        statistics=args.statistics,
    )
    if args.output_file is not None:
        try:
            Path(args.output_file).write_text(report, encoding="utf-8")
        except OSError as exc:
            sys.stderr.write(f"archspec: error: cannot write {args.output_file}: {exc.strerror or exc}\n")
            return EXIT_USAGE
    else:
        stream.write(report)

    if any(d.code == "AS100" for d in diagnostics):
        return EXIT_USAGE
    if status != EXIT_OK:
        return status
    if args.exit_zero:
        return EXIT_OK
    for config, result in zip(configs, results):
        if any(d.is_error for d in result.diagnostics):
            return EXIT_FINDINGS
        if config.strict and any(d.severity.value == "warning" for d in result.diagnostics):
            return EXIT_FINDINGS
    return EXIT_OK
