"""Seeds 001-004: the lint fixtures transcribed as written (tests/fixtures/seeds/) and the
runnable examples made from them (specs/examples/).

For each fixture: the exact findings as (code, line, column) and the golden text rendering.
For each example: it lowers without errors, it lints to exactly its intended findings, and its
parameter count equals a count made by hand here, independently of the IR.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

import archspec
from archspec.diagnostics import SourceCache, render_text
from archspec.lint import lint_path

SEEDS = FIXTURES / "seeds"
EXAMPLES_DIR = ROOT / "specs" / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))
TORCH_REFERENCE = json.loads((ROOT / "tests" / "reference" / "torch_models.json").read_text())
KERAS_REFERENCE = json.loads((ROOT / "tests" / "reference" / "keras_models.json").read_text())


def _lint(path: Path, input_size: tuple[int, int] | None = None):
    cwd = os.getcwd()
    os.chdir(ROOT)  # spans name files relative to the working directory
    try:
        return lint_path(path.relative_to(ROOT), input_size)
    finally:
        os.chdir(cwd)


def _positions(diagnostics) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) for d in diagnostics]


# ---------------------------------------------------------------------------------------------
# lint fixtures: the seeds as written

FIXTURE_FINDINGS = {
    # Seed 002 as written (convolutional_block supplied): 'same' at stride 2 on the stem conv
    # and the stem pool, the undefined num_classes, the softmax.
    ("seed002_tf", None): [
        ("AS401", 53, 73),
        ("AS401", 56, 63),
        ("AS104", 84, 35),
        ("AS302", 85, 5),
    ],
    # Seed 002 exactly as published: convolutional_block is defined nowhere; lowering stops there.
    ("seed002_tf_as_published", None): [
        ("AS401", 30, 73),
        ("AS401", 33, 63),
        ("AS102", 37, 17),
    ],
    # Seed 003 as written: the softmax; the fixed 7x7 pooling fits at 224x224 ...
    ("seed003_keras", None): [
        ("AS302", 82, 5),
    ],
    # ... and not at 256x256 (an 8x8 map).
    ("seed003_keras", (256, 256)): [
        ("AS205", 79, 5),
        ("AS302", 82, 5),
    ],
    # Seed 004 as written: 'same' at stride 2 in the two strided blocks, on the 3x3 conv and on
    # the 1x1 projection (one finding per block instance, at the layer's definition).
    ("seed004_keras", None): [
        # the strided 3x3 of stage2.0 and stage3.0; the 1x1 shortcut never pads, so it is not reported
        ("AS401", 21, 79),
        ("AS401", 21, 79),
    ],
}


def _golden_name(name: str, size: tuple[int, int] | None) -> str:
    return f"lint/{name}.txt" if size is None else f"lint/{name}_{size[0]}.txt"


@pytest.mark.parametrize("name, size", list(FIXTURE_FINDINGS), ids=lambda v: str(v) if v else "declared")
def test_seed_fixture_findings(name, size, golden):
    diagnostics = _lint(SEEDS / f"{name}.yaml", size)
    assert _positions(diagnostics) == FIXTURE_FINDINGS[name, size], render_text(diagnostics)
    assert all(d.span.file == f"tests/fixtures/seeds/{name}.yaml" for d in diagnostics)
    golden(_golden_name(name, size), render_text(diagnostics, SourceCache()))


def test_every_seed_fixture_is_covered():
    seed000 = {"seed000_keras", "seed000_torch"}  # tested in test_lint_rules.py
    covered = {name for name, _ in FIXTURE_FINDINGS} | seed000
    assert {p.stem for p in SEEDS.glob("*.yaml")} == covered


def test_seed_002_findings_say_what_is_wrong():
    diagnostics = _lint(SEEDS / "seed002_tf.yaml")
    by_code = {}
    for d in diagnostics:
        by_code.setdefault(d.code, []).append(d)
    assert "num_classes" in by_code["AS104"][0].message
    conv, pool = by_code["AS401"]
    assert "conv conv1" in conv.message and "2/3" in conv.message and "asymmetric" in conv.message
    assert "maxpool pool1" in pool.message and "0/1" in pool.message and "asymmetric" in pool.message
    published = _lint(SEEDS / "seed002_tf_as_published.yaml")
    assert "'convolutional_block'" in next(d for d in published if d.code == "AS102").message


def test_seed_003_fixed_pool_fits_only_at_224():
    assert [d.code for d in _lint(SEEDS / "seed003_keras.yaml", (224, 224))] == ["AS302"]
    at_256 = next(d for d in _lint(SEEDS / "seed003_keras.yaml", (256, 256)) if d.code == "AS205")
    assert "8x8 feature map" in at_256.message


def test_seed_004_same_padding_depends_on_the_map_size():
    messages = [d.message for d in _lint(SEEDS / "seed004_keras.yaml")]
    # stage 2 meets an even 62x62 map (asymmetric), stage 3 an odd 31x31 map (symmetric).
    assert any("stage2.0.conv " in m and "0/1" in m and "asymmetric" in m for m in messages)
    assert any("stage3.0.conv " in m and "1/1" in m and "asymmetric" not in m for m in messages)


def test_seed_003_fixture_equals_its_example_up_to_names():
    # The seed's own conv_block/identity_block and the shipped bottleneck_v1 build the same network.
    fixture = archspec.build_ir(SEEDS / "seed003_keras.yaml")
    example = archspec.load(EXAMPLES_DIR / "seed003_keras_resnet50.yaml")
    assert fixture.params == example.params
    assert fixture.macs == example.macs
    shapes = lambda net: [(n.op, n.shape) for n in net.ops() if n.op != "softmax"]
    assert shapes(fixture) == shapes(example)


# ---------------------------------------------------------------------------------------------
# examples: runnable, with only their intended findings

EXAMPLE_FINDINGS = {
    "seed001_resnet18": [],
    "seed001_resnet34": [],
    "seed001_resnet50": [],
    "seed001_resnet101": [],
    "seed001_resnet152": [],
    # TensorFlow 'same' padding at stride 2, kept on purpose (the stem conv and the stem pool).
    "seed002_tf_resnet50": [("AS401", 30, 92), ("AS401", 33, 84)],
    "seed003_keras_resnet50": [],
    "seed004_leaky_resnet": [],
}


def test_every_example_has_expectations():
    assert {p.stem for p in EXAMPLES} == set(EXAMPLE_FINDINGS) == set(EXAMPLE_PARAMS)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_lowers_without_errors(path):
    net = archspec.load(path)  # raises ArchspecError on any error
    assert net.ok and net.complete
    assert net.name == path.stem
    assert all(n.shape is not None and n.error is None for n in net.nodes())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_findings(path):
    diagnostics = _lint(path)
    assert _positions(diagnostics) == EXAMPLE_FINDINGS[path.stem], render_text(diagnostics)


def test_seed_002_example_keeps_tensorflow_same_padding():
    net = archspec.load(EXAMPLES_DIR / "seed002_tf_resnet50.yaml")
    conv1, pool = net.node("conv1"), net.node("maxpool")
    assert conv1.pads == (2, 3, 2, 3) and conv1.shape == (64, 112, 112)  # top, bottom, left, right
    assert pool.pads == (0, 1, 0, 1) and pool.shape == (64, 56, 56)
    assert pool.attrs.pad_value == float("-inf")  # TF's 'same' max pool ignores the padding
    assert net.output_shape == (1000,)


def test_seed_003_example_fixed_pool_at_256():
    diagnostics = _lint(EXAMPLES_DIR / "seed003_keras_resnet50.yaml", (256, 256))
    assert _positions(diagnostics) == [("AS205", 52, 5)]
    net = archspec.load(EXAMPLES_DIR / "seed003_keras_resnet50.yaml")
    assert net.node("maxpool").shape == (64, 55, 55)  # valid 3x3/2 pool: 55, not the seed's 56
    assert net.node("avg_pool").in_shapes[0] == (2048, 7, 7)


def test_seed_004_example_projects_by_flag_or_stride():
    net = archspec.load(EXAMPLES_DIR / "seed004_leaky_resnet.yaml")
    projected = {b.id for b in net.blocks if b.shortcut_case is not None}
    assert projected == {"stage1.0", "stage2.0", "stage3.0"}  # 1.0 by the flag (16 -> 32 at stride 1)
    slopes = {n.attrs.negative_slope for n in net.ops() if n.op == "leaky_relu"}
    assert slopes == {0.3}  # Keras' LeakyReLU default, not PyTorch's 0.01


# ---------------------------------------------------------------------------------------------
# parameter counts, by hand


def conv(cin: int, cout: int, k: int, bias: bool) -> int:
    return cout * cin * k * k + (cout if bias else 0)


def bn(c: int) -> int:
    return 2 * c  # gamma and beta; the running mean and variance are buffers, not parameters


def linear(cin: int, cout: int) -> int:
    return cin * cout + cout


def torchvision_style(block: str, depths: list[int], classes: int = 1000) -> int:
    """Seed 001's ResNet(block, depths): no conv biases, a projection where _make_layer adds one."""
    total = conv(3, 64, 7, False) + bn(64)
    cin = 64
    for stage, (width, depth) in enumerate(zip((64, 128, 256, 512), depths, strict=True)):
        for i in range(depth):
            stride = 2 if stage > 0 and i == 0 else 1
            if block == "basic":
                out = width
                total += conv(cin, width, 3, False) + bn(width) + conv(width, width, 3, False) + bn(width)
            else:
                out = 4 * width
                total += (
                    conv(cin, width, 1, False)
                    + bn(width)
                    + conv(width, width, 3, False)
                    + bn(width)
                    + conv(width, out, 1, False)
                    + bn(out)
                )
            if stride != 1 or cin != out:
                total += conv(cin, out, 1, False) + bn(out)
            cin = out
    return total + linear(cin, classes)


