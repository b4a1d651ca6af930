"""The numerical cross-check: one spec, two frameworks, the same weights, the same input.

Both generated models are built; the PyTorch one gets random weights and BatchNorm
statistics, which are transferred to Keras through the IR; a random input (NCHW for
PyTorch, the same values NHWC for Keras) runs through both in inference mode.  Compared:
every layer with weights, every block's output and the logits, in the IR's order.

Tolerance: a compared tensor passes when every element satisfies
``|keras - torch| <= atol * max(1, scale) * growth(depth) + rtol * |torch|`` where ``scale``
is the largest magnitude in the PyTorch tensor and ``depth`` the number of convolution and
linear layers on the longest path from the input to the tensor.  Defaults ``atol = 1e-4``
and ``rtol = 1e-4``, as converters use (nobuco 1e-4 per node, onnx2tf atol 1e-4).

By default both models run in float64 (``--dtype float64``), where the two frameworks'
kernels agree to about 1e-13 whatever the depth: ``growth`` is 1, and anything above 1e-4
is a real difference in semantics, found where it first appears.  In float32 the rounding
differences between the frameworks' kernels accumulate end to end (converters compare each
node on the same input; here activations flow through the whole network), and they grow
about quadratically with depth: measured on ResNet-152 v1 at 224x224, a scaled difference of
1e-6 at depth 5, 7e-5 at depth 50 and 1.4e-3 at depth 155.  So ``--dtype float32`` uses
``growth = max(1, depth / 16) ** 2``: 1 for the first 16 layers, 100 at depth 160.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from archspec.ir.graph import Network

if TYPE_CHECKING:
    import numpy as np

DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-4


@dataclass
class TensorDiff:
    name: str  # module path
    keras_name: str
    kind: str  # layer | block | output
    shape: list[int]
    max_abs_diff: float
    max_rel_diff: float  # max |diff| / max(1, scale)
    scale: float
    depth: int
    passed: bool


@dataclass
class CheckResult:
    spec: str
    name: str
    input_size: list[int]
    batch: int
    atol: float
    rtol: float
    seed: int
    dtype: str
    passed: bool
    max_abs_diff: float | None  # None: refused before the comparison
    max_rel_diff: float | None
    first_divergence: str | None
    layers: list[TensorDiff] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    #: why a spec was refused before any model ran (lint errors, a backend's refusal, too large)
    diagnostics: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def refused(
        cls,
        spec: str,
        diagnostics: list[dict[str, Any]],
        *,
        name: str | None = None,
        batch: int,
        atol: float,
        rtol: float,
        seed: int,
        dtype: str,
    ) -> CheckResult:
        """The failed result of a spec that never reached the comparison, with the reasons."""
        return cls(
            spec=spec,
            name=name,
            input_size=[],
            batch=batch,
            atol=atol,
            rtol=rtol,
            seed=seed,
            dtype=dtype,
            passed=False,
            max_abs_diff=None,
            max_rel_diff=None,
            first_divergence=None,
            diagnostics=diagnostics,
        )


def result_of(
    network: Network,
    diffs: list[TensorDiff],
    *,
    batch: int,
    atol: float,
    rtol: float,
    seed: int,
    dtype: str,
    timings: dict[str, float],
) -> CheckResult:
    """The verdict on ``diffs``: passed, the worst differences, the first divergent tensor."""
    import numpy as np

    failed = [d for d in diffs if not d.passed]
    finite = [d for d in diffs if np.isfinite(d.max_abs_diff)]
    return CheckResult(
        spec=network.spec.display,
        name=network.name,
        input_size=list(network.input_shape[1:]),
        batch=batch,
        atol=atol,
        rtol=rtol,
        seed=seed,
        dtype=dtype,
        passed=bool(diffs) and not failed,
        max_abs_diff=max((d.max_abs_diff for d in diffs), default=0.0),
        max_rel_diff=max((d.max_rel_diff for d in finite), default=0.0),
        first_divergence=failed[0].name if failed else None,
        layers=diffs,
        timings={k: round(v, 3) for k, v in timings.items()},
    )


def growth(depth: int, float64: bool) -> float:
    """How much the tolerance grows at ``depth`` (see the module docstring)."""
    return 1.0 if float64 else max(1.0, depth / 16) ** 2


def depths(network: Network) -> dict[str, int]:
    """Per node: convolution and linear layers on the longest path from the input."""
    out: dict[str, int] = {}
    for node in network.nodes():
        before = max((out[i] for i in node.inputs), default=0)
        out[node.id] = before + (1 if node.op in ("conv", "linear") else 0)
    return out


def _points(network: Network) -> list[tuple[str, str]]:
    """(node id, kind) of every compared tensor, in network order."""
    block_outputs = {b.output: b.id for b in network.blocks}
    out = []
    for node in network.ops():
        if node.id == network.output:
            out.append((node.id, "output"))
        elif node.id in block_outputs:
            out.append((node.id, "block"))
        elif node.params or node.op in COMPARED_WITHOUT_PARAMS:
            out.append((node.id, "layer"))
    return out


#: parameter-free ops each framework computes with archspec's own layer code (not a library
#: layer), compared layer by layer as well
COMPARED_WITHOUT_PARAMS = frozenset({"radix_sum", "radix_softmax"})


def quiet_tensorflow() -> None:
    """TensorFlow's start-up chatter and retracing notices say nothing about the comparison."""
    import logging

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


