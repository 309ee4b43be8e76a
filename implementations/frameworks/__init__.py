"""Adapters for GRUs of other frameworks: Keras 3, Flax (linen and nnx), ONNX.

Each module needs its framework, installed by an optional extra
(``pip install gru-conformance[keras|flax|onnx]``, or ``[frameworks]`` for all);
the core install does not. Importing this package imports no framework: the
registry (``implementations.frameworks.registry``) holds names only, so every
id resolves, and an id whose framework is missing is graded as one clear load
error. ``python -m implementations.frameworks`` grades them all.

Every adapter converts the canonical parameters (PyTorch layout, gates r, z, n)
to the framework's own layout in plain code, next to the framework's documented
equations it claims, and states the framework's version in its notes.
"""