# Seed 003 (and seed 002's example, the same layers): ResNet-50 v1 with conv biases, the
# keras.applications ResNet50 layout.  Each line: 1x1, bn, 3x3, bn, 1x1, bn[, projection, bn].
RESNET50_V1_BIASED = {
    "stem": 7 * 7 * 3 * 64 + 64 + 2 * 64,  # 9,600
    "stage 2, block 1 (64 -> 256)": (64 * 64 + 64)
    + 128
    + (9 * 64 * 64 + 64)
    + 128
    + (64 * 256 + 256)
    + 512
    + (64 * 256 + 256)
    + 512,  # 75,648
    "stage 2, blocks 2-3": 2
    * ((256 * 64 + 64) + 128 + (9 * 64 * 64 + 64) + 128 + (64 * 256 + 256) + 512),  # 2 x 70,784
    "stage 3, block 1 (256 -> 512)": (256 * 128 + 128)
    + 256
    + (9 * 128 * 128 + 128)
    + 256
    + (128 * 512 + 512)
    + 1024
    + (256 * 512 + 512)
    + 1024,  # 380,672
    "stage 3, blocks 2-4": 3
    * ((512 * 128 + 128) + 256 + (9 * 128 * 128 + 128) + 256 + (128 * 512 + 512) + 1024),  # 3 x 280,832
    "stage 4, block 1 (512 -> 1024)": (512 * 256 + 256)
    + 512
    + (9 * 256 * 256 + 256)
    + 512
    + (256 * 1024 + 1024)
    + 2048
    + (512 * 1024 + 1024)
    + 2048,  # 1,515,008
    "stage 4, blocks 2-6": 5
    * ((1024 * 256 + 256) + 512 + (9 * 256 * 256 + 256) + 512 + (256 * 1024 + 1024) + 2048),  # 5 x 1,118,720
    "stage 5, block 1 (1024 -> 2048)": (1024 * 512 + 512)
    + 1024
    + (9 * 512 * 512 + 512)
    + 1024
    + (512 * 2048 + 2048)
    + 4096
    + (1024 * 2048 + 2048)
    + 4096,  # 6,044,672
    "stage 5, blocks 2-3": 2
    * ((2048 * 512 + 512) + 1024 + (9 * 512 * 512 + 512) + 1024 + (512 * 2048 + 2048) + 4096),  # 2 x 4,465,664
    "fc (2048 -> 1000)": 2048 * 1000 + 1000,  # 2,049,000
}
# BatchNorm channels: stem 64; per block width + width + 4 * width, plus 4 * width projected.
RESNET50_V1_BN_CHANNELS = 64 + (3 * 384 + 256) + (4 * 768 + 512) + (6 * 1536 + 1024) + (3 * 3072 + 2048)

