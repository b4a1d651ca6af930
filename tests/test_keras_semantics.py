"""The generated Keras code computes what the IR says, numerically.

The reference is a small PyTorch interpreter of the IR written here (``torch.nn.functional``
op by op, reading each node's attributes and resolved padding): it shares nothing with the
Keras backend but the IR.  Each network gets random weights and BatchNorm statistics, copied
into the generated Keras model through the IR's tensor layout (OIHW -> HWIO, dense
transposed), and both are run on the same random input.

Covered: padding forms (explicit, asymmetric, ``same`` at stride 2 on even and odd sizes),
max-pool padding with -inf on a signed input and with zeros, ``ceil_mode``,
``count_include_pad``, grouped and dilated convolutions, flatten order, activations,
BatchNorm (eps), and whole shipped networks at small odd sizes (conditional shortcut layers,
``inputs:`` references, shortcuts from inside the block, round_to, broadcasting multiply).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from archspec.backends import keras_backend
from archspec.pipeline import checked_network

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
F = torch.nn.functional

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


# ---------------------------------------------------------------------------------------------
# the reference: the IR, interpreted with torch.nn.functional


def _pad(x, pads, value=0.0):
    top, bottom, left, right = pads
    return F.pad(x, (left, right, top, bottom), value=value)


def _pool_count(size: int, low: int, high: int, kernel: int, stride: int, ceil_mode: bool) -> int:
    span = size + low + high - kernel
    count = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (count - 1) * stride >= size + low:
        count -= 1
    return count


def _reference_pool(x, node):
    """Max or average pooling with PyTorch's rules for any (also asymmetric) padding: pad,
    then pool; a ceil-mode window's missing cells take no part (max: -inf; average: not counted)."""
    a = node.attrs
    top, bottom, left, right = node.pads
    (kh, kw), (sh, sw) = a.kernel, a.strides
    h, w = x.shape[2], x.shape[3]
    oh = _pool_count(h, top, bottom, kh, sh, a.ceil_mode)
    ow = _pool_count(w, left, right, kw, sw, a.ceil_mode)
    extra_h = max((oh - 1) * sh + kh - (h + top + bottom), 0)
    extra_w = max((ow - 1) * sw + kw - (w + left + right), 0)
    if node.op == "maxpool":
        y = _pad(x, node.pads, a.pad_value)
        y = _pad(y, (0, extra_h, 0, extra_w), float("-inf"))
        return F.max_pool2d(y, (kh, kw), (sh, sw))
    y = _pad(_pad(x, node.pads), (0, extra_h, 0, extra_w))
    ones = torch.ones((1, 1, h, w), dtype=x.dtype)
    counted = _pad(ones, node.pads, 1.0 if a.count_include_pad else 0.0)
    counted = _pad(counted, (0, extra_h, 0, extra_w))
    return F.avg_pool2d(y, (kh, kw), (sh, sw)) / F.avg_pool2d(counted, (kh, kw), (sh, sw))


def torch_reference(network, x, weights):
    values = {"input": x}
    for node in network.ops():
        ins = [values[i] for i in node.inputs]
        a, w = node.attrs, weights.get(node.id, {})
        op = node.op
        if op == "conv":
            y = F.conv2d(_pad(ins[0], node.pads), w["weight"], w.get("bias"), a.stride, 0, a.dilation, a.groups)
        elif op == "batchnorm":
            y = F.batch_norm(ins[0], w["running_mean"], w["running_var"], w["weight"], w["bias"], False, 0.0, a.eps)
        elif op in ("maxpool", "avgpool"):
            y = _reference_pool(ins[0], node)
        elif op == "global_avg_pool":
            y = ins[0].mean(dim=(2, 3), keepdim=a.keepdims)
        elif op == "global_max_pool":
            y = ins[0].amax(dim=(2, 3), keepdim=a.keepdims)
        elif op == "flatten":
            y = torch.flatten(ins[0], 1)
        elif op == "linear":
            y = F.linear(ins[0], w["weight"], w.get("bias"))
        elif op == "add":
            y = sum(ins[1:], ins[0])
        elif op == "multiply":
            y = math.prod(ins[1:], start=ins[0])
        elif op == "concat":
            y = torch.cat(ins, dim=1)
        elif op == "relu":
            y = F.relu(ins[0])
        elif op == "relu6":
            y = F.relu6(ins[0])
        elif op == "leaky_relu":
            y = F.leaky_relu(ins[0], a.negative_slope)
        elif op == "sigmoid":
            y = torch.sigmoid(ins[0])
        elif op == "silu":
            y = F.silu(ins[0])
        elif op == "tanh":
            y = torch.tanh(ins[0])
        elif op == "softmax":
            y = torch.softmax(ins[0], dim=1)
        elif op in ("identity", "dropout"):
            y = ins[0]
        else:  # pragma: no cover
            raise AssertionError(f"no reference for op {op}")
        values[node.id] = y
    return values[network.output]


