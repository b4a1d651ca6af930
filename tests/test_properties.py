"""Property tests: random valid specs lower and lint without errors and with consistent
figures; random YAML and random mutations of real specs never raise (every problem is a
diagnostic).  Example counts: see ``strategies.budget`` (CI: 2,000 valid, 10,000 malformed)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from conftest import FIXTURES, SPECS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import budget, dump_yaml, mutated, valid_specs, yaml_values

from archspec.diagnostics import Diagnostic
from archspec.ir.build import build_ir
from archspec.lint import lint_network, lint_path
from archspec.spec.load import load_spec

TMP = Path(tempfile.mkdtemp(prefix="archspec-props-"))
COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _write(text: str | bytes, name: str = "spec.yaml") -> Path:
    path = TMP / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


@settings(max_examples=budget(ci=2000, dev=150), **COMMON)
@given(valid_specs())
def test_random_valid_specs_are_consistent(spec):
    path = _write(dump_yaml(spec))
    network = build_ir(load_spec(path))
    diagnostics = lint_network(network)
    assert not [d for d in diagnostics if d.is_error], diagnostics
    tensors = network.state_dict_shapes()
    assert len(tensors) == len(set(tensors))
    trainable = sum(math.prod(t.shape) for n in network.ops() for t in n.tensors() if t.trainable)
    assert network.params == trainable
    assert network.output_shape == (spec["head"][-1]["units"],)
    keras_names = [n.keras_name for n in network.nodes()]
    assert len(keras_names) == len(set(keras_names))
    for node in network.ops():
        assert node.shape is not None and all(d >= 1 for d in node.shape)


def _never_raises(path: Path) -> list[Diagnostic]:
    found = lint_path(path)  # any exception fails the test
    assert isinstance(found, list)
    for d in found:
        assert d.code.startswith("AS") and d.message
    return found


@settings(max_examples=budget(ci=4000, dev=200), **COMMON)
@given(yaml_values)
def test_random_yaml_documents_never_raise(value):
    _never_raises(_write(dump_yaml(value)))


@settings(max_examples=budget(ci=2000, dev=100), **COMMON)
@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_random_bytes_never_raise(data):
    _never_raises(_write(data))


SOURCES = {
    "resnet50": (SPECS / "resnet50.yaml").read_text(),
    "seed000": (FIXTURES / "seeds" / "seed000_keras.yaml").read_text(),
    "bottleneck": (SPECS.parent / "archspec" / "library" / "blocks" / "bottleneck.yaml").read_text(),
}


@settings(max_examples=budget(ci=4000, dev=200), **COMMON)
@given(st.sampled_from(sorted(SOURCES)).flatmap(lambda name: mutated(SOURCES[name])))
def test_mutated_specs_never_raise(text):
    _never_raises(_write(text))


@settings(max_examples=budget(ci=25, dev=6), **COMMON)
@given(valid_specs())
def test_random_valid_specs_agree_across_ir_torch_and_keras(spec):
    import numpy as np
    import torch

    from archspec.backends import keras_backend, torch_backend

    network = build_ir(load_spec(_write(dump_yaml(spec), "backends.yaml")))
    assert not [d for d in lint_network(network) if d.is_error]
    model = torch_backend.instantiate(torch_backend.emit(network), network).eval()
    assert sum(p.numel() for p in model.parameters()) == network.params
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == network.state_dict_shapes()
    with torch.no_grad():
        out = model(torch.zeros(1, *network.input_shape))
    assert tuple(out.shape[1:]) == network.output_shape
    keras_model = keras_backend.instantiate(keras_backend.emit(network), network)
    assert sum(int(np.prod(w.shape)) for w in keras_model.trainable_weights) == network.params
    assert tuple(keras_model.output_shape[1:]) == network.output_shape