# Seed 004's example: 3x3 stem to 16 channels, stages of two blocks at 32, 64, 128 channels;
# each block conv3x3 + bn + conv3x3 + bn (+ 1x1 projection + bn); every conv has a bias.
SEED004_LEAKY = {
    "stem: conv 3->16 3x3, bn": (16 * 3 * 9 + 16) + 2 * 16,  # 480
    "stage1.0: 16->32, projection (flag)": (32 * 16 * 9 + 32)
    + 64
    + (32 * 32 * 9 + 32)
    + 64
    + (32 * 16 + 32)
    + 64,  # 14,624
    "stage1.1: 32->32": (32 * 32 * 9 + 32) + 64 + (32 * 32 * 9 + 32) + 64,  # 18,624
    "stage2.0: 32->64 /2, projection": (64 * 32 * 9 + 64)
    + 128
    + (64 * 64 * 9 + 64)
    + 128
    + (64 * 32 + 64)
    + 128,  # 57,920
    "stage2.1: 64->64": (64 * 64 * 9 + 64) + 128 + (64 * 64 * 9 + 64) + 128,  # 74,112
    "stage3.0: 64->128 /2, projection": (128 * 64 * 9 + 128)
    + 256
    + (128 * 128 * 9 + 128)
    + 256
    + (128 * 64 + 128)
    + 256,  # 230,528
    "stage3.1: 128->128": (128 * 128 * 9 + 128) + 256 + (128 * 128 * 9 + 128) + 256,  # 295,680
    "fc: 128->10": 128 * 10 + 10,  # 1,290
}

