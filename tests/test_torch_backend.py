"""The PyTorch backend: the generated code, the models it builds, and their agreement with the
IR, torchvision's state dicts and a reference computation.

The numerical reference is an interpreter of the IR written with ``torch.nn.functional``: it
pads every layer explicitly with the IR's resolved padding (at the input size it is given)
and knows nothing of the generated code's structure.  Comparisons run in float64 with
randomized BatchNorm statistics, at odd input sizes where TensorFlow's `same` is asymmetric.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import archspec  # noqa: E402
from archspec.backends import BackendError, render, torch_backend  # noqa: E402
from archspec.backends.output import output_path, stale_diff  # noqa: E402
from archspec.backends.torch_scope import CONTAINER_ATTRS, MODULE_ATTRS  # noqa: E402
from archspec.diagnostics import ArchspecError  # noqa: E402
from archspec.ir.build import build_ir  # noqa: E402
from archspec.ir.graph import Network  # noqa: E402
from archspec.pipeline import checked_network  # noqa: E402
from archspec.spec.load import load_spec  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
REFERENCE = json.loads((ROOT / "tests" / "reference" / "torch_models.json").read_text())
TORCHVISION = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
ODD_SIZES = [(224, 224), (97, 97), (225, 225)]

torch.set_num_threads(2)

# A spec exercising what the catalog does not: TensorFlow `same` at stride 2 (run-time padding)
# and at stride 1 with an even kernel (a fixed asymmetric pad), an explicit asymmetric box, a
# max pool padded with zeros, an average pool with `same` excluding the padding, a layer read
# by name further on, a concat in the stem, conditional layers, alternatives under one name,
# `/` in a let value, a spec variable inside a block expression, a gate by multiplication, a
# concat merge, a global max pool, dropout and a final sigmoid.
EXOTIC = """\
archspec: 1
name: exotic
doc: Every padding rule and merge the torch backend has to get exactly right.
input: {channels: 3, size: [64, 64]}
vars: {width0: 8, classes: 10, extra_width: 0}
defaults:
  batchnorm: {eps: 1.0e-3, momentum: 0.01}
stem:
  - {op: conv, name: conv1, filters: width0, kernel: 7, stride: 2, padding: same, bias: false}
  - {op: batchnorm, name: bn1}
  - {op: leaky_relu, name: act, negative_slope: 0.2}
  - {op: maxpool, name: pool, kernel: 3, stride: 2, padding: same}
  - {op: conv, name: conv2, filters: 8, kernel: 2, padding: same}
  - {op: conv, name: conv3, filters: 8, kernel: 3, padding: [[0, 1], [1, 2]]}
  - {op: maxpool, name: pool0, kernel: 3, stride: 1, padding: 1, pad_value: 0}
  - {op: avgpool, name: avg, kernel: 3, stride: 2, padding: same, count_include_pad: false}
  - {op: conv, name: side, filters: 4, kernel: 1, stride: 2, padding: same, inputs: [pool0]}
  - {op: concat, name: cat, inputs: [avg, side]}
blocks:
  tfblock:
    doc: A block with a run-time `same` conv, an optional layer, dropout and a concat merge.
    params: {width: null, stride: 1, use_extra: false, scale: 2}
    let:
      inner: width * scale / 2
    body:
      - {op: conv, name: conv1, filters: inner, kernel: 3, stride: stride, padding: same}
      - {op: batchnorm, name: bn1}
      - {op: relu6}
      - {op: conv, name: extra, filters: inner + extra_width, kernel: 1, when: use_extra}
      - {op: dropout, rate: 0.1}
      - {op: conv, name: conv2, filters: width, kernel: 3, padding: 1}
      - {op: tanh, name: gate, inputs: [conv1]}
      - {op: multiply, name: gated, inputs: [conv2, gate]}
    shortcut:
      - when: stride != 1 or in_channels != width
        layers:
          - {op: avgpool, name: proj.0, kernel: 2, stride: stride, ceil_mode: true, count_include_pad: false,
             when: stride > 1}
          - {op: identity, name: proj.0, when: stride == 1}
          - {op: conv, name: proj.1, filters: width, kernel: 1, bias: true}
    merge: {op: concat}
    post:
      - {op: relu}
