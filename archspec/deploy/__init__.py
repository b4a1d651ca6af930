"""Deployment: checkpoint conversion between PyTorch and Keras, and export (ONNX,
``torch.export``, Keras SavedModel and ``.keras``), each verified numerically in the format of
``archspec check``.

Nothing here is imported by ``lint`` or ``summary``; torch, keras, onnx, onnxruntime and
safetensors are imported only by the command that needs them (:func:`deps.require`).
"""
