"""The deployment commands of the CLI: ``convert``, ``export`` and ``check --targets``.

:func:`add_parsers` registers them; ``archspec.cli`` only calls it.  This module imports no
framework at the top: each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

EXPORT_FORMATS = ("onnx", "torch-export", "saved-model", "keras")


def _verify_args(p: argparse.ArgumentParser, size_arg) -> None:
    """The options of the verification run, as ``archspec check`` names them, and the CLI's
    ``--set`` / ``--input-size`` (``size_arg``)."""
    p.add_argument("--batch", type=int, default=2, help="batch size of the verification run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--atol",
        type=float,
        default=1e-4,
        help="absolute tolerance, scaled by max(1, largest |value|) (and, in float32, by depth), as archspec check",
    )
    p.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance per element, as archspec check")
    p.add_argument("--verbose", "-v", action="store_true", help="list every compared tensor")
    size_arg(p)


def add_parsers(sub, size_arg) -> None:
    """Register ``convert`` and ``export``; ``size_arg`` adds the CLI's ``--set`` and
    ``--input-size`` to a parser."""
    p = sub.add_parser(
        "convert",
        help="convert a checkpoint between PyTorch and Keras, checked against the spec, then verified",
        description="Convert a PyTorch state dict (.pt/.pth/.safetensors) to a Keras weights file "
        "(.weights.h5) or back. Every key and shape is checked against the spec first; nothing is "
        "written unless all match. Then both models run on a random batch and are compared as "
        "'archspec check' compares them.",
    )
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--from", dest="source", nargs=2, required=True, metavar=("FRAMEWORK", "CHECKPOINT"))
    p.add_argument("--to", dest="target", nargs=2, required=True, metavar=("FRAMEWORK", "OUT"))
    p.add_argument("--no-verify", action="store_true", help="convert and write, but do not run the two models")
    p.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="precision of the verification run (float64, the default, as archspec check)",
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    _verify_args(p, size_arg)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser(
        "export",
        help="export the model (ONNX, torch.export, Keras SavedModel or .keras), then verify it",
        description="Export the generated model, randomly initialised or with --weights, then run the "
        "exported artifact and compare it with the PyTorch model in the 'archspec check' format.",
    )
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--format", dest="export_format", choices=EXPORT_FORMATS, default="onnx")
    p.add_argument("--weights", metavar="FILE", help="a PyTorch or Keras checkpoint to export with")
    p.add_argument("-o", "--output", metavar="OUT", help="default: <name>.onnx, .pt2, _saved_model/, .keras")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's)")
    p.add_argument("--dynamic-batch", action="store_true", help="the batch dimension is dynamic")
    p.add_argument("--no-verify", action="store_true", help="export, but do not run the artifact")
    p.add_argument("--report", choices=["text", "json"], default="text", help="report format")
    _verify_args(p, size_arg)
    p.set_defaults(func=cmd_export)


def _common(args):
    """The input size, once the verification options are checked (exit 2 when out of range)."""
    from archspec.cli import UsageError, _input_size

    size = _input_size(args.input_size)
    if args.batch < 1 or args.batch > 64:
        raise UsageError("--batch must be between 1 and 64")
    if args.atol < 0 or args.rtol < 0:
        raise UsageError("--atol and --rtol must not be negative")
    return size


def _missing(exc) -> int:
    sys.stderr.write(f"archspec: error: {exc}\n")
    return EXIT_USAGE


# ------------------------------------------------------------------------------------------------
# convert


def cmd_convert(args: argparse.Namespace) -> int:
    from archspec.cli import UsageError, _network_or_exit
    from archspec.deploy.checkpoint import CheckpointError, framework_of
    from archspec.deploy.deps import MissingDependency

    size = _common(args)
    (source, checkpoint), (target, out) = args.source, args.target
    for framework in (source, target):
        if framework not in ("torch", "keras"):
            raise UsageError(f"unknown framework {framework!r}: use torch or keras")
    if source == target:
        raise UsageError("--from and --to name the same framework")
    checkpoint, out = Path(checkpoint), Path(out)
    if framework_of(checkpoint) not in (source, None):
        raise UsageError(f"{checkpoint} looks like a {framework_of(checkpoint)} file, not a {source} one")
    wanted = {"torch": ".pt, .pth or .safetensors", "keras": ".weights.h5"}[target]
    if target == "keras" and not str(out).lower().endswith(".weights.h5"):
        raise UsageError(f"the Keras output must be a {wanted} file")
    if target == "torch" and framework_of(out) != "torch":
        raise UsageError(f"the PyTorch output must be a {wanted} file")
    if not checkpoint.is_file():
        raise UsageError(f"cannot read {checkpoint}: no such file")
    if out.resolve() == checkpoint.resolve():
        raise UsageError("the output would overwrite the checkpoint")

    network, code = _network_or_exit(args.spec, size)
    if network is None:
        return code
    from archspec.crosscheck.compare import quiet_tensorflow
    from archspec.deploy.convert import convert

    quiet_tensorflow()

    try:
        result = convert(
            network,
            source,
            checkpoint,
            out,
            verify=not args.no_verify,
            batch=args.batch,
            seed=args.seed,
            atol=args.atol,
            rtol=args.rtol,
            dtype=args.dtype,
        )
    except MissingDependency as exc:
        return _missing(exc)
    except CheckpointError as exc:
        sys.stderr.write(f"error: {checkpoint}: {exc}; nothing was written\n")
        if args.format == "json":
            sys.stdout.write(json.dumps({"spec": network.spec.display, "passed": False, "error": str(exc)}) + "\n")
        return EXIT_FINDINGS
    except OSError as exc:
        sys.stderr.write(f"error: {exc.filename or checkpoint}: {exc.strerror or exc}\n")
        return EXIT_USAGE
    if args.format == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        _render_conversion(result, args.verbose)
    return EXIT_OK if result.passed else EXIT_FINDINGS


def _render_conversion(result, verbose: bool) -> None:
    from archspec.cli import render_check

    for note in result.notes:
        sys.stderr.write(f"note: {result.checkpoint}: {note}\n")
    if result.problems:
        shown = result.problems[:50]
        for problem in shown:
            sys.stderr.write(f"error: {problem.message()}\n")
        more = len(result.problems) - len(shown)
        sys.stderr.write(
            f"{result.checkpoint} does not match {result.spec}: {len(result.problems)} problem"
            f"{'s' if len(result.problems) != 1 else ''}{f' ({more} not shown)' if more else ''}; nothing was written\n"
        )
        return
    sys.stdout.write(f"wrote   {result.output} ({result.tensors} tensors, {result.source} -> {result.target})\n")
    if result.check is not None:
        sys.stdout.write(render_check(result.check, verbose))


# ------------------------------------------------------------------------------------------------
# export


def cmd_export(args: argparse.Namespace) -> int:
    from archspec.cli import UsageError, _network_or_exit, render_check
    from archspec.deploy.checkpoint import CheckpointError, framework_of
    from archspec.deploy.deps import MissingDependency

    size = _common(args)
    if args.opset is not None and args.export_format != "onnx":
        raise UsageError("--opset applies to --format onnx only")
    if args.opset is not None and not 7 <= args.opset <= 30:
        raise UsageError("--opset must be between 7 and 30")
    weights = Path(args.weights) if args.weights else None
    if weights is not None:
        if framework_of(weights) is None:
            raise UsageError(f"{weights}: a PyTorch (.pt, .pth, .safetensors) or Keras (.weights.h5, .h5) file")
        if not weights.is_file():
            raise UsageError(f"cannot read {weights}: no such file")
    network, code = _network_or_exit(args.spec, size)
    if network is None:
        return code
    from archspec.crosscheck.compare import quiet_tensorflow
    from archspec.deploy.export import default_output, export

    quiet_tensorflow()

    out = Path(args.output) if args.output else default_output(network, args.export_format)
    try:
        result = export(
            network,
            args.export_format,
            out,
            weights=weights,
            opset=args.opset,
            dynamic_batch=args.dynamic_batch,
            verify=not args.no_verify,
            batch=args.batch,
            seed=args.seed,
            atol=args.atol,
            rtol=args.rtol,
        )
    except MissingDependency as exc:
        return _missing(exc)
    except CheckpointError as exc:
        sys.stderr.write(f"error: {weights}: {exc}; nothing was written\n")
        return EXIT_FINDINGS
    except OSError as exc:
        sys.stderr.write(f"error: {exc.filename or out}: {exc.strerror or exc}\n")
        return EXIT_USAGE
    if result.problems:
        for problem in result.problems[:50]:
            sys.stderr.write(f"error: {problem.message()}\n")
        sys.stderr.write(f"{weights} does not match {network.spec.display}; nothing was written\n")
    if args.report == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    elif not result.problems:
        sys.stdout.write(
            f"wrote   {result.output} ({result.format}{', dynamic batch' if args.dynamic_batch else ''})\n"
        )
        for extra in result.files:  # an ONNX model's weights past protobuf's 2 GiB: keep the two together
            sys.stdout.write(f"wrote   {extra} (its weights, read from beside {Path(result.output).name})\n")
        for note in result.notes:
            sys.stderr.write(f"note: {note}\n")
        for check in result.checks:
            sys.stdout.write(render_check(check, args.verbose))
    return EXIT_OK if result.passed else EXIT_FINDINGS


# ------------------------------------------------------------------------------------------------
# check --targets


def cmd_check_targets(args: argparse.Namespace) -> int:
    """``archspec check --targets a,b,...``: every selected pair on the same input and weights."""
    from archspec.cli import UsageError, _fmt_float, _io_failure, _print_diagnostics, render_check
    from archspec.deploy.deps import MissingDependency
    from archspec.diagnostics import ArchspecError

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in targets if t not in ("torch", "keras", "onnx")]
    if unknown or len(set(targets)) != len(targets) or len(targets) < 2:
        raise UsageError("--targets takes two or three distinct names of torch, keras, onnx (e.g. torch,keras,onnx)")
    if args.torch_inference or args.keras_inference:
        raise UsageError("--torch-inference and --keras-inference do not combine with --targets")
    size = _common(args)
    from archspec.crosscheck.compare import quiet_tensorflow
    from archspec.deploy.targets import check_targets

    quiet_tensorflow()
    status = EXIT_OK
    payload = []
    for spec in args.specs:
        try:
            results = check_targets(
                spec,
                targets,
                size,
                batch=args.batch,
                seed=args.seed,
                atol=args.atol,
                rtol=args.rtol,
                dtype=args.dtype,
            )
        except MissingDependency as exc:
            return _missing(exc)
        except ArchspecError as exc:
            _print_diagnostics(exc.diagnostics)
            status = max(status, EXIT_USAGE if _io_failure(exc.diagnostics) else EXIT_FINDINGS)
            continue
        for pair, result in results:
            status = max(status, EXIT_OK if result.passed else EXIT_FINDINGS)
            if args.format == "json":
                payload.append({"targets": list(pair), **result.to_dict()})
            else:
                sys.stdout.write(f"{pair[0]} vs {pair[1]}: ")
                sys.stdout.write(render_check(result, args.verbose))
        if args.format == "text" and len(results) > 1:
            worst = max(r.max_rel_diff for _, r in results)
            sys.stdout.write(
                f"{sum(r.passed for _, r in results)}/{len(results)} pairs passed, "
                f"max scaled diff {_fmt_float(worst)}\n"
            )
    if args.format == "json":
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    return status