stages:
  - block: tfblock
    stride: 2
    blocks:
      - {args: {width: 16}}
      - {args: {width: 16, use_extra: true}}
  - block: tfblock
    depth: 1
    args: {width: 12}
head:
  - {op: global_max_pool, name: gpool}
  - {op: dropout, rate: 0.5}
  - {op: linear, name: fc, units: classes}
  - {op: sigmoid}
"""

# Data-flow corners of block classes: a conditional first layer (forward starts from a copy of
# its input), a conditional layer read by name later, a layerless identity case before two
# projection cases (one from the pre-activated tensor), a post layer reading the merge by
# name (a variable named like a builtin), a block without a merge, and a stem add of a layer
# read further on.
FLOW = """\
archspec: 1
name: flow
doc: Data-flow corners of block classes.
input: {channels: 3, size: [32, 32]}
stem:
  - {op: conv, name: conv1, filters: 8, kernel: 3, padding: 1}
  - {op: relu}
  - {op: conv, name: conv2, filters: 8, kernel: 3, padding: 1}
  - {op: add, name: sum, inputs: [conv2, conv1]}
  - {op: relu}
blocks:
  corner:
    params: {width: null, stride: 1, pre: false}
    body:
      - {op: batchnorm, name: pre_bn, when: pre}
      - {op: relu, name: pre_act, when: pre}
      - {op: conv, name: conv1, filters: width, kernel: 3, stride: stride, padding: 1}
      - {op: relu}
      - {op: conv, name: conv2, filters: width, kernel: 3, padding: 1}
    shortcut:
      - when: stride == 1 and in_channels == width
        layers: []
      - when: pre
        from: pre_act
        layers:
          - {op: conv, name: proj, filters: width, kernel: 1, stride: stride}
      - layers:
          - {op: conv, name: proj_plain, filters: width, kernel: 1, stride: stride}
          - {op: batchnorm, name: proj_bn}
    merge: {op: add, name: sum}
    post:
      - {op: relu, name: act}
      - {op: add, name: again, inputs: [act, sum]}
  plain:
    params: {width: null}
    merge: null
    body:
      - {op: conv, name: conv, filters: width, kernel: 1}
      - {op: batchnorm, name: bn}
stages:
  - block: corner
    blocks:
      - {args: {width: 8}}
      - {args: {width: 16, stride: 2, pre: true}}
      - {args: {width: 24, stride: 2}}
      - {block: plain, args: {width: 12}}
head:
  - {op: global_avg_pool, name: pool, keepdims: true}
  - {op: flatten, name: flat}
  - {op: linear, name: fc, units: 5}
  - {op: softmax}
