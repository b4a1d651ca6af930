"""Weights between the two generated models, driven by the IR (never guessed from names).

Every IR node with tensors is one PyTorch module at ``node.torch_path`` and one Keras layer
named ``node.keras_name``; the op kind says how the tensors map:

- ``conv``: PyTorch OIHW (out, in/groups, kh, kw) <-> Keras HWIO (kh, kw, in/groups, out),
  the permutation ``(2, 3, 1, 0)``; bias as is.
- ``linear``: PyTorch (out, in) <-> Keras (in, out), a transpose.
- ``batchnorm``: weight, bias, running_mean, running_var <-> gamma, beta, moving_mean,
  moving_variance.
- ``groupnorm``, ``layernorm``: weight, bias <-> gamma, beta.
- ``evonorm_s0``, ``frn_tlu``: weight, bias, v (tau) <-> weight, bias, v (tau), as they are.
- ``channel_conv``: PyTorch Conv1d (1, 1, k) <-> Keras ChannelConv (k, 1, 1), the permutation
  ``(2, 1, 0)``.
- ``prelu``: PyTorch (C,) or (1,) <-> Keras alpha (1, 1, C) or (1, 1, 1), a reshape.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from archspec.ir.graph import Network

#: each op's Keras weight names, in the order of its PyTorch tensors (other ops: the same names)
KERAS_NAMES = {
    "conv": ["kernel", "bias"],
    "linear": ["kernel", "bias"],
    "batchnorm": ["gamma", "beta", "moving_mean", "moving_variance"],
    "groupnorm": ["gamma", "beta"],
    "layernorm": ["gamma", "beta"],
    "channel_conv": ["kernel"],
    "prelu": ["alpha"],
}


#: each op's weight layout as a permutation of its PyTorch axes into Keras' (back: the inverse)
KERAS_AXES = {"conv": (2, 3, 1, 0), "linear": (1, 0), "channel_conv": (2, 1, 0)}


def keras_shape(node, name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape a tensor of ``node`` has in the generated Keras layer, from its PyTorch shape:
    the layouts of the module docstring, in one place for every reader of Keras weights."""
    shape = tuple(shape)
    if name == "weight" and node.op in KERAS_AXES:
        return tuple(shape[i] for i in KERAS_AXES[node.op])
    if name == "weight" and node.op == "prelu":
        rank = len(node.in_shapes[0]) if node.in_shapes and node.in_shapes[0] is not None else 1
        return (1,) * (rank - 1) + shape
    return shape


def _to_keras(node, name: str, value: np.ndarray) -> np.ndarray:
    """A PyTorch tensor's values in the Keras layer's layout (see :func:`keras_shape`)."""
    if name == "weight" and node.op in KERAS_AXES:
        return value.transpose(KERAS_AXES[node.op])
    if name == "weight" and node.op == "prelu":
        return value.reshape(keras_shape(node, name, value.shape))
    return value


def _to_torch(node, name: str, value: np.ndarray, torch_shape: tuple[int, ...]) -> np.ndarray:
    """A Keras weight's values in the PyTorch tensor's layout: the inverse of :func:`_to_keras`."""
    if name == "weight" and node.op in KERAS_AXES:
        return value.transpose(np.argsort(KERAS_AXES[node.op]))
    if name == "weight" and node.op == "prelu":
        return value.reshape(torch_shape)
    return value


def _network(spec: Any) -> Network:
    if isinstance(spec, Network):
        return spec
    from archspec.pipeline import checked_network

    return checked_network(spec)


def _keras_layer(keras_model, name: str):
    try:
        return keras_model.get_layer(name)
    except ValueError:
        raise KeyError(f"the Keras model has no layer named {name!r}") from None


def _reaching_output(network: Network) -> set[str]:
    """The nodes the network's output depends on."""
    live: set[str] = set()
    frontier = [network.output]
    while frontier:
        node_id = frontier.pop()
        if node_id in live or node_id is None:
            continue
        live.add(node_id)
        frontier.extend(network.node(node_id).inputs)
    return live


