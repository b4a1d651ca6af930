"""The proof of an import: the spec's generated model, given the original's weights, computes
what the original computes.

PyTorch: the generated model is randomized (weights and measured, perturbed BatchNorm
statistics, as ``archspec check`` does), its state dict loads into the original with
``strict=True`` and the original's state dict back into it (``strict=True``: the keys are
the same), then both run in float64 on one random input.  Keras: every weighted layer of the
original gives its weights to the generated layer recorded for it, and both run on one random
input.  Compared, in the ``check`` format: every layer with weights, every block's output and
the logits.
"""

from __future__ import annotations

import time

import numpy as np

from archspec.crosscheck.compare import DEFAULT_ATOL, DEFAULT_RTOL, TensorDiff, depths, growth, result_of
from archspec.importer.flat import FlatGraph
from archspec.importer.structure import Recovered
from archspec.ir.graph import Network


def _spec_key(key: str, renames: dict[str, str]) -> str:
    for old, new in renames.items():
        if key.startswith(old + "."):
            return new + key[len(old) :]
    return key


def _points(network: Network, flat: FlatGraph, rec: Recovered) -> list[tuple[str, str, str]]:
    """(spec node id, kind, the original's name) of every compared tensor."""
    original = {}
    for fid, (spec_path, keras_name) in rec.node_paths.items():
        original[spec_path if flat.framework == "torch" else keras_name] = fid
    by_id = flat.by_id()
    block_outputs = {b.output: b for b in network.blocks}
    inverse = {new: old for old, new in rec.renames.items()}
    out = []
    for node in network.ops():
        key = node.torch_path if flat.framework == "torch" else node.keras_name
        fid = original.get(key)
        if node.id == network.output:
            out.append((node.id, "output", ""))
        elif node.id in block_outputs:
            block = block_outputs[node.id]
            if flat.framework == "torch":
                out.append((node.id, "block", inverse.get(block.id, block.id)))
            elif fid is not None:
                out.append((node.id, "block", by_id[fid].path or ""))
        elif node.params and fid is not None and by_id[fid].path:
            if flat.framework == "torch" and not by_id[fid].what.startswith("nn."):
                continue  # a functional op inside a module (timm's BatchNormAct2d): the module's output is later
            out.append((node.id, "layer", by_id[fid].path))
    return out


def _one_axis(shape) -> list[int]:
    return [d for d in shape[1:] if d != 1]


def _diff(node, kind, theirs_name, ours, theirs, depth, atol, rtol, float64) -> TensorDiff:
    if (
        ours is not None
        and theirs is not None
        and ours.shape != theirs.shape
        and ours.shape[:1] == theirs.shape[:1]
        and len(_one_axis(ours.shape)) <= 1
        and _one_axis(ours.shape) == _one_axis(theirs.shape)
    ):  # a pooled channel vector the original lays out as (1, C) for its 1-D convolution (ECA)
        theirs = theirs.reshape(ours.shape)
    if ours is None or theirs is None or ours.shape != theirs.shape:
        return TensorDiff(node.torch_path, theirs_name, kind, [], float("inf"), float("inf"), 0.0, depth, False)
    scale = float(np.max(np.abs(theirs))) if theirs.size else 0.0
    delta = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
    allowed = atol * max(1.0, scale) * growth(depth, float64) + rtol * np.abs(theirs)
    return TensorDiff(
        name=node.block_id if kind == "block" else node.torch_path,
        keras_name=theirs_name,
        kind=kind,
        shape=list(ours.shape[1:]),
        max_abs_diff=float(delta.max()) if delta.size else 0.0,
        max_rel_diff=float(delta.max() / max(1.0, scale)) if delta.size else 0.0,
        scale=scale,
        depth=depth,
        passed=bool(np.all(delta <= allowed)),
    )


