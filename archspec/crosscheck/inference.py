"""The inference forms checked against their plain models: PyTorch's (below) and Keras'
(:func:`check_keras_inference`, at the end).

``archspec build --inference`` writes a module whose ``fuse_for_inference()`` folds every
BatchNorm into the convolution before it and switches to channels-last (see
:func:`archspec.backends.torch_backend.emit`).  Folding changes the rounding, nothing else; this
check proves it on a given spec: the plain model gets random weights and measured-then-
perturbed BatchNorm statistics (:func:`~archspec.crosscheck.weights.randomize_torch`), the
inference model loads the same state dict and fuses, and both run on one random input in
eval mode.  Compared, in network order: every BatchNorm (in the fused model, the identity that
replaced a folded one: there the folded convolution's output), every other layer with weights
except the folded convolutions (whose plain output is before the BatchNorm), every block's
output and the logits, with the tolerance of :mod:`archspec.crosscheck.compare` (float64 by
default, where folding must agree to rounding; ``dtype="float32"`` checks the deployed form).
"""

from __future__ import annotations

import functools

import numpy as np

from archspec.crosscheck.compare import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    CheckResult,
    TensorDiff,
    depths,
    diff_tensor,
    run_check,
)
from archspec.ir.graph import Network


def build_inference_pair(network: Network, seed: int = 0, dtype: str = "float64"):
    """The plain model (randomized, eval mode) and the inference form with the same weights,
    fused."""
    from archspec.backends import torch_backend
    from archspec.crosscheck.weights import randomize_torch

    plain = torch_backend.instantiate(torch_backend.emit(network), network)
    fused = torch_backend.instantiate(torch_backend.emit(network, inference=True), network)
    if dtype == "float64":
        plain, fused = plain.double(), fused.double()
    plain.eval()
    randomize_torch(plain, network, seed)
    fused.load_state_dict(plain.state_dict(), strict=True)
    fused.fuse_for_inference()
    return plain, fused


def _run(model, network: Network, points: list[tuple[str, str]], x):
    import torch

    captured: dict[str, np.ndarray] = {}
    modules = dict(model.named_modules())
    handles = []
    for node_id, kind in points:
        if kind == "output":
            continue
        node = network.node(node_id)
        module = modules.get(network.block(node.block_id).id if kind == "block" else node.torch_path)
        if module is None:
            continue

        def hook(_module, _inputs, output, node_id=node_id):
            # a copy: an in-place activation further on may overwrite this tensor
            captured[node_id] = output.detach().cpu().clone().numpy()

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            captured[network.output] = model(x).detach().cpu().clone().numpy()
    finally:
        for handle in handles:
            handle.remove()
    return captured


def _points(network: Network) -> list[tuple[str, str]]:
    """What both inference checks compare, in network order: (node id, kind)."""
    from archspec.backends.folding import foldable_batchnorms

    folded_convs = set(foldable_batchnorms(network).values())
    block_outputs = {b.output for b in network.blocks}
    points = []
    for node in network.ops():
        if node.id == network.output:
            points.append((node.id, "output"))
        elif node.id in block_outputs:
            points.append((node.id, "block"))
        elif (node.params or node.op == "batchnorm") and node.id not in folded_convs:
            points.append((node.id, "layer"))
    return points


def compare_inference(
    plain,
    fused,
    network: Network,
    *,
    batch: int = 2,
    seed: int = 0,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
) -> list[TensorDiff]:
    import torch

    points = _points(network)
    depth = depths(network)
    rng = np.random.default_rng(seed + 1)
    dtype = next(plain.parameters()).dtype
    x = torch.from_numpy(
        rng.standard_normal((batch, *network.input_shape)).astype(np.float64 if dtype == torch.float64 else np.float32)
    )
    ours = _run(plain, network, points, x)
    theirs = _run(fused, network, points, x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x)
    float64 = dtype == torch.float64
    diffs = []
    for node_id, kind in points:
        node = network.node(node_id)
        name = node.block_id if kind == "block" else node.torch_path
        a, b = ours.get(node_id), theirs.get(node_id)
        diffs.append(diff_tensor(name, name, kind, a, b, depth[node_id], atol=atol, rtol=rtol, float64=float64))
    return diffs


def check_torch_inference(
    spec,
    input_size: tuple[int, int] | None = None,
    *,
    batch: int = 2,
    seed: int = 0,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    dtype: str = "float64",
) -> CheckResult:
    """Check the inference form of ``spec`` (a path or a network) against its plain PyTorch
    model.  Raises ArchspecError for a spec with errors."""
    return run_check(
        spec,
        input_size,
        build_inference_pair,
        compare_inference,
        "build_and_fuse",
        batch=batch,
        seed=seed,
        atol=atol,
        rtol=rtol,
        dtype=dtype,
    )


# ---------------------------------------------------------------------------------------------
# Keras: ``archspec build --inference --backend keras`` writes the plain module plus
# ``fuse_for_inference(model)``, which returns a copy of a built model with the BatchNorms folded


def build_keras_inference_pair(network: Network, seed: int = 0, dtype: str = "float64"):
    """The plain Keras model with the cross-check's random weights (randomized in PyTorch and
    transferred, BatchNorm statistics measured then perturbed) and the copy that the generated
    ``fuse_for_inference()`` returns for it."""
    from archspec.backends import keras_backend
    from archspec.crosscheck.compare import build_pair, keras_dtype

    _, plain = build_pair(network, seed, dtype)
    source = keras_backend.emit(network, inference=True)
    module = keras_backend.load_module(source, network)
    with keras_dtype(dtype):
        fused = module.fuse_for_inference(plain)
    return plain, fused


def compare_keras_inference(
    plain,
    fused,
    network: Network,
    *,
    batch: int = 2,
    seed: int = 0,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    dtype: str = "float64",
) -> list[TensorDiff]:
    """As :func:`compare_inference`, for the two Keras models: every BatchNorm (in the copy, the
    identity that replaced a folded one), every other layer with weights except the folded
    convolutions, every block's output and the logits, by Keras layer name."""
    from archspec.crosscheck.compare import keras_values

    # keras.models.clone_model() keeps what the outputs depend on: a layer nothing reads (a
    # body's last layer that a later one replaced as the block's output) is not in the copy
    points = [(n, k) for n, k in _points(network) if n == network.output or network.out_degree(n) > 0]
    depth = depths(network)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((batch, *network.input_shape)).astype(dtype)
    ours = keras_values(plain, network, points, x)
    theirs = keras_values(fused, network, points, x)
    diffs = []
    for node_id, kind in points:
        node = network.node(node_id)
        name = node.block_id if kind == "block" else node.keras_name
        diffs.append(
            diff_tensor(
                name,
                node.keras_name,
                kind,
                ours.get(node_id),
                theirs.get(node_id),
                depth[node_id],
                atol=atol,
                rtol=rtol,
                float64=dtype == "float64",
            )
        )
    return diffs


def check_keras_inference(
    spec,
    input_size: tuple[int, int] | None = None,
    *,
    batch: int = 2,
    seed: int = 0,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    dtype: str = "float64",
) -> CheckResult:
    """Check the Keras inference form of ``spec`` (a path or a network) against its plain Keras
    model.  Raises ArchspecError for a spec with errors."""
    return run_check(
        spec,
        input_size,
        build_keras_inference_pair,
        functools.partial(compare_keras_inference, dtype=dtype),
        "build_and_fuse",
        batch=batch,
        seed=seed,
        atol=atol,
        rtol=rtol,
        dtype=dtype,
    )
