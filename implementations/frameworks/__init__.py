"""Adapters for GRUs of other frameworks and converters: Keras 3 (torch, jax, numpy,
TensorFlow and openvino backends), tf-keras, TFLite, Flax, dm-haiku, Equinox, the
ONNX operator and torch's exporters, OpenVINO, PaddlePaddle, MLX, MindSpore.

Each module needs its framework, installed by its lane's optional extra
(``registry.LANES``: ``pip install gru-conformance[<lane>]``, or ``tox -e
frameworks-<lane>``); the core install does not. Importing this package imports no framework: the
registry (``conformance.implementations.frameworks.registry``) holds names only, so every
id resolves, and an id whose framework is missing is graded as one clear load
error. ``python -m conformance.commands.frameworks_grade`` grades them all.

Every adapter converts the canonical parameters (PyTorch layout, gates r, z, n)
to the framework's own layout in plain code, next to the framework's documented
equations it claims, and states the framework's version in its notes.
"""