def random_weights(network, seed=0):
    """Random tensors for every node (PyTorch layout), scaled to keep activations moderate."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for node in network.ops():
        tensors = {}
        for t in node.tensors():
            if t.name == "num_batches_tracked":
                continue
            shape = tuple(t.shape)
            if t.name == "weight" and node.op in ("conv", "linear"):
                fan_in = math.prod(shape[1:])
                value = torch.randn(shape, generator=gen) * math.sqrt(1.0 / fan_in)
            elif t.name in ("weight", "running_var"):
                value = torch.rand(shape, generator=gen) + 0.5
            else:
                value = torch.randn(shape, generator=gen) * 0.1
            tensors[t.name] = value
        out[node.id] = tensors
    return out


def load_into_keras(model, network, weights):
    copied = 0
    for node in network.ops():
        tensors = weights.get(node.id)
        if not tensors:
            continue
        values = []
        for name, value in tensors.items():
            value = value.numpy()
            if name == "weight" and node.op == "conv":
                value = value.transpose(2, 3, 1, 0)
            elif name == "weight" and node.op == "linear":
                value = value.T
            values.append(np.ascontiguousarray(value))
        layer = model.get_layer(node.keras_name)
        assert [tuple(v.shape) for v in layer.get_weights()] == [v.shape for v in values], node.keras_name
        layer.set_weights(values)
        copied += 1
    return copied


def compare(network, batch=2, seed=0, source=None):
    """Max abs difference between the generated Keras model and the reference, and the scale."""
    source = source or keras_backend.emit(network)
    model = keras_backend.instantiate(source, network)
    weights = random_weights(network, seed)
    load_into_keras(model, network, weights)
    c, h, w = network.input_shape
    x = torch.randn((batch, c, h, w), generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        expected = torch_reference(network, x, weights).numpy()
    got = np.asarray(model(x.numpy().transpose(0, 2, 3, 1), training=False))
    if got.ndim == 4:
        got = got.transpose(0, 3, 1, 2)
    assert got.shape == expected.shape
    return float(np.abs(got - expected).max()), float(np.abs(expected).max()), source


def assert_close(network, **kwargs):
    diff, scale, source = compare(network, **kwargs)
    assert diff <= 1e-4 * max(1.0, scale), f"max abs diff {diff} at output scale {scale}"
    return source


def write_spec(tmp_path: Path, text: str, name: str = "tiny") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def tiny(tmp_path, stem: str, size, channels: int = 3, head: str = "", extra: str = "") -> object:
    text = (
        f"archspec: 1\nname: tiny\ninput: {{channels: {channels}, size: [{size[0]}, {size[1]}]}}\n"
        f"{extra}stem:\n{textwrap.indent(textwrap.dedent(stem).strip(), '  ')}\n"
    )
    if head:
        text += f"head:\n{textwrap.indent(textwrap.dedent(head).strip(), '  ')}\n"
    return checked_network(write_spec(tmp_path, text))


# ---------------------------------------------------------------------------------------------
# single ops

POOLS = {
    # max pooling straight after a convolution: its input is signed
    "max_minus_inf": ("- {op: maxpool, kernel: 3, stride: 2, padding: 1}", "TorchPooling2D"),
    "max_minus_inf_asymmetric": (
        "- {op: maxpool, kernel: 3, stride: 2, padding: [[0, 1], [1, 0]]}",
        "TorchPooling2D",
    ),
    "max_zero": ("- {op: maxpool, kernel: 3, stride: 2, padding: 1, pad_value: 0}", "ZeroPadding2D"),
    "max_ceil": ("- {op: maxpool, kernel: 3, stride: 2, padding: 1, ceil_mode: true}", "TorchPooling2D"),
    "max_ceil_2x2": ("- {op: maxpool, kernel: 2, stride: 2, ceil_mode: true}", 'padding="same"'),
    "max_same": (
        "- {op: maxpool, kernel: 3, stride: 2, padding: same}",
        'MaxPooling2D(3, strides=2, padding="same"',
    ),
    "max_same_zero": ("- {op: maxpool, kernel: 3, stride: 2, padding: same, pad_value: 0}", "TorchPooling2D"),
    # the last window would start in the padding: PyTorch drops it
    "max_ceil_last_window": (
        "- {op: maxpool, kernel: 2, stride: 2, padding: 1, ceil_mode: true}",
        "TorchPooling2D",
    ),
    "avg_ceil_last_window": (
        "- {op: avgpool, kernel: 2, stride: 2, padding: 1, ceil_mode: true}",
        "TorchPooling2D",
    ),
    "avg_include_pad": ("- {op: avgpool, kernel: 3, stride: 2, padding: 1}", "ZeroPadding2D"),
    "avg_exclude_pad": (
        "- {op: avgpool, kernel: 3, stride: 2, padding: 1, count_include_pad: false}",
        "TorchPooling2D",
    ),
    "avg_ceil_exclude": (
        "- {op: avgpool, kernel: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: false}",
        "TorchPooling2D",
    ),
    "avg_ceil_include": (
        "- {op: avgpool, kernel: 3, stride: 2, padding: 1, ceil_mode: true}",
        "TorchPooling2D",
    ),
    "avg_ceil_2x2": (
        "- {op: avgpool, kernel: 2, stride: 2, ceil_mode: true, count_include_pad: false}",
        'padding="same"',
    ),
    "avg_same_exclude": (
        "- {op: avgpool, kernel: 3, stride: 2, padding: same, count_include_pad: false}",
        'padding="same"',
    ),
    "avg_same_include": ("- {op: avgpool, kernel: 3, stride: 2, padding: same}", "TorchPooling2D"),
}


@pytest.mark.parametrize("size", [(10, 10), (11, 9)], ids=["even", "odd"])
@pytest.mark.parametrize("case", list(POOLS))
def test_pooling_equals_pytorch(tmp_path, case, size):
    pool, expected_form = POOLS[case]
    stem = f"- {{op: conv, filters: 4, kernel: 3, padding: 1}}\n{pool}"
    network = tiny(tmp_path, stem, size)
    source = assert_close(network)
    assert expected_form in source


def test_zero_padding_only_where_equal_to_minus_inf(tmp_path):
    """After a ReLU the input is non-negative: ZeroPadding2D is exact there, and used."""
    stem = """
        - {op: conv, filters: 4, kernel: 3, padding: 1}
        - {op: relu}
        - {op: maxpool, kernel: 3, stride: 2, padding: 1}
    """
    network = tiny(tmp_path, stem, (12, 12))
    source = assert_close(network)
    assert "ZeroPadding2D" in source and "TorchPooling2D" not in source


def test_zero_pad_value_differs_from_minus_inf_on_signed_input(tmp_path):
    """The two max-pool padding values really give different results here (the test above
    and POOLS["max_zero"] would not notice a mix-up otherwise)."""
    zero = tiny(
        tmp_path,
        "- {op: conv, filters: 4, kernel: 3, padding: 1}\n"
        "- {op: maxpool, kernel: 3, stride: 2, padding: 1, pad_value: 0}",
        (10, 10),
    )
    minus_inf = tiny(
        tmp_path,
        "- {op: conv, filters: 4, kernel: 3, padding: 1}\n- {op: maxpool, kernel: 3, stride: 2, padding: 1}",
        (10, 10),
    )
    diff, _, _ = compare(zero, source=keras_backend.emit(minus_inf))
    assert diff > 1e-3


CONVS = {
    "same_stride2": ("- {op: conv, filters: 5, kernel: 7, stride: 2, padding: same}", 'padding="same"'),
    "same_stride2_k3": ("- {op: conv, filters: 5, kernel: 3, stride: 2, padding: same}", 'padding="same"'),
    "explicit": ("- {op: conv, filters: 5, kernel: 7, stride: 2, padding: 3}", "ZeroPadding2D"),
    "asymmetric": (
        "- {op: conv, filters: 5, kernel: 3, stride: 2, padding: [[0, 1], [1, 2]]}",
        "ZeroPadding2D",
    ),
    "symmetric_stride1": ("- {op: conv, filters: 5, kernel: [3, 5], padding: [1, 2]}", 'padding="same"'),
    "dilated": ("- {op: conv, filters: 5, kernel: 3, padding: 2, dilation: 2}", "dilation_rate=2"),
    "grouped": (
        "- {op: conv, filters: 6, kernel: 3, stride: 2, padding: 1, groups: 3, bias: false}",
        "groups=3",
    ),
    "rectangular": ("- {op: conv, filters: 5, kernel: [1, 3], stride: [2, 1], padding: [0, 1]}", "(1, 3)"),
}


@pytest.mark.parametrize("size", [(10, 10), (11, 13)], ids=["even", "odd"])
@pytest.mark.parametrize("case", list(CONVS))
def test_convolution_equals_pytorch(tmp_path, case, size):
    conv, expected_form = CONVS[case]
    network = tiny(tmp_path, conv, size, channels=6)
    source = assert_close(network)
    assert expected_form in source


def test_same_padding_stays_exact_at_other_sizes(tmp_path):
    """``padding: same`` at stride 2 is Keras' own "same" (TensorFlow's rule): the code
    emitted at one size is exact at another, where the asymmetric padding differs."""
    at_10 = tiny(tmp_path, "- {op: conv, filters: 5, kernel: 3, stride: 2, padding: same}", (10, 10))
    at_11 = tiny(tmp_path, "- {op: conv, filters: 5, kernel: 3, stride: 2, padding: same}", (11, 11))
    assert at_10.node(at_10.output).pads != at_11.node(at_11.output).pads
    diff, scale, _ = compare(at_11, source=keras_backend.emit(at_10))
    assert diff <= 1e-4 * max(1.0, scale)


@pytest.mark.parametrize(
    "op",
    [
        "relu",
        "relu6",
        "sigmoid",
        "silu",
        "tanh",
        "softmax",
        "{op: leaky_relu, negative_slope: 0.2}",
        "identity",
        "{op: dropout, rate: 0.5}",
    ],
)
def test_activation_equals_pytorch(tmp_path, op):
    layer = op if op.startswith("{") else f"{{op: {op}}}"
    network = tiny(tmp_path, f"- {{op: conv, filters: 5, kernel: 3, padding: 1}}\n- {layer}", (6, 7))
    assert_close(network)


def test_batchnorm_equals_pytorch_and_translates_momentum(tmp_path):
    stem = """
        - {op: conv, filters: 5, kernel: 3, padding: 1, bias: false}
        - {op: batchnorm, name: bn, eps: 0.25, momentum: 0.3}
    """
    network = tiny(tmp_path, stem, (6, 6))
    source = assert_close(network)
    model = keras_backend.instantiate(source, network)
    config = model.get_layer("bn").get_config()
    assert config["epsilon"] == 0.25  # large, so that a wrong eps changes the output
    assert config["momentum"] == 0.7  # PyTorch's 0.3 is Keras' 0.7 (exactly: no 0.7000000000000001)
    assert "momentum=0.7," in source


@pytest.mark.parametrize("size", [(5, 7), (1, 1)])
def test_flatten_keeps_pytorch_order(tmp_path, size):
    """Keras flattens NHWC; the generated code permutes to channels first unless the map is 1x1."""
    network = tiny(
        tmp_path,
        "- {op: conv, filters: 4, kernel: 3, padding: 1}",
        size,
        head="- {op: flatten}\n- {op: linear, units: 6}",
    )
    source = assert_close(network)
    assert ("layers.Permute" in source) == (size != (1, 1))


def test_global_pools_and_broadcast_multiply(tmp_path):
    stem = """
        - {op: conv, name: features, filters: 6, kernel: 3, padding: 1}
        - {op: global_max_pool, keepdims: true}
        - {op: sigmoid, name: gate}
        - {op: multiply, inputs: [features, gate]}
        - {op: conv, name: other, filters: 6, kernel: 1, inputs: [input]}
        - {op: concat, inputs: [multiply, other, features]}
        - {op: global_avg_pool}
    """
    network = tiny(tmp_path, stem, (7, 5))
    assert_close(network)


# ---------------------------------------------------------------------------------------------
# blocks: conditions, references by name, shortcut sources, expressions

BLOCKS = """\
archspec: 1
name: blocks
input: {channels: 3, size: [19, 19]}
vars: {num_classes: 7}
blocks:
  odd:
    params: {width: null, stride: 1, squeeze: false, mode: 0}
    let:
      out: width * 2
      half: out / 2
      widths: [half, out]
    body:
      - {op: conv, name: a, keras: a, filters: "widths[0]", kernel: 1}
      - {op: relu, keras: a_relu, when: mode != 1}
      - {op: leaky_relu, keras: a_leaky, when: mode == 1, negative_slope: 0.1}
      - {op: conv, name: b, keras: b, filters: out, kernel: 3, stride: stride, padding: 1}
      - {op: global_avg_pool, name: pool, keras: pool, keepdims: true, when: squeeze}
      - {op: conv, name: fc, keras: fc, filters: out, kernel: 1, when: squeeze}
      - {op: sigmoid, name: gate, keras: gate, when: squeeze}
      - {op: multiply, keras: scale, inputs: [b, gate], when: squeeze}
      - {op: concat, name: both, keras: both, inputs: [input, a], when: mode == 2}
      - {op: conv, name: mix, keras: mix, filters: out, kernel: 1, when: mode == 2, stride: stride}
      - {op: add, keras: mixed, inputs: [b, mix], when: mode == 2}
    shortcut:
      - when: in_channels != out
        from: a
        layers:
          - {op: maxpool, keras: pool0, kernel: 3, stride: stride, padding: 1, when: stride > 1}
          - {op: conv, keras: proj, filters: out, kernel: 1}
      - when: stride > 1
        layers:
          - {op: avgpool, keras: avg0, kernel: 2, stride: stride, ceil_mode: true, count_include_pad: false}
    merge: {op: add, keras: add}
    post:
      - {op: relu, keras: out}