def torch_roundtrip(original, network: Network, flat: FlatGraph, rec: Recovered, *, seed: int = 0, batch: int = 2):
    import torch

    from archspec.backends import get_backend
    from archspec.crosscheck.weights import randomize_torch

    timings: dict[str, float] = {}
    start = time.perf_counter()
    backend = get_backend("torch")
    torch.manual_seed(seed)
    regen = backend.instantiate(backend.emit(network), network).double().eval()
    original = original.double().eval()
    randomize_torch(regen, network, seed)
    inverse = {new: old for old, new in rec.renames.items()}
    original.load_state_dict({_spec_key(k, inverse): v for k, v in regen.state_dict().items()}, strict=True)
    regen.load_state_dict({_spec_key(k, rec.renames): v for k, v in original.state_dict().items()}, strict=True)
    timings["build_and_transfer"] = time.perf_counter() - start
    mark = time.perf_counter()
    points = _points(network, flat, rec)
    rng = np.random.default_rng(seed + 1)
    x = torch.from_numpy(rng.standard_normal((batch, *network.input_shape)))

    def run(model, names):
        captured, handles = {}, []
        modules = dict(model.named_modules())
        for key, name in names.items():
            if name in modules:

                def hook(_m, _i, output, key=key):
                    captured.setdefault(key, output.detach().numpy().copy())

                handles.append(modules[name].register_forward_hook(hook))
        try:
            with torch.no_grad():
                captured["@out"] = model(x).detach().numpy()
        finally:
            for h in handles:
                h.remove()
        return captured

    net_node = network.node
    ours = run(
        regen,
        {
            nid: (net_node(nid).block_id if k == "block" else net_node(nid).torch_path)
            for nid, k, _ in points
            if k != "output"
        },
    )
    theirs = run(original, {nid: name for nid, k, name in points if k != "output"})
    depth = depths(network)
    diffs = []
    for nid, kind, name in points:
        key = "@out" if kind == "output" else nid
        diffs.append(
            _diff(
                net_node(nid),
                kind,
                name or "output",
                ours.get(key),
                theirs.get(key),
                depth[nid],
                DEFAULT_ATOL,
                DEFAULT_RTOL,
                True,
            )
        )
    timings["run_and_compare"] = time.perf_counter() - mark
    return result_of(
        network, diffs, batch=batch, atol=DEFAULT_ATOL, rtol=DEFAULT_RTOL, seed=seed, dtype="float64", timings=timings
    )


def keras_roundtrip(original, network: Network, flat: FlatGraph, rec: Recovered, *, seed: int = 0, batch: int = 2):
    from archspec.backends import get_backend
    from archspec.crosscheck.compare import quiet_tensorflow

    quiet_tensorflow()
    import keras

    timings: dict[str, float] = {}
    start = time.perf_counter()
    backend = get_backend("keras")
    regen = backend.instantiate(backend.emit(network), network)
    by_id = flat.by_id()
    for fid, (_, keras_name) in rec.node_paths.items():
        node = by_id[fid]
        if not node.weighted or node.path is None:
            continue
        weights = original.get_layer(node.path).get_weights()
        target = regen.get_layer(keras_name)
        current = target.get_weights()
        if [w.shape for w in current] != [w.shape for w in weights]:
            raise ValueError(f"{node.path}: weights {[w.shape for w in weights]} do not fit {keras_name}")
        target.set_weights(weights)
    timings["build_and_transfer"] = time.perf_counter() - start
    mark = time.perf_counter()
    points = _points(network, flat, rec)
    rng = np.random.default_rng(seed + 1)
    c, h, w = network.input_shape
    x = rng.standard_normal((batch, h, w, c)).astype("float32")
    fused = getattr(flat, "fused", {})
    by_keras = {node.keras_name: node.id for node in network.ops()}
    moved = []
    for n, k, name in points:  # a layer with a fused activation: compare after the activation
        if k == "layer" and name in fused:  # (a renamed activation: compared before it, and reported)
            n = by_keras.get(rec.node_paths[fused[name]][1], n)
        moved.append((n, k, name))
    points = moved
    probe_ours = keras.Model(
        regen.inputs,
        [regen.output if k == "output" else regen.get_layer(network.node(n).keras_name).output for n, k, _ in points],
    )
    probe_theirs = keras.Model(
        original.inputs,
        [original.output if k == "output" else original.get_layer(name).output for n, k, name in points],
    )
    ours = probe_ours([x], training=False)
    theirs = probe_theirs([x], training=False)
    depth = depths(network)
    diffs = []
    for (nid, kind, name), a, b in zip(points, ours, theirs):
        a, b = np.asarray(a), np.asarray(b)
        node = network.node(nid)
        if a.ndim == 4:
            a, b = np.transpose(a, (0, 3, 1, 2)), np.transpose(b, (0, 3, 1, 2))
        diffs.append(_diff(node, kind, name or "output", a, b, depth[nid], DEFAULT_ATOL, DEFAULT_RTOL, False))
    timings["run_and_compare"] = time.perf_counter() - mark
    return result_of(
        network, diffs, batch=batch, atol=DEFAULT_ATOL, rtol=DEFAULT_RTOL, seed=seed, dtype="float32", timings=timings
    )
