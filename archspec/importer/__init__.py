"""Importing existing models: a PyTorch or Keras model -> a readable spec, proven by a round trip.

The one module of archspec that reads framework models.  Tracing (``torch_trace``,
``keras_trace``) turns a model into a flat graph of registry ops with exact attributes
(:mod:`archspec.importer.flat`); ``structure`` recovers blocks, stages and a stage table from
it; ``writer`` prints the spec; ``roundtrip`` builds the spec, carries the original's weights
over and compares outputs.  torch and keras are imported only inside the tracing and
round-trip modules, and only when a target needs them.
"""