stem:
  - {op: conv, name: conv1, filters: 8, kernel: 3, stride: 2, padding: same}
stages:
  - {block: odd, depth: 2, stride: 2, args: {width: 8}}
  - {block: odd, depth: 2, args: {width: 8, squeeze: true, mode: 1}}
  - blocks:
      - {args: {width: 12, mode: 2}}
      - {args: {width: 12, mode: 2, stride: 2}}
    block: odd
head:
  - {op: global_avg_pool}
  - {op: linear, units: num_classes}
"""


def test_block_features_equal_the_ir(tmp_path):
    """Conditional layers, ``inputs:`` references (to the block input too), a shortcut from
    inside the block with a conditional first layer, expressions with ``/``."""
    network = checked_network(write_spec(tmp_path, BLOCKS, "blocks"))
    source = assert_close(network)
    assert "half = out // 2" in source  # the spec's exact division, as Python floor division
    assert "widths = [half, out]" in source
    assert "inputs = x" in source  # the block input, kept for a later reference


@pytest.mark.parametrize(
    ("spec", "size"),
    [
        ("resnet50_v2.yaml", 39),  # pre-activation, zero pad_value on a signed input, shortcut from inside
        ("resnet50d.yaml", 41),  # conditional shortcut layers, ceil-mode average pooling (odd sizes)
        ("seresnet50.yaml", 35),  # inputs: references, broadcasting multiply, round_to
        ("resnetv2_50.yaml", 37),  # -inf max pool right after the stem convolution, flatten
        ("resnext50_32x4d.yaml", 33),  # grouped convolutions
    ],
)
def test_shipped_network_equals_the_ir(spec, size):
    network = checked_network(SPECS / spec, (size, size))
    assert_close(network, batch=1)
