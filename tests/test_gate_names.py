"""Lint clean implies build, import and run (issue 12, item 2): every name or construct a
backend would refuse, or compile into broken code, is a lint error at the spec line
(tests/hostile/ and tests/fixtures/rules/ hold the refused forms); their legal neighbours
build in both backends, import from a file, construct, run, and agree numerically."""

from __future__ import annotations

import builtins
import contextlib
import importlib.util
import io
import json
import keyword
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import budget

pytest.importorskip("torch")
pytest.importorskip("keras")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import archspec  # noqa: E402
from archspec.backends import get_backend, reserved_names, reserved_names_gen  # noqa: E402
from archspec.backends.keras_backend import model_function_name  # noqa: E402
from archspec.backends.torch_backend import model_class_name  # noqa: E402
from archspec.cli import main  # noqa: E402
from archspec.lint import lint_path  # noqa: E402
from archspec.lint.rules_names import CODE_RESERVED, INFERENCE_RESERVED, MODULE_GLOBALS  # noqa: E402

HEAD = """\
archspec: 1
name: {name}
input: {{channels: 3, size: [12, 12]}}
"""
TAIL = """\
head:
  - {op: global_avg_pool, name: avgpool}
  - {op: linear, name: fc, units: 5}
"""

# one legal spec per class of item 2, each next to the names or forms lint now refuses
LEGAL = {
    "stage_names": """\
stem:
  - {op: conv, name: stem_conv, filters: 8, kernel: 3, padding: 1}
stages:
  - {name: trunk, block: basic, depth: 1, args: {width: 8}}
  - {name: features, block: basic, depth: 1, args: {width: 16, stride: 2}}
""",
    "layer_names": """\
stem:
  - {op: conv, name: compiled, filters: 8, kernel: 3, padding: 1}
  - {op: batchnorm, name: to_out}
  - {op: relu, name: hook}
  - {op: conv, name: params.0, filters: 8, kernel: 1}
""",
    "class_names": """\
blocks:
  plain:
    class_name: PlainBlock
    params: {width: null}
    body:
      - {op: conv, name: conv1, filters: width, kernel: 3, padding: 1}
      - {op: relu}
stem:
  - {op: conv, name: conv1, filters: 8, kernel: 3, padding: 1}
stages:
  - {name: layer1, block: plain, depth: 2, args: {width: 8}}
""",
    "scope_names": """\
vars: {base: 8, scale: 2}
blocks:
  scaled:
    params: {width: null, factor: 1}
    let: {wide: width * factor}
    body:
      - {op: conv, name: conv1, filters: wide, kernel: 3, padding: 1}
      - {op: relu}
    merge: null
stem:
  - {op: conv, name: conv1, filters: base, kernel: 3, padding: 1}
stages:
  - {name: layer1, block: scaled, depth: 1, args: {width: base, factor: scale}}
""",
    "keras_pattern": """\
stem:
  - {op: conv, name: conv1, filters: 8, kernel: 3, padding: 1}
stages:
  block: basic
  keras: "conv{stage + 1}_block{block}"
  table: [[1, 8, 1], [1, 16, 2]]
""",
    "shortcut_cases": """\
blocks:
  down:
    params: {width: null, stride: 1}
    body:
      - {op: conv, name: conv1, filters: width, kernel: 3, stride: stride, padding: 1}
    shortcut:
      - when: stride != 1
        layers:
          - {op: avgpool, name: pool, kernel: 2, stride: 2}
          - {op: conv, name: proj, filters: width, kernel: 1}
      - when: in_channels != width
        layers:
          - {op: conv, name: widen, filters: width, kernel: 1}
stem:
  - {op: conv, name: conv1, filters: 8, kernel: 3, padding: 1}
stages:
  - {name: layer1, block: down, depth: 1, args: {width: 16}}
  - {name: layer2, block: down, depth: 1, args: {width: 16, stride: 2}}
""",
    "avgpool_exclude_pad": """\
stem:
  - {op: conv, name: conv1, filters: 8, kernel: 3, padding: 1}
  - {op: avgpool, name: pool1, kernel: 3, stride: 1, padding: 1, count_include_pad: false}
  - {op: avgpool, name: pool2, kernel: 2, stride: 2, padding: same, count_include_pad: false}  # noqa: AS401
""",
    "unused_block": """\
blocks:
  spare:
    params: {width: null}
    body:
      - {op: conv, name: conv1, filters: width, kernel: 3, padding: 1}
stem:
  - {op: conv, name: conv1, filters: 8, kernel: 3, padding: 1}
""",
}
for _merge in ("multiply", "add", "concat"):
    LEGAL[f"when_{_merge}"] = f"""\
blocks:
  gated:
    params: {{width: null, gate: true}}
    body:
      - {{op: conv, name: conv, filters: width, kernel: 3, padding: 1}}
      - {{op: sigmoid, name: sig}}
      - {{op: {_merge}, name: gate, inputs: [conv, sig], when: gate}}
      - {{op: relu}}
    merge: null
stem:
  - {{op: conv, name: conv1, filters: 8, kernel: 3, padding: 1}}
stages:
  - name: layer1
    block: gated
    blocks:
      - {{args: {{width: 8}}}}
      - {{args: {{width: 8, gate: false}}}}
"""