def _assign(variable, value) -> None:
    """``variable.assign(value)``; for a variable created in a ``keras.StatelessScope`` that has
    no value yet (:class:`DeferredKerasVariables`), ``value`` becomes its first value, in place of
    its initializer's."""
    if getattr(variable, "_value", 0) is None:
        variable._initializer = lambda shape, dtype=None: value
        variable._deferred_initialize()
    else:
        variable.assign(value)


class DeferredKerasVariables:
    """Build Keras models inside ``with`` without running their variables' initializers: random
    draws of every weight (for a ResNet-50 in float64, 0.6 s of a 0.8 s build here) that the
    weight transfer overwrites.  The transfer gives each variable its first value
    (:func:`_assign`); :meth:`finish` then runs the initializer of every variable still without
    one (a seed generator's state, a layer the transfer skips).  Where Keras lacks the deferred
    variables of ``StatelessScope`` (its internals moved), models build as usual."""

    def __init__(self, keras) -> None:
        try:
            from keras.src.backend.common import global_state
        except ImportError:
            global_state = None
        self._state = global_state
        self._scope = (
            keras.StatelessScope(initialize_variables=False)
            if global_state is not None and hasattr(keras, "StatelessScope")
            else None
        )
        self._pending: list = []

    def __enter__(self) -> DeferredKerasVariables:
        if self._scope is not None:
            self._scope.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._scope is None:
            return
        self._scope.__exit__(*exc)
        # Keras keeps a global list of the variables waiting for their initializer: take them
        # from it, so that it does not hold on to the model
        self._pending = self._state.get_global_attribute("uninitialized_variables") or []
        self._state.set_global_attribute("uninitialized_variables", [])

    def finish(self) -> None:
        for variable in self._pending:
            if getattr(variable, "_value", 0) is None:
                variable._deferred_initialize()
        self._pending = []


def transfer_weights(torch_model, keras_model, spec, direction: str = "torch_to_keras") -> int:
    """Copy every weight and BatchNorm statistic between the two models built from ``spec``
    (a path or a :class:`Network`).  ``direction`` is ``"torch_to_keras"`` (default) or
    ``"keras_to_torch"``.  Returns the number of tensors copied."""
    import torch

    if direction not in ("torch_to_keras", "keras_to_torch"):
        raise ValueError("direction must be 'torch_to_keras' or 'keras_to_torch'")
    network = _network(spec)
    state = torch_model.state_dict()
    copied = 0
    updates: dict[str, torch.Tensor] = {}
    live = _reaching_output(network)
    keras_names = {layer.name for layer in keras_model.layers}
    for node in network.ops():
        tensors = [t for t in node.tensors() if t.name != "num_batches_tracked"]
        if not tensors:
            continue
        if node.id not in live and node.keras_name not in keras_names:
            continue  # a dead layer (AS303): Keras' functional model leaves it out; it reaches no output
        layer = _keras_layer(keras_model, node.keras_name)
        names = [t.name for t in tensors]
        if direction == "torch_to_keras":
            values = []
            for name in names:
                value = state[f"{node.torch_path}.{name}"].detach().cpu().numpy()
                values.append(np.ascontiguousarray(_to_keras(node, name, value)))
            shapes = [tuple(v.shape) for v in layer.weights]
            if shapes != [v.shape for v in values]:
                raise ValueError(
                    f"{node.keras_name}: Keras weights {shapes} do not match "
                    f"{[v.shape for v in values]} from {node.torch_path}"
                )
            for variable, value in zip(layer.weights, values, strict=True):
                _assign(variable, value.astype(variable.dtype))
        else:
            values = layer.get_weights()
            if len(values) != len(names):
                raise ValueError(f"{node.keras_name}: {len(values)} Keras weights for {len(names)} tensors")
            for name, value in zip(names, values):
                key = f"{node.torch_path}.{name}"
                value = _to_torch(node, name, value, tuple(state[key].shape))
                updates[key] = torch.from_numpy(np.ascontiguousarray(value))
        copied += len(names)
    if direction == "keras_to_torch":
        with torch.no_grad():
            for key, value in updates.items():
                state[key].copy_(value.to(state[key].dtype))
    return copied


