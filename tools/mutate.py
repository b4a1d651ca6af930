"""Mutation testing of the test suite: can the tests fail?

Each mutant below is one small, realistic bug put into the package source (a (file, old,
new) patch, ``old`` occurring exactly once).  The script copies the repository to a temporary
folder, applies the mutants one at a time there (the working tree is never touched), runs a
fast subset of the tests against each, and reports which mutants the tests kill and the
score.  A surviving mutant is a bug the suite would ship: add a test that kills it, or, if it
cannot change behaviour, say why in its note (``equivalent: ...``); equivalent mutants are not
counted in the score.

    python tools/mutate.py                 # all mutants, the default test subset
    python tools/mutate.py -k stride_at    # mutants whose name contains "stride_at"
    python tools/mutate.py --tests tests/test_expr.py --list

Exit code 0 when every non-equivalent mutant is killed, 1 otherwise.  Not part of the pytest
run: it takes a few minutes (each mutant runs the subset until its first failure).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: the fast subset: cheap files first, so that most mutants die within seconds (-x)
DEFAULT_TESTS = [
    "tests/test_expr.py",
    "tests/test_ir.py",
    "tests/test_lint_rules.py",
    "tests/test_loader.py",
    "tests/test_mutants.py",
    "tests/test_crosscheck.py",
    "tests/test_keras_semantics.py",
    "tests/test_torch_backend.py",
]

#: the tests written for each part of the package, run first: a mutant they kill is reported
#: in seconds; one they miss runs the whole default subset above before it counts as surviving
FOCUS = {
    "archspec/ir/": [
        "tests/test_mutants.py",
        "tests/test_ir.py",
        "tests/test_graph.py",
        # the catalog against its peers' parameters, mult-adds and state-dict shapes (offline)
        "tests/test_catalog.py::test_params_equal_the_peer",
        "tests/test_catalog.py::test_macs_equal_torchinfo",
        "tests/test_catalog.py::test_state_dict_equals_the_peer",
    ],
    "archspec/spec/": ["tests/test_expr.py", "tests/test_loader.py", "tests/test_hostile.py", "tests/test_mutants.py"],
    "archspec/lint/": ["tests/test_lint_rules.py", "tests/test_lint_config.py", "tests/test_mutants.py"],
    "archspec/backends/torch": ["tests/test_mutants.py", "tests/test_torch_backend.py", "tests/test_hostile.py"],
    "archspec/backends/keras": ["tests/test_mutants.py", "tests/test_keras_semantics.py"],
    "archspec/crosscheck/": ["tests/test_mutants.py", "tests/test_crosscheck.py"],
    "archspec/pipeline.py": ["tests/test_hostile.py", "tests/test_cli.py"],
}


def focus(mutant_file: str) -> list[str]:
    return next((tests for prefix, tests in FOCUS.items() if mutant_file.startswith(prefix)), [])


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    note: str = ""  # "equivalent: why" for a mutant that cannot change behaviour


MUTANTS = [
    # --- the five that survived the first run (issue 12), killed by tests/test_mutants.py
    Mutant(
        "as204_one_digit_off",
        "archspec/lint/rules_widths.py",
        "        if len(diffs) == 1:\n",
        "        if len(diffs) == 0:\n",
    ),
    Mutant(
        "torch_maxpool_pad_zeros",
        "archspec/backends/torch_lowering.py",
        'fill = naming.literal(float("-inf")) if neg_inf else None',
        "fill = None",
    ),
    Mutant(
        "floor_division_as_true_division",
        "archspec/spec/expr.py",
        "        elif op is ast.FloorDiv:\n            result = left // right",
        "        elif op is ast.FloorDiv:\n            result = left / right",
    ),
    Mutant(
        "stride_at_last_list_form",
        "archspec/ir/build.py",
        'at = 0 if stage.stride_at == "first" else len(blocks) - 1',
        "at = 0",
    ),
    Mutant(
        "keras_ceil_pool_same_at_3",
        "archspec/backends/keras_backend.py",
        "static_kernel == static_stride and max(static_kernel) <= 2",
        "static_kernel == static_stride and max(static_kernel) <= 3",
    ),
    # --- shapes, counts and padding (the IR)
    Mutant(
        "same_padding_extra_on_top",
        "archspec/ir/ops.py",
        "out += [total // 2, total - total // 2]",
        "out += [total - total // 2, total // 2]",
    ),
    Mutant(
        "ceil_mode_last_window_rule_dropped",
        "archspec/ir/ops.py",
        "        if (out - 1) * s >= n + lo:\n            out -= 1",
        "        if (out - 1) * s > n + lo:\n            out -= 1",
    ),
    Mutant(
        "dilation_ignored_in_window",
        "archspec/ir/ops.py",
        "span = n + lo + hi - (k - 1) * d - 1",
        "span = n + lo + hi - (k - 1) - 1",
    ),
    Mutant(
        "grouped_conv_weight_not_divided",
        "archspec/ir/ops.py",
        'Tensor("weight", (a.filters, c // a.groups, *a.kernel))',
        'Tensor("weight", (a.filters, c, *a.kernel))',
    ),
    Mutant(
        "conv_macs_per_input_position",
        "archspec/ir/ops.py",
        "return params * math.prod(output[1:])",
        "return params * math.prod(output)",
    ),
    Mutant(
        "concat_channels_from_first_input",
        "archspec/ir/ops.py",
        "return (sum(s[0] for s in ins), *first[1:])",
        "return (first[0] * len(ins), *first[1:])",
    ),
    Mutant(
        "multiply_broadcast_takes_min",
        "archspec/ir/ops.py",
        "dims.append(max(x, y))",
        "dims.append(min(x, y))",
    ),
    Mutant(
        "global_pool_keepdims_ignored",
        "archspec/ir/ops.py",
        "return (c, 1, 1) if a.keepdims else (c,)",
        "return (c,)",
    ),
    Mutant(
        "batchnorm_buffer_counted_as_parameter",
        "archspec/ir/ops.py",
        'Tensor("running_mean", c, False)',
        'Tensor("running_mean", c, True)',
    ),
    Mutant(
        "pool_padding_limit_off_by_one",
        "archspec/ir/ops.py",
        'if max(lo, hi) > k // 2 and a.padding != "same":',
        'if max(lo, hi) > k // 2 + 1 and a.padding != "same":',
    ),
    Mutant(
        "stride_at_last_table_form",
        "archspec/ir/build.py",
        'at = 1 if table.stride_at == "first" else depth',
        "at = 1",
    ),
    # --- expressions and loading
    Mutant(
        "true_division_remainder_accepted",
        "archspec/spec/expr.py",
        "                if left % right:\n",
        "                if False:\n",
    ),
    Mutant(
        "expression_bound_raised",
        "archspec/spec/expr.py",
        "MAX_MAGNITUDE = 2**31",
        "MAX_MAGNITUDE = 2**62",
    ),
    Mutant(
        "duplicate_keys_allowed",
        "archspec/spec/yamlsrc.py",
        "yaml.allow_duplicate_keys = False",
        "yaml.allow_duplicate_keys = True",
    ),
    Mutant(
        "yaml_depth_limit_off",
        "archspec/spec/yamlsrc.py",
        "    if depth > MAX_DEPTH:",
        "    if depth > MAX_DEPTH * 100:",
    ),
    # --- lint
    Mutant(
        "as204_swapped_digits",
        "archspec/lint/rules_widths.py",
        "if len(diffs) == 2 and diffs[1] == diffs[0] + 1",
        "if len(diffs) == 2 and diffs[1] == diffs[0] + 2",
    ),
    Mutant(
        "noqa_silences_errors",
        "archspec/lint/noqa.py",
        "if diag.span is None or diag.severity is Severity.ERROR:",
        "if diag.span is None:",
    ),
    Mutant(
        "as301_concat_not_reported",
        "archspec/lint/rules_topology.py",
        'concats = [m for m in merges if m.op == "concat"]',
        'concats = [m for m in merges if m.op == "add"]',
    ),
    # --- backends
    Mutant(
        "keras_momentum_not_translated",
        "archspec/backends/keras_backend.py",
        "keras_momentum = naming.literal(float(Decimal(1) - Decimal(repr(float(momentum.value)))))",
        "keras_momentum = naming.literal(float(momentum.value))",
    ),
    Mutant(
        "torch_avgpool_asym_refusal_dropped",
        "archspec/backends/torch_lowering.py",
        "if not (include.known and include.value is True):",
        "if False:",
    ),
    Mutant(
        "keras_same_pool_for_zero_padded_max",
        "archspec/backends/keras_backend.py",
        'if (mode == "max" and (pad_value.value != 0 or self.instances_nonneg())) or (',
        'if (mode == "max") or (',
    ),
    Mutant(
        "keras_zero_padding_for_signed_max",
        "archspec/backends/keras_backend.py",
        'zero_padding_exact = mode == "avg" or pad_value.value == 0 or self.instances_nonneg()',
        "zero_padding_exact = True",
    ),
    # --- the cross-check
    Mutant(
        "weights_conv_layout_swapped",
        "archspec/crosscheck/weights.py",
        "value = value.transpose(2, 3, 1, 0)",
        "value = value.transpose(3, 2, 1, 0)",
    ),
    Mutant(
        "check_passes_with_nothing_compared",
        "archspec/crosscheck/compare.py",
        "passed=bool(diffs) and not failed,",
        "passed=not failed,",
    ),
    Mutant(
        "check_tolerance_ignores_difference",
        "archspec/crosscheck/compare.py",
        "passed=bool(np.all(delta <= allowed)),",
        "passed=bool(np.all(delta <= allowed + 1.0)),",
    ),
    Mutant(
        "check_float32_growth_linear",
        "archspec/crosscheck/compare.py",
        "return 1.0 if float64 else max(1.0, depth / 16) ** 2",
        "return 1.0 if float64 else max(1.0, depth / 16)",
    ),
    Mutant(
        "check_compares_outputs_only",
        "archspec/crosscheck/compare.py",
        '        elif node.params or node.op in COMPARED_WITHOUT_PARAMS:\n            out.append((node.id, "layer"))',
        '        elif False:\n            out.append((node.id, "layer"))',
    ),
    Mutant(
        "check_full_size_branches",
        "archspec/crosscheck/weights.py",
        "                    value = value * 0.25\n",
        "                    value = value * 1.0\n",
    ),
    Mutant(
        "gate_lets_errors_through",
        "archspec/pipeline.py",
        "    if errors:\n        raise ArchspecError(errors)",
        "    if errors and False:\n        raise ArchspecError(errors)",
    ),
]


def copy_repo(dest: Path) -> None:
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".hypothesis", ".pytest_cache", "*.pyc")
    for entry in ROOT.iterdir():
        if entry.name in (".git", ".venv", ".hypothesis", ".pytest_cache"):
            continue
        target = dest / entry.name
        if entry.is_dir():
            shutil.copytree(entry, target, ignore=ignore, symlinks=True)
        else:
            shutil.copy2(entry, target)


def run_tests(repo: Path, tests: list[str], timeout: float) -> tuple[str, float, str]:
    """('killed' | 'survived' | 'timeout', seconds, the first failing test)."""
    env = dict(os.environ, PYTHONPATH=str(repo), ARCHSPEC_FUZZ="dev", PYTHONDONTWRITEBYTECODE="1")
    env.pop("CI", None)
    start = time.perf_counter()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider", "--no-header", *tests],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start, ""
    seconds = time.perf_counter() - start
    failed = next((line.split(" ")[1] for line in result.stdout.splitlines() if line.startswith("FAILED ")), "")
    if result.returncode == 0:
        return "survived", seconds, ""
    if result.returncode == 1 or failed:  # with xdist workers, a stop at the first failure exits 2
        return "killed", seconds, failed
    return "error", seconds, result.stdout[-2000:] + result.stderr[-2000:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default="", help="run only the mutants whose name contains this (or one of a,b,c)")
    parser.add_argument("--tests", nargs="+", default=DEFAULT_TESTS, help="the test files to run")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per mutant")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the unmutated run (when the subset is known to pass)"
    )
    args = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if any(k in m.name for k in args.k.split(","))]
    for m in mutants:
        text = (ROOT / m.file).read_text(encoding="utf-8")
        if text.count(m.old) != 1:
            print(f"mutant {m.name}: its text occurs {text.count(m.old)} times in {m.file}; update the mutant")
            return 2
    if args.list:
        for m in mutants:
            print(f"{m.name:40} {m.file}{'  (' + m.note + ')' if m.note else ''}")
        return 0
    with tempfile.TemporaryDirectory(prefix="archspec-mutate-") as tmp:
        repo = Path(tmp)
        copy_repo(repo)
        if not args.no_baseline:
            status, seconds, _ = run_tests(repo, args.tests, args.timeout)
            if status != "survived":
                print(f"the tests fail without any mutant ({status}); fix them first")
                return 2
            print(f"unmutated: the subset passes in {seconds:.0f}s", flush=True)
        print(f"{len(mutants)} mutants; tests: {' '.join(args.tests)}", flush=True)
        results = []
        for m in mutants:
            path = repo / m.file
            original = path.read_text(encoding="utf-8")
            path.write_text(original.replace(m.old, m.new), encoding="utf-8")
            try:
                first = focus(m.file) if args.tests == DEFAULT_TESTS else []
                status, seconds, detail = run_tests(repo, first, args.timeout) if first else ("survived", 0.0, "")
                if status == "survived":
                    status, more, detail = run_tests(repo, args.tests, args.timeout)
                    seconds += more
            finally:
                path.write_text(original, encoding="utf-8")
            if m.note.startswith("equivalent") and status == "survived":
                status = "equivalent"
            results.append((m, status))
            print(f"{status:10} {seconds:6.0f}s  {m.name:40} {detail.splitlines()[0] if detail else ''}", flush=True)
    counted = [(m, s) for m, s in results if s != "equivalent"]
    killed = sum(s == "killed" for _, s in counted)
    score = killed / len(counted) if counted else 1.0
    print(f"\nkilled {killed} of {len(counted)} mutants (score {score:.0%}); {len(results) - len(counted)} equivalent")
    for m, s in counted:
        if s != "killed":
            print(f"  {s}: {m.name} ({m.file})")  # a timeout is not a kill: rerun it with more time
    return 0 if killed == len(counted) else 1


if __name__ == "__main__":
    raise SystemExit(main())