def _write(tmp_path, key: str, body: str, name: str = "net"):
    path = tmp_path / f"{key}.yaml"
    path.write_text(HEAD.format(name=name) + textwrap.dedent(body) + TAIL)
    return path


def _import(path):
    spec = importlib.util.spec_from_file_location(f"gate_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("key", sorted(LEGAL))
def test_legal_neighbour_builds_imports_runs_and_agrees(key, tmp_path, capsys):
    spec = _write(tmp_path, key, LEGAL[key])
    assert [d for d in lint_path(spec) if d.is_error] == []
    out = tmp_path / "out"
    for backend in ("torch", "keras"):
        assert main(["build", str(spec), "--backend", backend, "-o", str(out / backend)]) == 0, capsys.readouterr()
    net = archspec.load(spec)
    c, h, w = net.input_shape
    torch_module = _import(out / "torch" / "net.py")
    model = getattr(torch_module, model_class_name(net))().eval()
    with torch.no_grad():
        y = model(torch.randn(2, c, h, w))
    assert tuple(y.shape[1:]) == net.output_shape
    keras_module = _import(out / "keras" / "net.py")
    keras_model = getattr(keras_module, model_function_name(net))(input_shape=(h, w, c))
    assert tuple(np.asarray(keras_model(np.random.rand(2, h, w, c).astype("float32"))).shape[1:]) == (5,)
    # an odd size, except where a 2x2 pool meets a strided 3x3 convolution (they differ there)
    result = archspec.check(spec, (14, 10) if key == "shortcut_cases" else (13, 11))
    assert result.passed, result
    if key.startswith("when_"):  # the inference form too: the merge is computed, not a tuple
        assert main(["check", str(spec), "--torch-inference", "--input-size", "13"]) == 0


def test_a_merge_under_when_is_computed_in_torch(tmp_path):
    spec = _write(tmp_path, "when_multiply", LEGAL["when_multiply"])
    source = archspec.emit(spec, "torch")
    assert "(conv, sig)" not in source and "conv * sig" in source


@pytest.mark.parametrize("name", sorted(reserved_names.TORCH_MODULE_ATTRS))
def test_every_nn_module_attribute_is_refused_as_a_layer_and_a_stage_name(name, tmp_path):
    if keyword.iskeyword(name):
        return  # pragma: no cover  (refused as a keyword)
    layer = _write(tmp_path, "layer", f"stem:\n  - {{op: conv, name: {name}, filters: 8, kernel: 3, padding: 1}}\n")
    stage = _write(
        tmp_path,
        "stage",
        "stem:\n  - {op: conv, name: conv1, filters: 8, kernel: 3, padding: 1}\n"
        f"stages:\n  - {{name: {name}, block: basic, depth: 1, args: {{width: 8}}}}\n",
    )
    for path in (layer, stage):
        codes = [d.code for d in lint_path(path) if d.is_error]
        assert codes == ["AS108"], (path.name, codes)


def test_installed_frameworks_reserve_no_name_the_committed_list_lacks():
    """Fails when a torch (or keras) release adds an attribute: rerun
    ``python -m archspec.backends.reserved_names_gen`` and commit the list."""
    installed = reserved_names_gen.collect()
    assert set(installed["TORCH_MODULE_ATTRS"]) - reserved_names.TORCH_MODULE_ATTRS == set()
    committed = reserved_names.TORCH_MODULE_ATTRS | reserved_names.TORCH_CONTAINER_ATTRS
    assert set(installed["TORCH_CONTAINER_ATTRS"]) - committed == set()
    assert set(installed["KERAS_NAME_FORBIDDEN"]) - set(reserved_names.KERAS_NAME_FORBIDDEN) == set()


def test_the_generator_writes_what_is_committed_for_the_pinned_torch():
    text = reserved_names_gen.render(reserved_names_gen.collect(), reserved_names_gen.versions())
    committed = reserved_names_gen.TARGET.read_text(encoding="utf-8")
    assert committed.split('"""', 2)[2] == text.split('"""', 2)[2]  # the header names the versions


# --------------------------------------------------------------------------------------------
# names drawn from every namespace that can collide: the invariant, for names

_POOL = sorted(
    set(keyword.kwlist)
    | set(keyword.softkwlist)
    | {n for n in dir(builtins) if not n.startswith("__")}
    | set(reserved_names.TORCH_MODULE_ATTRS)
    | set(CODE_RESERVED)
    | set(MODULE_GLOBALS)
    | set(INFERENCE_RESERVED)
    | {"conv2d_same", "max_pool2d_same", "avg_pool2d_same", "fold_batchnorm", "net", "Net", "blk", "Blk"}
    | {"width", "trunk", "feat", "layer1", "conv1", "fc", "avgpool", "gate", "proj", "a", "b2", "se"}
)
_NAMES = st.sampled_from(_POOL)
_SLOTS = ("network", "block", "class_name", "var", "param", "let", "stage", "stem", "layer", "head")


def _named_spec(names: dict[str, str]) -> str:
    def q(key: str) -> str:
        return json.dumps(names[key])

    class_line = f"    class_name: {q('class_name')}\n" if names["class_name"] != "-" else ""
    return (
        f"archspec: 1\nname: {q('network')}\ninput: {{channels: 3, size: [9, 9]}}\n"
        f"vars: {{{q('var')}: 4}}\n"
        f"blocks:\n  {q('block')}:\n{class_line}"
        f"    params: {{{q('param')}: null}}\n"
        f"    let: {{{q('let')}: {names['param']} * 1}}\n"
        "    body:\n"
        f"      - {{op: conv, name: {q('layer')}, filters: {names['let']}, kernel: 3, padding: 1}}\n"
        "      - {op: relu}\n"
        "    merge: null\n"
        f"stem:\n  - {{op: conv, name: {q('stem')}, filters: {names['var']}, kernel: 3, padding: 1}}\n"
        f"stages:\n  - {{name: {q('stage')}, block: {q('block')}, depth: 1, args: {{{q('param')}: 4}}}}\n"
        f"head:\n  - {{op: global_avg_pool, name: {q('head')}}}\n"
    )


@settings(max_examples=budget(ci=300, dev=40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({slot: _NAMES for slot in _SLOTS}), st.booleans())
def test_names_lint_clean_implies_both_backends_build_and_construct(names, explicit_class):
    if not explicit_class:
        names["class_name"] = "-"
    with tempfile.TemporaryDirectory(prefix="archspec-names-") as tmp:
        _check_names(Path(tmp), names)


def _check_names(directory: Path, names: dict[str, str]) -> None:
    spec = directory / "spec.yaml"
    spec.write_text(_named_spec(names), encoding="utf-8")
    errors = [d for d in lint_path(spec) if d.is_error]
    if errors:
        for backend in ("torch", "keras"):
            with contextlib.redirect_stderr(io.StringIO()):
                assert main(["build", str(spec), "--backend", backend, "-o", str(directory / backend)]) == 1
        return
    net = archspec.load(spec)
    c, h, w = net.input_shape
    for backend in ("torch", "keras"):
        module = get_backend(backend)
        model = module.instantiate(module.emit(net), net)  # a BackendError or any exception fails
        # the inference form defines more names of its own (fuse_for_inference, BATCHNORM_FOLDS, ...)
        if backend == "torch":
            fused = module.instantiate(module.emit(net, inference=True), net).eval().fuse_for_inference()
            with torch.no_grad():
                assert tuple(model(torch.zeros(1, c, h, w)).shape[1:]) == net.output_shape
                assert tuple(fused(torch.zeros(1, c, h, w)).shape[1:]) == net.output_shape
        else:
            source = module.emit(net, inference=True)
            loaded = module.load_module(source, net)
            fused = loaded.fuse_for_inference(module.instantiate(source, net, loaded))
            for each in (model, fused):
                assert tuple(np.asarray(each(np.zeros((1, h, w, c), "float32"))).shape[1:]) == net.output_shape