def randomize_torch(torch_model, network: Network, seed: int = 0) -> None:
    """Give every weight, bias and BatchNorm statistic a random value, keeping activations in
    a sane range however deep the network: He-scaled weights, small biases, BN scales near 1;
    then the running statistics are measured on a random batch (so that each BatchNorm
    normalizes for real) and perturbed at random (means shifted by up to ~0.1 standard
    deviation, variances scaled by 0.8-1.25), so that eps and the statistics matter."""
    import torch

    rng = np.random.default_rng(seed)
    state = torch_model.state_dict()
    damped = _last_branch_norms(network)
    with torch.no_grad():
        for node in network.ops():
            for tensor in node.tensors():
                key = f"{node.torch_path}.{tensor.name}"
                shape = tuple(tensor.shape)
                if tensor.name == "num_batches_tracked":
                    continue
                if node.op in ("groupnorm", "layernorm"):
                    value = rng.uniform(0.5, 1.5, shape) if tensor.name == "weight" else rng.normal(0.0, 0.1, shape)
                elif node.op in ("evonorm_s0", "frn_tlu"):
                    value = {
                        "weight": rng.uniform(0.5, 1.5, shape),
                        "bias": rng.normal(0.0, 0.1, shape),
                        "v": rng.uniform(0.5, 1.5, shape),
                        "tau": rng.normal(-0.2, 0.3, shape),
                    }[tensor.name]
                elif node.op == "prelu":
                    value = rng.uniform(0.05, 0.5, shape)
                elif node.op == "batchnorm":
                    value = {
                        "weight": rng.uniform(0.5, 1.5, shape),
                        "bias": rng.normal(0.0, 0.1, shape),
                        "running_mean": rng.normal(0.0, 0.1, shape),
                        "running_var": rng.uniform(0.5, 2.0, shape),
                    }[tensor.name]
                elif tensor.name == "weight":
                    fan_in = math.prod(shape[1:])
                    value = rng.normal(0.0, math.sqrt(2.0 / fan_in), shape)
                else:
                    value = rng.uniform(-0.1, 0.1, shape)
                if node.id in damped and tensor.name == "weight":
                    value = value * 0.25
                state[key].copy_(torch.from_numpy(value).to(state[key].dtype))

    _calibrate_batchnorm(torch_model, network, rng)


NORMS = ("batchnorm", "groupnorm", "layernorm", "evonorm_s0", "frn_tlu")


def _last_branch_norms(network: Network) -> set[str]:
    """The last norm of each residual block's body, whose scale is drawn a quarter as large:
    each block then adds a small branch to its shortcut, as trained deep ResNets do (timm's
    zero_init_last), instead of a unit-variance one.  With full-size branches a random network
    hundreds of layers deep amplifies rounding differences block after block (resnetrs350's
    grew from 1e-10 to 0.9 relative over 40 blocks in float64), so that two equal models
    would differ beyond any tolerance."""
    out = set()
    for block in network.blocks:
        nodes = [network.node(i) for i in block.nodes]
        if not any(n.part == "merge" for n in nodes):
            continue
        norms = [n for n in nodes if n.part == "body" and n.op in NORMS]
        if norms:
            out.add(norms[-1].id)
    return out


def _calibrate_batchnorm(torch_model, network: Network, rng) -> None:
    import torch

    norms = [m for m in torch_model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    was_training = torch_model.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: exactly this batch's statistics
    torch_model.train()
    dtype = next(torch_model.parameters()).dtype
    batch = torch.from_numpy(rng.standard_normal((4, *network.input_shape))).to(dtype)
    with torch.no_grad():
        torch_model(batch)
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
            std = m.running_var.clamp_min(1e-6).sqrt()
            shift = torch.from_numpy(rng.normal(0.0, 0.1, tuple(m.running_mean.shape))).to(dtype)
            scale = torch.from_numpy(rng.uniform(0.8, 1.25, tuple(m.running_var.shape))).to(dtype)
            m.running_mean.add_(shift * std)
            m.running_var.mul_(scale)
    torch_model.train(was_training)
