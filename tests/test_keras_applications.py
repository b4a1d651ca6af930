"""The keras.applications-layout specs emit keras.applications' models, layer for layer.

- Every weighted layer of generated ``resnet{50,101,152}_{v1,v2}`` has keras.applications'
  name, class and weight shapes (``tests/reference/keras_models.json``, recorded from keras
  3.15), and the parameter counts are equal.
- ResNet50 and ResNet50V2 themselves (``weights=None``, built offline) with randomized
  weights *and* BatchNorm statistics, copied by layer name into the generated model, give
  the same outputs on a random input; their BatchNorm epsilon and momentum are equal too.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from archspec.backends import keras_backend
from archspec.pipeline import checked_network

keras = pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = json.loads((ROOT / "tests" / "reference" / "keras_models.json").read_text(encoding="utf-8"))

MODELS = {
    "resnet50_v1": "ResNet50",
    "resnet101_v1": "ResNet101",
    "resnet152_v1": "ResNet152",
    "resnet50_v2": "ResNet50V2",
    "resnet101_v2": "ResNet101V2",
    "resnet152_v2": "ResNet152V2",
}


@pytest.fixture(scope="module")
def built():
    """Each generated model, built once for the module: name -> (network, keras.Model)."""
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            network = checked_network(ROOT / "specs" / f"{name}.yaml")
            cache[name] = (network, keras_backend.instantiate(keras_backend.emit(network), network))
        return cache[name]

    yield get
    cache.clear()
    keras.backend.clear_session()


def weighted(layers) -> dict[str, tuple[str, list[list[int]]]]:
    return {
        layer["name"]: (layer["class"], [list(s) for s in layer["weights"]]) for layer in layers if layer["weights"]
    }


def described(model) -> list[dict]:
    return [
        {"name": layer.name, "class": type(layer).__name__, "weights": [list(w.shape) for w in layer.weights]}
        for layer in model.layers
    ]


@pytest.mark.parametrize("name", list(MODELS))
def test_weighted_layers_equal_keras_applications(built, name):
    _, model = built(name)
    reference = REFERENCE[MODELS[name]]
    ours, theirs = weighted(described(model)), weighted(reference["layers"])
    assert sorted(set(ours) ^ set(theirs)) == []
    assert ours == theirs


@pytest.mark.parametrize("name", list(MODELS))
def test_parameter_count_equals_keras_applications(built, name):
    network, model = built(name)
    assert model.count_params() == REFERENCE[MODELS[name]]["params"]
    # ... and the IR's figure: trainable tensors, plus the BatchNorm statistics Keras counts too
    statistics = sum(
        math.prod(t.shape)
        for node in network.ops()
        for t in node.tensors()
        if t.name in ("running_mean", "running_var")
    )
    assert sum(math.prod(w.shape) for w in model.trainable_weights) == network.params
    assert model.count_params() == network.params + statistics


def _unnamed(name: str) -> bool:
    """keras.applications leaves its input and ResNetV2's 1x1 shortcut max pools unnamed."""
    return re.fullmatch(r"input_layer(_\d+)?|max_pooling2d(_\d+)?", name) is not None


@pytest.mark.parametrize("name", ["resnet50_v1", "resnet50_v2"])
def test_every_layer_in_keras_applications_order(built, name):
    """Beyond the weighted layers: the padding, activation, pooling and add layers too, in
    keras.applications' order, named alike (but for the layers keras leaves unnamed)."""
    _, model = built(name)
    ours = [(d["name"], d["class"]) for d in described(model)]
    theirs = [(d["name"], d["class"]) for d in REFERENCE[MODELS[name]]["layers"]]
    ours = [("?", c) if n == "input" or n.endswith("_0_pool") else (n, c) for n, c in ours]
    theirs = [("?", c) if _unnamed(n) else (n, c) for n, c in theirs]
    assert ours == theirs


def _randomize(model, seed: int) -> dict[str, list[np.ndarray]]:
    """Random weights and BatchNorm statistics for every weighted layer (variances positive)."""
    rng = np.random.default_rng(seed)
    values: dict[str, list[np.ndarray]] = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        new = []
        for weight in layer.weights:
            shape = tuple(weight.shape)
            kind = weight.path.rsplit("/", 1)[-1]
            if kind in ("gamma", "moving_variance"):
                value = rng.uniform(0.5, 1.5, shape)
            elif kind in ("beta", "moving_mean", "bias"):
                value = rng.normal(0.0, 0.1, shape)
            else:  # kernels: He-like scale, fan-in = all but the last axis
                value = rng.normal(0.0, math.sqrt(1.0 / math.prod(shape[:-1])), shape)
            new.append(value.astype("float32"))
        layer.set_weights(new)
        values[layer.name] = new
    return values


APPLICATIONS = {"resnet50_v1": "ResNet50", "resnet50_v2": "ResNet50V2"}


@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_outputs_equal_keras_applications(built, name):
    _, model = built(name)
    reference = getattr(keras.applications, APPLICATIONS[name])(weights=None, classifier_activation=None)
    values = _randomize(reference, seed=4)
    for layer_name, weights in values.items():
        model.get_layer(layer_name).set_weights(weights)
    for layer in reference.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            ours = model.get_layer(layer.name)
            assert (ours.epsilon, ours.momentum) == (layer.epsilon, layer.momentum), layer.name
    x = np.random.default_rng(5).normal(0.0, 1.0, (2, 224, 224, 3)).astype("float32")
    expected = np.asarray(reference(x, training=False))
    got = np.asarray(model(x, training=False))
    scale = float(np.abs(expected).max())
    assert scale > 1e-3  # a meaningful output, not all zeros
    assert float(np.abs(got - expected).max()) <= 1e-4 * max(1.0, scale)
    # the batch elements differ: the comparison is not trivially satisfied
    assert float(np.abs(expected[0] - expected[1]).max()) > 1e-3 * scale