"""


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    """Generated headers name the spec relative to the working directory, as the CLI runs."""
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="module")
def exotic_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("specs") / "exotic.yaml"
    path.write_text(EXOTIC)
    return path


@pytest.fixture(scope="module")
def flow_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("specs") / "flow.yaml"
    path.write_text(FLOW)
    return path


@cache
def _network(path: str) -> Network:
    return checked_network(path)


@cache
def _source(path: str) -> str:
    return torch_backend.emit(_network(path))


def _spec(name: str) -> str:
    return str(Path("specs") / f"{name}.yaml")


def _meta_model(path: str):
    """The generated model with its tensors on the meta device (shapes only, nothing computed)."""
    with torch.device("meta"):
        return torch_backend.instantiate(_source(path), _network(path))


def _randomized(model):
    """``model`` in float64, eval mode, with BatchNorm statistics and affine terms randomized."""
    generator = torch.Generator().manual_seed(0)
    model = model.double().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.2)
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.2)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) * 1.5 + 0.5)
    return model


# --------------------------------------------------------------------------------------------
# the reference: the IR, interpreted with torch.nn.functional


def ir_forward(network: Network, state: dict, x):
    """Evaluate ``network`` (inference mode) with explicit padding from the IR."""
    values = {"input": x}
    for node in network.ops():
        ins = [values[i] for i in node.inputs]
        a = node.attrs
        op = node.op

        def tensor(name, node=node):
            return state.get(f"{node.torch_path}.{name}")

        if node.pads is not None:
            top, bottom, left, right = node.pads
            box = (left, right, top, bottom)
        if op == "conv":
            y = F.conv2d(F.pad(ins[0], box), tensor("weight"), tensor("bias"), a.stride, 0, a.dilation, a.groups)
        elif op == "batchnorm":
            y = F.batch_norm(
                ins[0],
                tensor("running_mean"),
                tensor("running_var"),
                tensor("weight"),
                tensor("bias"),
                False,
                0.0,
                a.eps,
            )
        elif op == "maxpool":
            y = F.max_pool2d(F.pad(ins[0], box, value=a.pad_value), a.kernel, a.strides, 0, ceil_mode=a.ceil_mode)
        elif op == "avgpool":
            y = F.avg_pool2d(F.pad(ins[0], box), a.kernel, a.strides, 0, a.ceil_mode, True)
            if not a.count_include_pad:  # the mean over the input cells only
                ones = F.pad(torch.ones_like(ins[0][:, :1]), box)
                y = y / F.avg_pool2d(ones, a.kernel, a.strides, 0, a.ceil_mode, True)
        elif op == "global_avg_pool":
            y = ins[0].mean((2, 3), keepdim=a.keepdims)
        elif op == "global_max_pool":
            y = ins[0].amax((2, 3), keepdim=a.keepdims)
        elif op == "linear":
            y = F.linear(ins[0], tensor("weight"), tensor("bias"))
        elif op == "flatten":
            y = torch.flatten(ins[0], 1)
        elif op == "add":
            y = sum(ins[1:], ins[0])
        elif op == "multiply":
            y = ins[0]
            for other in ins[1:]:
                y = y * other
        elif op == "concat":
            y = torch.cat(ins, dim=1)
        elif op in ("identity", "dropout"):
            y = ins[0]
        else:
            y = {
                "relu": F.relu,
                "relu6": F.relu6,
                "sigmoid": torch.sigmoid,
                "silu": F.silu,
                "tanh": torch.tanh,
                "softmax": lambda t: torch.softmax(t, dim=1),
                "leaky_relu": lambda t, a=a: F.leaky_relu(t, a.negative_slope),
            }[op](ins[0])
        assert tuple(y.shape[1:]) == node.shape, f"reference shape of {node.id}"
        values[node.id] = y
    return values[network.output]


def _assert_matches_ir(path: str, sizes, model=None, batch: int = 2):
    model = model or _randomized(torch_backend.instantiate(_source(path), _network(path)))
    state = model.state_dict()
    generator = torch.Generator().manual_seed(1)
    for size in sizes:
        network = archspec.load(path, input_size=size)
        x = torch.randn(batch, 3, *size, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            ours = model(x)
            reference = ir_forward(network, state, x)
        assert tuple(ours.shape[1:]) == network.output_shape
        scale = reference.abs().max().item()
        error = (ours - reference).abs().max().item()
        assert error <= 1e-9 * max(scale, 1e-3), f"{path} at {size}: max error {error:.3g} (scale {scale:.3g})"


# --------------------------------------------------------------------------------------------
# state dicts, parameters, shapes


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_checkpoints_load_strictly(name):
    """The whole key -> shape map is torchvision's, so its checkpoints load with strict=True."""
    path = _spec(name)
    model = torch_backend.instantiate(_source(path), _network(path))
    ours = {key: list(value.shape) for key, value in model.state_dict().items()}
    assert ours == REFERENCE[name]["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == REFERENCE[name]["params"]
    generator = torch.Generator().manual_seed(0)
    checkpoint = {
        key: (
            torch.randint(0, 100, shape, generator=generator)
            if value.dtype == torch.long
            else torch.randn(shape, generator=generator)
        )
        for key, value, shape in (
            (k, v, tuple(REFERENCE[name]["state_dict"][k])) for k, v in model.state_dict().items()
        )
    }
    result = model.load_state_dict(checkpoint, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(model.state_dict()["fc.weight"], checkpoint["fc.weight"])


@pytest.mark.parametrize("name", sorted(n for n in REFERENCE if (ROOT / "specs" / f"{n}.yaml").is_file()))
def test_state_dict_equals_the_peer(name):
    model = _meta_model(_spec(name))
    ours = {key: list(value.shape) for key, value in model.state_dict().items()}
    assert ours == REFERENCE[name]["state_dict"]


@pytest.mark.parametrize("path", [str(p.relative_to(ROOT)) for p in SPECS])
def test_every_spec_builds_with_the_irs_params_keys_and_shapes(path):
    network = _network(path)
    model = _meta_model(path)
    assert sum(p.numel() for p in model.parameters()) == network.params
    assert {key: tuple(value.shape) for key, value in model.state_dict().items()} == network.state_dict_shapes()
    model.eval()
    for size in ODD_SIZES:
        out = model(torch.empty(2, 3, *size, device="meta"))
        assert tuple(out.shape[1:]) == archspec.load(path, input_size=size).output_shape, size


def test_resnet18_computes_at_odd_sizes():
    model = archspec.build_model(_spec("resnet18"), backend="torch")
    assert isinstance(model, torch.nn.Module) and model.training  # as constructed, like torchvision
    model.eval()
    with torch.no_grad():
        for size in ODD_SIZES:
            out = model(torch.randn(1, 3, *size))
            assert tuple(out.shape[1:]) == archspec.load(_spec("resnet18"), input_size=size).output_shape
            assert torch.isfinite(out).all()


# --------------------------------------------------------------------------------------------
# numerics


def test_resnet50_stem_and_first_block_are_torchvisions():
    """torchvision's semantics written out by hand: 7x7/2 conv padded 3, BatchNorm eps 1e-5,
    ReLU, 3x3/2 max pool padded 1 (with -inf); then its Bottleneck with the stride on the 3x3."""
    path = _spec("resnet50")
    model = _randomized(torch_backend.instantiate(_source(path), _network(path)))
    s = model.state_dict()

    def bn(t, prefix):
        return F.batch_norm(
            t,
            s[f"{prefix}.running_mean"],
            s[f"{prefix}.running_var"],
            s[f"{prefix}.weight"],
            s[f"{prefix}.bias"],
            False,
            0.1,
            1e-5,
        )

    x = torch.randn(2, 3, 65, 67, dtype=torch.float64)
    stem = F.max_pool2d(F.relu(bn(F.conv2d(x, s["conv1.weight"], stride=2, padding=3), "bn1")), 3, 2, 1)
    p = "layer1.0"
    out = F.relu(bn(F.conv2d(stem, s[f"{p}.conv1.weight"]), f"{p}.bn1"))
    out = F.relu(bn(F.conv2d(out, s[f"{p}.conv2.weight"], stride=1, padding=1), f"{p}.bn2"))
    out = bn(F.conv2d(out, s[f"{p}.conv3.weight"]), f"{p}.bn3")
    identity = bn(F.conv2d(stem, s[f"{p}.downsample.0.weight"]), f"{p}.downsample.1")
    block = F.relu(out + identity)
    with torch.no_grad():
        ours_stem = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        ours_block = model.layer1[0](ours_stem)
    torch.testing.assert_close(ours_stem, stem, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours_block, block, rtol=1e-12, atol=1e-12)
    assert model.bn1.eps == 1e-5 and model.bn1.momentum == 0.1


@pytest.mark.parametrize("name", ["resnet50", "resnet50_v2", "resnet50d", "seresnet50", "resnetv2_50"])
def test_catalog_models_compute_what_the_ir_says(name):
    """resnet50_v2 pads its stem max pool with zeros on a raw convolution output; resnet50d's
    shortcut average pool uses ceil_mode without counting padding; seresnet50 gates by
    multiplication; resnetv2_50 reads its shortcut from the pre-activated tensor."""
    _assert_matches_ir(_spec(name), [(65, 67)] if name == "resnet50" else [(33, 35)], batch=1)


def test_exotic_spec_computes_what_the_ir_says_at_every_size(exotic_path):
    """`same` padding depends on the input size: the generated code must follow it."""
    _assert_matches_ir(str(exotic_path), [(64, 64), (65, 65), (67, 70), (97, 97)])


def test_flow_spec_computes_what_the_ir_says(flow_path):
    """Every shortcut case is taken by some block (identity, from the pre-activation, plain)."""
    network = _network(str(flow_path))
    assert [b.shortcut_case for b in network.blocks] == [0, 1, 2, None]
    _assert_matches_ir(str(flow_path), [(32, 32), (33, 35)])


def test_inplace_activations_are_safe_where_emitted(exotic_path, flow_path):
    """The default form works in place (``nn.ReLU(inplace=True)``, ``out += identity``) only
    where nothing else reads the input; its results are bit-identical to the out-of-place form."""
    for path in (_spec("resnet50"), _spec("resnet50_v2"), _spec("seresnet50"), str(exotic_path), str(flow_path)):
        network = _network(path)
        source = _source(path)
        assert "inplace=True" in source
        out_of_place = torch_backend.emit(network, inplace=False)
        assert "inplace" not in out_of_place and "+=" not in out_of_place
        plain = _randomized(torch_backend.instantiate(out_of_place, network))
        fast = torch_backend.instantiate(source, network).double().eval()
        fast.load_state_dict(plain.state_dict(), strict=True)
        assert list(fast.state_dict()) == list(plain.state_dict())
        x = torch.randn(2, 3, 35, 33, dtype=torch.float64)
        with torch.no_grad():
            torch.testing.assert_close(fast(x), plain(x), rtol=0, atol=0)


def test_the_default_form_reads_like_torchvision():
    source = _source(_spec("resnet50"))
    assert "nn.ReLU(inplace=True)" in source
    assert "out += shortcut" in source


def test_forward_hooks_that_copy_see_each_layers_own_output():
    """In the default form the ReLU after bn1 works in place: a hook that keeps bn1's output
    without copying it sees it rectified, one that copies keeps the negative values (the
    cross-check's hooks copy)."""
    model = _randomized(torch_backend.instantiate(_source(_spec("resnet50")), _network(_spec("resnet50"))))
    seen = {}
    model.bn1.register_forward_hook(lambda m, i, o: seen.update(kept=o, copied=o.clone()))
    with torch.no_grad():
        model(torch.randn(1, 3, 33, 33, dtype=torch.float64))
    assert (seen["copied"] < 0).any()
    assert not (seen["kept"] < 0).any()


def test_export_resnet50():
    model = torch_backend.instantiate(_source(_spec("resnet50")), _network(_spec("resnet50"))).eval()
    x = torch.randn(1, 3, 97, 97)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x))


