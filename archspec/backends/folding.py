"""Which BatchNorms the inference forms fold, read from the IR: one answer for both backends
(the PyTorch form's ``fuse_for_inference()`` method, the Keras form's ``fuse_for_inference(model)``)
and for the checks that compare each form with its plain model."""

from __future__ import annotations

from archspec.ir.graph import Network


def foldable_batchnorms(network: Network) -> dict[str, str]:
    """BatchNorm node id -> the id of the convolution it can be folded into: the BatchNorm's only
    input is that convolution (a 2-D feature map, not weight-standardized), and nothing else reads
    the convolution."""
    out = {}
    for node in network.ops():
        if node.op != "batchnorm" or len(node.inputs) != 1 or node.shape is None or len(node.shape) != 3:
            continue
        conv = network.node(node.inputs[0])
        standardized = conv.attrs is not None and getattr(conv.attrs, "standardize", False)
        if conv.op == "conv" and not standardized and network.out_degree(conv.id) == 1:
            out[node.id] = conv.id
    return out