@contextlib.contextmanager
def keras_dtype(dtype: str):
    """Keras' float type (``floatx``) and global dtype policy set to ``dtype`` inside the block,
    restored after it: the policy, once created, no longer follows ``floatx``, so both are set."""
    import keras

    previous_floatx, previous_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(previous_floatx)
        keras.config.set_dtype_policy(previous_policy)


def build_pair(network: Network, seed: int = 0, dtype: str = "float64"):
    """Both generated models, the PyTorch one randomized, the weights transferred to Keras."""
    quiet_tensorflow()
    import keras

    from archspec.backends import get_backend
    from archspec.crosscheck.weights import DeferredKerasVariables, randomize_torch, transfer_weights

    torch_backend, keras_backend = get_backend("torch"), get_backend("keras")
    torch_model = torch_backend.instantiate(torch_backend.emit(network), network)
    if dtype == "float64":
        torch_model = torch_model.double()
    torch_model.eval()
    randomize_torch(torch_model, network, seed)
    deferred = DeferredKerasVariables(keras)  # the transfer gives the variables their values
    with keras_dtype(dtype), deferred:
        keras_model = keras_backend.instantiate(keras_backend.emit(network), network)
    transfer_weights(torch_model, keras_model, network)
    deferred.finish()
    return torch_model, keras_model


def compare_models(
    torch_model,
    keras_model,
    network: Network,
    *,
    batch: int = 2,
    seed: int = 0,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
) -> list[TensorDiff]:
    """Run both models on the same random input; one :class:`TensorDiff` per compared tensor."""
    import numpy as np
    import torch

    points = _points(network)
    depth = depths(network)
    rng = np.random.default_rng(seed + 1)
    dtype = next(torch_model.parameters()).dtype
    x = rng.standard_normal((batch, *network.input_shape)).astype(np.float64 if dtype == torch.float64 else np.float32)

    # PyTorch: forward hooks on the modules that produce the compared tensors.
    captured: dict[str, np.ndarray] = {}
    handles = []
    modules = dict(torch_model.named_modules())
    torch_points = []
    for node_id, kind in points:
        node = network.node(node_id)
        path = network.block(node.block_id).id if kind == "block" else node.torch_path
        if kind == "output":
            torch_points.append((node_id, kind))
            continue
        module = modules.get(path)
        if module is None:
            continue
        torch_points.append((node_id, kind))

        def hook(_module, _inputs, output, node_id=node_id):
            # a copy: the generated code's in-place activations and residual adds overwrite
            # this tensor further on
            captured[node_id] = output.detach().cpu().clone().numpy()

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            logits = torch_model(torch.from_numpy(x)).detach().cpu().clone().numpy()
    finally:
        for handle in handles:
            handle.remove()
    captured[network.output] = logits

    diffs = []
    kinds = dict(torch_points)
    for node_id, theirs in keras_values(keras_model, network, torch_points, x).items():
        kind = kinds[node_id]
        node = network.node(node_id)
        ours = captured.get(node_id)
        name = node.block_id if kind == "block" else node.torch_path
        diffs.append(
            diff_tensor(
                name,
                node.keras_name,
                kind,
                ours,
                theirs,
                depth[node_id],
                atol=atol,
                rtol=rtol,
                float64=dtype == torch.float64,
            )
        )
    return diffs