EXAMPLE_PARAMS = {
    "seed001_resnet18": torchvision_style("basic", [2, 2, 2, 2]),
    "seed001_resnet34": torchvision_style("basic", [3, 4, 6, 3]),
    "seed001_resnet50": torchvision_style("bottleneck", [3, 4, 6, 3]),
    "seed001_resnet101": torchvision_style("bottleneck", [3, 4, 23, 3]),
    "seed001_resnet152": torchvision_style("bottleneck", [3, 8, 36, 3]),
    "seed002_tf_resnet50": sum(RESNET50_V1_BIASED.values()),
    "seed003_keras_resnet50": sum(RESNET50_V1_BIASED.values()),
    "seed004_leaky_resnet": sum(SEED004_LEAKY.values()),
}


def test_hand_counts_add_up():
    assert torchvision_style("basic", [2, 2, 2, 2]) == 11_689_512
    assert torchvision_style("basic", [3, 4, 6, 3]) == 21_797_672
    assert torchvision_style("bottleneck", [3, 4, 6, 3]) == 25_557_032
    assert torchvision_style("bottleneck", [3, 4, 23, 3]) == 44_549_160
    assert torchvision_style("bottleneck", [3, 8, 36, 3]) == 60_192_808
    assert list(RESNET50_V1_BIASED.values()) == [
        9_600,
        75_648,
        2 * 70_784,
        380_672,
        3 * 280_832,
        1_515_008,
        5 * 1_118_720,
        6_044_672,
        2 * 4_465_664,
        2_049_000,
    ]
    assert sum(RESNET50_V1_BIASED.values()) == 25_583_592  # trainable
    assert 2 * RESNET50_V1_BN_CHANNELS == 53_120  # BatchNorm moving mean and variance
    # keras.applications counts the moving statistics too: 25,583,592 + 53,120.
    assert sum(RESNET50_V1_BIASED.values()) + 2 * RESNET50_V1_BN_CHANNELS == 25_636_712
    assert KERAS_REFERENCE["ResNet50"]["params"] == 25_636_712
    assert list(SEED004_LEAKY.values()) == [480, 14_624, 18_624, 57_920, 74_112, 230_528, 295_680, 1_290]
    assert sum(SEED004_LEAKY.values()) == 693_258


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_params_equal_the_hand_count(path):
    assert archspec.load(path).params == EXAMPLE_PARAMS[path.stem]


def _bn_statistics(net) -> int:
    return sum(n.shape[0] * 2 for n in net.ops() if n.op == "batchnorm")


@pytest.mark.parametrize("name", ["seed002_tf_resnet50", "seed003_keras_resnet50"])
def test_keras_resnet50_layouts_count_as_keras_applications(name):
    net = archspec.load(EXAMPLES_DIR / f"{name}.yaml")
    assert _bn_statistics(net) == 2 * RESNET50_V1_BN_CHANNELS
    assert net.params + _bn_statistics(net) == KERAS_REFERENCE["ResNet50"]["params"] == 25_636_712


def _keras_weights(node) -> list[list[int]]:
    """The node's weights in Keras' layout (conv HWIO, dense (in, out), batch norm 4 x [C])."""
    tensors = {t.name: t.shape for t in node.tensors()}
    if node.op == "conv":
        o, i, h, w = tensors["weight"]
        return [[h, w, i, o]] + ([[o]] if "bias" in tensors else [])
    if node.op == "linear":
        out, cin = tensors["weight"]
        return [[cin, out]] + ([[out]] if "bias" in tensors else [])
    if node.op == "batchnorm":
        return [list(tensors[k]) for k in ("weight", "bias", "running_mean", "running_var")]
    return []


# The example's stem and head names -> keras.applications' (the blocks already use its names).
KERAS_RENAMES = {
    "seed002_tf_resnet50": {},
    "seed003_keras_resnet50": {"conv1": "conv1_conv", "bn_conv1": "conv1_bn", "fc1000": "predictions"},
}


@pytest.mark.parametrize("name", sorted(KERAS_RENAMES))
def test_keras_resnet50_layouts_match_keras_applications_layer_by_layer(name):
    net = archspec.load(EXAMPLES_DIR / f"{name}.yaml")
    renames = KERAS_RENAMES[name]
    ours = {renames.get(n.keras_name, n.keras_name): w for n in net.ops() if (w := _keras_weights(n))}
    layers = KERAS_REFERENCE["ResNet50"]["layers"]
    theirs = {layer["name"]: layer["weights"] for layer in layers if layer["weights"]}
    assert ours == theirs


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_seed_001_family_is_torchvision(depth):
    net = archspec.load(EXAMPLES_DIR / f"seed001_resnet{depth}.yaml")
    reference = TORCH_REFERENCE[f"resnet{depth}"]
    assert net.params == reference["params"]
    assert net.macs == reference["mult_adds_224"]
    assert net.state_dict_shapes() == {key: tuple(shape) for key, shape in reference["state_dict"].items()}
