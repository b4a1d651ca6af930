"""Cross-check many specs at once: the frameworks are imported once per worker process, and
the specs run in parallel worker processes.

``archspec check SPEC...`` with more than one spec and more than one job starts ``jobs``
worker processes (``spawn``: nothing of the parent's thread pools is inherited).  Each imports
torch and Keras once, at start-up, then checks spec after spec, splitting the machine's cores
between the workers' thread pools.  Results come back in the order the specs were given,
whichever finishes first.  Every spec is loaded and linted in this process first, without the
frameworks: a spec with errors comes back as its rendered diagnostics at once, and reaches no
worker.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from archspec.crosscheck.compare import CheckResult
from archspec.ir.graph import Network

#: exit statuses of one spec, as the command's
OK, FAILED, IO_FAILURE = 0, 1, 2


@dataclass
class Outcome:
    """One spec's check: its result (a failed one, with ``diagnostics``, when the spec was refused
    before the comparison) and, for a refused spec, the reasons rendered for a terminal."""

    spec: str
    result: CheckResult
    diagnostics: str = ""
    status: int = OK
    seconds: float = 0.0


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def screen(spec: str, options: dict[str, Any], color: bool = False) -> Outcome | Network:
    """What ``check`` refuses before any framework is needed: a spec that does not load, has
    lint errors, or whose models and activations would not fit in memory.  Returns the refusal
    (an :class:`Outcome`) or the linted network.  Needs neither numpy, torch nor TensorFlow, so
    that a refused spec is answered in a fraction of a second, and whatever is installed."""
    from archspec.crosscheck import guard
    from archspec.diagnostics import ArchspecError
    from archspec.pipeline import checked_network

    start = time.perf_counter()
    try:
        network = checked_network(spec, options.get("input_size"))
        guard.ensure_fits(network, batch=options["batch"], dtype=options["dtype"])
    except (ArchspecError, guard.TooLarge) as exc:
        return _refusal(spec, exc, options, color, time.perf_counter() - start)
    return network


def _refusal(spec: str, exc: Exception, options: dict[str, Any], color: bool, seconds: float) -> Outcome:
    """The failed outcome of a spec refused before the comparison, with its reasons."""
    from archspec.crosscheck import guard
    from archspec.diagnostics import ArchspecError, render_text

    fields = {k: v for k, v in options.items() if k not in ("input_size", "torch_inference", "keras_inference")}
    if isinstance(exc, ArchspecError):
        io = any(d.code == "AS100" for d in exc.diagnostics)
        text = render_text(exc.diagnostics, None, color=color) if exc.diagnostics else ""
        refused = CheckResult.refused(spec, [d.to_dict() for d in exc.diagnostics], **fields)
        return Outcome(spec, refused, text, IO_FAILURE if io else FAILED, seconds)
    too_large = isinstance(exc, guard.TooLarge)
    text = f"error: {spec}: {'' if too_large else 'code generation refused it: '}{exc}\n"
    reason = {
        "code": None,
        "name": "too-large" if too_large else "backend-refused",
        "severity": "error",
        "message": str(exc),
        "file": spec,
        "line": None,
        "column": None,
        "hint": None,
        "url": None,
        "fix": None,
    }
    refused = CheckResult.refused(spec, [reason], **fields)
    return Outcome(spec, refused, text, IO_FAILURE if too_large else FAILED, seconds)


def check_one(spec: str, options: dict[str, Any], color: bool = False, network: Network | None = None) -> Outcome:
    """Check ``spec`` with ``options`` (``input_size``, ``batch``, ``seed``, ``atol``, ``rtol``,
    ``dtype``, ``torch_inference``, ``keras_inference``) in this process (``network``: the spec already loaded by
    :func:`screen`, not loaded again).  A spec refused before the comparison (its lint errors,
    a backend's refusal, too large for memory) comes back as a failed result whose
    ``diagnostics`` say why, with the same reasons rendered for a terminal."""
    from archspec.backends import BackendError
    from archspec.backends.naming import NamingError
    from archspec.backends.render import RenderError
    from archspec.crosscheck import guard
    from archspec.crosscheck.compare import quiet_tensorflow
    from archspec.diagnostics import ArchspecError

    quiet_tensorflow()
    options = dict(options)
    keras_inference = options.pop("keras_inference", False)
    if options.pop("torch_inference", False):
        from archspec.crosscheck.inference import check_torch_inference as check
    elif keras_inference:
        from archspec.crosscheck.inference import check_keras_inference as check
    else:
        from archspec.crosscheck.compare import check_spec as check
    start = time.perf_counter()
    size = options.pop("input_size", None)
    try:
        result = check(network if network is not None else spec, size, **options)
    except (ArchspecError, guard.TooLarge, BackendError, NamingError, RenderError) as exc:
        return _refusal(spec, exc, options, color, time.perf_counter() - start)
    finally:
        _release()
    return Outcome(spec, result, "", OK if result.passed else FAILED, time.perf_counter() - start)


def _release() -> None:
    """Drop Keras' global graph state between specs, so that a long batch does not grow."""
    import sys

    keras = sys.modules.get("keras")
    if keras is not None:
        # without its full garbage collection (about 0.1 s for a ResNet-50's objects, every
        # spec): reference counting frees the models, and the collector's own thresholds the rest
        keras.backend.clear_session(free_memory=False)


def _start_worker(threads: int) -> None:
    """A worker's start-up: the frameworks imported once, their thread pools sized to its share
    of the cores."""
    from archspec.crosscheck.compare import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf
    import torch

    torch.set_num_threads(threads)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras  # noqa: F401

    import archspec.crosscheck.compare  # noqa: F401
    import archspec.crosscheck.inference  # noqa: F401


def check_many(
    specs: Sequence[str],
    options: dict[str, Any],
    *,
    jobs: int | None = None,
    color: bool = False,
    on_done: Callable[[int, Outcome], None] | None = None,
) -> Iterator[Outcome]:
    """Check every spec, yielding each :class:`Outcome` in the order of ``specs``.  ``jobs``
    worker processes (default: the cores available; 1 or a single spec to compare: this
    process).  ``on_done(count, outcome)`` is called as each spec finishes, in any order
    (progress).

    Every spec is first screened here (:func:`screen`: loading, lint, memory), without the
    frameworks; only the specs that pass reach them.  So a batch of refused specs needs no
    framework, and raises :class:`~archspec.crosscheck.guard.MissingDependency` (before
    yielding anything) only when a spec is to be compared and a framework is missing."""
    from archspec.crosscheck import guard

    screened = [screen(spec, options, color) for spec in specs]
    clean = [i for i, s in enumerate(screened) if not isinstance(s, Outcome)]
    if clean:
        guard.require_for_check(bool(options.get("torch_inference")))
    count = 0
    done: dict[int, Outcome] = {}
    for i, s in enumerate(screened):
        if isinstance(s, Outcome):
            done[i] = s
            count += 1
            if on_done:
                on_done(count, s)
    jobs = max(1, min(jobs or available_cores(), len(clean)))
    if jobs == 1:
        for i, spec in enumerate(specs):
            if i not in done:
                outcome = check_one(spec, options, color, network=screened[i])
                count += 1
                if on_done:
                    on_done(count, outcome)
                done[i] = outcome
            yield done.pop(i)
        return

    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    threads = max(1, available_cores() // jobs)
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(threads,),
    ) as pool:
        # the workers load each spec again: a network does not cross processes, and its
        # loading (a fraction of a second) runs while the others compare
        futures = {pool.submit(check_one, specs[i], options, color): i for i in clean}
        pending = set(futures)
        next_out = 0
        try:
            while True:
                while next_out in done:
                    yield done.pop(next_out)
                    next_out += 1
                if not pending:
                    break
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=futures.__getitem__):
                    done[futures[future]] = future.result()
                    count += 1
                    if on_done:
                        on_done(count, done[futures[future]])
        finally:
            for future in pending:
                future.cancel()