def keras_values(keras_model, network: Network, points: list[tuple[str, str]], x_nchw: np.ndarray) -> dict:
    """The Keras model's value at each of ``points`` ((node id, kind); kind ``output`` for the
    logits) that it has, in NCHW like PyTorch's and in the order of ``points``: one model with
    every probed layer's output, run once on ``x_nchw`` (transposed to NHWC) in inference mode."""
    import keras
    import numpy as np

    names = {layer.name for layer in keras_model.layers}
    chosen = [(n, k) for n, k in points if k == "output" or network.node(n).keras_name in names]
    outputs = [
        keras_model.output if k == "output" else keras_model.get_layer(network.node(n).keras_name).output
        for n, k in chosen
    ]
    probe = keras.Model(keras_model.inputs, outputs)
    x_nhwc = np.ascontiguousarray(np.transpose(x_nchw, (0, 2, 3, 1))) if x_nchw.ndim == 4 else x_nchw
    values = probe([x_nhwc] if len(keras_model.inputs) == 1 else x_nhwc, training=False)
    if not isinstance(values, (list, tuple)):
        values = [values]
    out = {}
    for (node_id, _), value in zip(chosen, values, strict=True):
        array = np.asarray(value)
        out[node_id] = np.transpose(array, (0, 3, 1, 2)) if array.ndim == 4 else array
    return out


def diff_tensor(
    name: str,
    other_name: str,
    kind: str,
    reference: np.ndarray | None,
    candidate: np.ndarray | None,
    depth: int,
    *,
    atol: float,
    rtol: float,
    float64: bool,
) -> TensorDiff:
    """One compared tensor: ``candidate`` against ``reference`` (the same layout, batch first)
    with the tolerance of the module docstring.  A tensor missing on either side, or of another
    shape, fails with an infinite difference; so does a NaN."""
    import numpy as np

    if reference is None or candidate is None or reference.shape != candidate.shape:
        shape = list(reference.shape[1:]) if reference is not None else []
        return TensorDiff(name, other_name, kind, shape, float("inf"), float("inf"), 0.0, depth, False)
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    delta = np.abs(candidate.astype(np.float64) - reference.astype(np.float64))
    allowed = atol * max(1.0, scale) * growth(depth, float64) + rtol * np.abs(reference)
    return TensorDiff(
        name=name,
        keras_name=other_name,
        kind=kind,
        shape=list(reference.shape[1:]),
        max_abs_diff=float(delta.max()) if delta.size else 0.0,
        max_rel_diff=float(delta.max() / max(1.0, scale)) if delta.size else 0.0,
        scale=scale,
        depth=depth,
        passed=bool(np.all(delta <= allowed)),  # a NaN compares False
    )


def check_spec(
    spec,
    input_size: tuple[int, int] | None = None,
    *,
    batch: int = 2,
    seed: int = 0,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    dtype: str = "float64",
) -> CheckResult:
    """Cross-check one spec (a path or a network).  Raises ArchspecError for a spec with errors,
    ValueError for an option out of range, and :class:`~archspec.crosscheck.guard.TooLarge` when
    the models and activations would not fit in memory (estimated before anything is built)."""
    return run_check(
        spec,
        input_size,
        build_pair,
        compare_models,
        "build_and_transfer",
        batch=batch,
        seed=seed,
        atol=atol,
        rtol=rtol,
        dtype=dtype,
    )


def run_check(
    spec,
    input_size: tuple[int, int] | None,
    build,
    compare,
    build_step: str,
    *,
    batch: int,
    seed: int,
    atol: float,
    rtol: float,
    dtype: str,
) -> CheckResult:
    """What every check does around its two models: the options validated, the spec loaded,
    linted and sized for memory, ``build(network, seed, dtype)`` (timed as ``build_step``), then
    ``compare(a, b, network, batch=, seed=, atol=, rtol=)``, each step timed."""
    import torch

    from archspec.crosscheck.guard import ensure_fits, validate_options
    from archspec.pipeline import checked_network

    validate_options(batch=batch, seed=seed, atol=atol, rtol=rtol)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    network = checked_network(spec, input_size)
    ensure_fits(network, batch=batch, dtype=dtype)
    timings["load_and_lint"] = time.perf_counter() - start
    mark = time.perf_counter()
    torch.manual_seed(seed)
    first, second = build(network, seed, dtype)
    timings[build_step] = time.perf_counter() - mark
    mark = time.perf_counter()
    diffs = compare(first, second, network, batch=batch, seed=seed, atol=atol, rtol=rtol)
    timings["run_and_compare"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - start
    return result_of(network, diffs, batch=batch, atol=atol, rtol=rtol, seed=seed, dtype=dtype, timings=timings)