def test_export_run_time_same_padding(exotic_path):
    """The run-time `same` padding helpers are graph-capturable too."""
    path = str(exotic_path)
    model = torch_backend.instantiate(_source(path), _network(path)).eval()
    x = torch.randn(1, 3, 67, 70)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x))


# --------------------------------------------------------------------------------------------
# the generated files


def test_generated_resnet50_reads_like_torchvision():
    source = _source(_spec("resnet50"))
    network = _network(_spec("resnet50"))
    assert f"sha256 {network.spec.digest[:16]}" in source and f"archspec {archspec.__version__}" in source
    assert "class Bottleneck(nn.Module):" in source and "class Resnet50(nn.Module):" in source
    assert "x = self.layer1(x)  # (N, 256, 56, 56)" in source
    assert "self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=False)" in source
    assert "nn.BatchNorm2d(64, eps=1e-05, momentum=0.1)" in source
    assert "if stride != 1 or in_channels != out:" in source
    assert "shortcut = self.downsample(x)" in source


def test_generated_files_import_torch_only(exotic_path, flow_path):
    sources = {p.name: p.read_text() for p in sorted((ROOT / "generated" / "torch").glob("*.py"))}
    sources["exotic"] = _source(str(exotic_path))
    sources["flow"] = _source(str(flow_path))
    for name, source in sources.items():
        tree = ast.parse(source)
        roots = {
            alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        roots |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert roots == {"torch"}, name
        assert "archspec" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}, name


def test_generated_files_are_formatted_and_lint_clean(exotic_path, flow_path, tmp_path):
    files = sorted(str(p) for p in (ROOT / "generated" / "torch").glob("*.py"))
    assert files
    for spec in (exotic_path, flow_path):
        generated = tmp_path / f"{spec.stem}.py"
        generated.write_text(_source(str(spec)))
        files.append(str(generated))
    ruff = render.ruff_binary()
    length = f"--line-length={render.LINE_LENGTH}"
    fmt = subprocess.run([ruff, "format", "--isolated", length, "--check", *files], capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    check = subprocess.run(
        [ruff, "check", "--isolated", length, "--select", "E,F,W,I,B,UP", *files],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("path", [str(p.relative_to(ROOT)) for p in SPECS])
def test_committed_file_is_fresh(path):
    """What ``archspec build --check`` verifies: generated/torch/<name>.py is the current output."""
    target = ROOT / output_path(_network(path).name, "torch", None)
    assert stale_diff(target, _source(path)) is None, f"{target} is stale: rebuild it"


def test_output_is_identical_across_hash_seeds(exotic_path):
    paths = [_spec("resnet50"), _spec("seresnet50"), _spec("resnet50d"), str(exotic_path)]
    script = (
        "import hashlib, sys\n"
        "from archspec.backends import torch_backend\n"
        "from archspec.pipeline import checked_network\n"
        "for path in sys.argv[1:]:\n"
        "    print(hashlib.sha256(torch_backend.emit(checked_network(path)).encode()).hexdigest())\n"
    )
    expected = [hashlib.sha256(_source(p).encode()).hexdigest() for p in paths]
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        result = subprocess.run(
            [sys.executable, "-c", script, *paths],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=True,
        )
        assert result.stdout.split() == expected, seed


# --------------------------------------------------------------------------------------------
# refusals and guards


def _write(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"archspec: 1\nname: {name}\ninput: {{channels: 3, size: [32, 32]}}\n{body}")
    return str(path)


def test_refuses_what_pytorch_cannot_express_exactly(tmp_path):
    path = _write(
        tmp_path,
        "asym_avg",
        "stem:\n  - {op: avgpool, name: pool, kernel: 3, stride: 1, "
        "padding: [[0, 1], [0, 1]], count_include_pad: false}\n",
    )
    with pytest.raises(ArchspecError, match="AS405"):  # lint refuses it first
        checked_network(path)
    with pytest.raises(BackendError, match="count_include_pad"):
        torch_backend.emit(build_ir(load_spec(path)))


def test_refuses_a_layer_name_that_shadows_nn_module(tmp_path):
    """Lint refuses such names first (AS108); the backend does not rely on it."""
    path = _write(tmp_path, "shadow", "stem:\n  - {op: conv, name: forward, filters: 4, kernel: 1}\n")
    with pytest.raises(ArchspecError):
        checked_network(path)
    with pytest.raises(BackendError, match="shadow"):
        torch_backend.emit(build_ir(load_spec(path)))


def test_reserved_names_cover_torch():
    public = {n for n in dir(torch.nn.Module) if not n.startswith("_")} | {"training"}
    assert public <= MODULE_ATTRS
    for container in (torch.nn.ModuleDict, torch.nn.Sequential):
        assert {n for n in dir(container) if not n.startswith("_")} <= CONTAINER_ATTRS
