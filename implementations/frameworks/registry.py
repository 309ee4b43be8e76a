"""Other frameworks' GRUs, by id. Names only: importing this imports no framework.

``conformance.loading`` resolves these ids like the main registry's, but they
are not part of ``--all``: each needs its extra installed
(``pip install 'gru-conformance[frameworks]'``). ``python -m implementations.frameworks``
grades them all. ``expected_failures`` are findings: where a framework departs
from what it documents (check id -> what was found); the self-tests
(tests/test_frameworks.py) pin each one with its counterexample, so a release
that changes the behaviour is noticed.
"""

from __future__ import annotations

from conformance.loading import Entry

_ONNX = "implementations.frameworks.onnx_gru"
_KERAS = "implementations.frameworks.keras_gru"
_FLAX = "implementations.frameworks.flax_gru"
_EXPORT = "implementations.frameworks.torch_onnx"

#: The extra that installs what each module needs.
EXTRAS: dict[str, str] = {_ONNX: "onnx", _KERAS: "keras", _FLAX: "flax", _EXPORT: "onnx"}

#: Grading options for entries too slow for every check at the default profile, used by
#: ``python -m implementations.frameworks`` (a plain ``conformance grade <id>`` runs all).
#: The dynamo exporter takes about 3 s per export and fixes T (nn.GRU's fake-tensor
#: kernel is a decomposition that loops over time steps), so it is exported once per
#: configuration and length: graded on the two oracle comparisons (every layer count,
#: direction, layout and h0) and the shapes, 8 examples each.
SLOW_GRADING: dict[str, list[str]] = {
    "torch-onnx-export-dynamo": [
        "--profile", "quick", "-k", "step_matches_oracle or sequence_matches_oracle or output_shapes",
    ],
}

FRAMEWORKS: list[Entry] = [
    Entry(
        id="keras-gru-reset-after",
        adapter=f"{_KERAS}:KerasGRUResetAfter",
        document="Keras 3 keras.layers.GRU",
        description="keras.layers.GRU(reset_after=True), torch backend: claims the PyTorch equations",
    ),
    Entry(
        id="keras-gru-reset-before",
        adapter=f"{_KERAS}:KerasGRUResetBefore",
        document="Keras 3 keras.layers.GRU",
        description="keras.layers.GRU(reset_after=False), torch backend: claims reset-before",
        expected_failures={
            "equations.step": "a float64 layer computes its matmuls in float32 (keras.ops.matmul "
            "promotes float64 to float32 on non-TensorFlow backends): error about 1e-9, "
            "above the float64 tolerance",
            "precision.float64": "float64 in, float64 out, float32 accuracy: a precision loss, "
            "not wrong equations (float32 passes)",
        },
    ),
    Entry(
        id="flax-linen-grucell",
        adapter=f"{_FLAX}:FlaxLinenGRUCell",
        document="Flax linen GRUCell",
        description="flax.linen.GRUCell on JAX CPU, unrolled by the suite",
    ),
    Entry(
        id="flax-nnx-grucell",
        adapter=f"{_FLAX}:FlaxNNXGRUCell",
        document="Flax nnx GRUCell",
        description="flax.nnx.GRUCell on JAX CPU, unrolled by the suite",
        expected_failures={
            "equations.step": "no b_hn: the documented r * (W_hn h + b_hn) is computed as r * W_hn h",
        },
    ),
    Entry(
        id="onnx-reference-gru",
        adapter=f"{_ONNX}:OnnxReferenceGRU",
        document="ONNX GRU operator",
        description="ONNX GRU, linear_before_reset=1, forward/bidirectional, onnx.reference",
    ),
    Entry(
        id="onnx-reference-gru-lbr0",
        adapter=f"{_ONNX}:OnnxReferenceGRUResetBefore",
        document="ONNX GRU operator",
        description="ONNX GRU, linear_before_reset=0 (reset before), onnx.reference",
    ),
    Entry(
        id="onnx-reference-gru-reverse",
        adapter=f"{_ONNX}:OnnxReferenceGRUReverse",
        document="ONNX GRU operator",
        description="ONNX GRU, direction=reverse on the flipped sequence, onnx.reference",
    ),
    Entry(
        id="onnx-reference-gru-seqlens",
        adapter=f"{_ONNX}:OnnxReferenceGRUSequenceLens",
        document="ONNX GRU operator",
        description="ONNX GRU with sequence_lens, onnx.reference",
        expected_failures={
            "varlen.padding-zero": "onnx.reference ignores sequence_lens: outputs past a length are not 0",
            "varlen.final-state": "onnx.reference ignores sequence_lens: Y_h is the state after T steps",
            "varlen.reverse-start": "onnx.reference ignores sequence_lens: the reverse direction "
            "starts at T - 1, not at the sample's last step",
        },
    ),
    Entry(
        id="onnxruntime-gru",
        adapter=f"{_ONNX}:OnnxRuntimeGRU",
        document="ONNX GRU operator",
        description="ONNX GRU, linear_before_reset=1, forward/bidirectional, ONNX Runtime CPU",
    ),
    Entry(
        id="onnxruntime-gru-lbr0",
        adapter=f"{_ONNX}:OnnxRuntimeGRUResetBefore",
        document="ONNX GRU operator",
        description="ONNX GRU, linear_before_reset=0 (reset before), ONNX Runtime CPU",
    ),
    Entry(
        id="onnxruntime-gru-reverse",
        adapter=f"{_ONNX}:OnnxRuntimeGRUReverse",
        document="ONNX GRU operator",
        description="ONNX GRU, linear_before_reset=1, direction=reverse on the flipped sequence, ONNX Runtime",
    ),
    Entry(
        id="onnxruntime-gru-lbr0-reverse",
        adapter=f"{_ONNX}:OnnxRuntimeGRUResetBeforeReverse",
        document="ONNX GRU operator",
        description="ONNX GRU, linear_before_reset=0, direction=reverse on the flipped sequence, ONNX Runtime",
    ),
    Entry(
        id="onnxruntime-gru-seqlens",
        adapter=f"{_ONNX}:OnnxRuntimeGRUSequenceLens",
        document="ONNX GRU operator",
        description="ONNX GRU, linear_before_reset=1, with sequence_lens, ONNX Runtime CPU",
    ),
    Entry(
        id="onnxruntime-gru-lbr0-seqlens",
        adapter=f"{_ONNX}:OnnxRuntimeGRUResetBeforeSequenceLens",
        document="ONNX GRU operator",
        description="ONNX GRU, linear_before_reset=0, with sequence_lens, ONNX Runtime CPU",
    ),
    Entry(
        id="torch-onnx-export-torchscript",
        adapter=f"{_EXPORT}:TorchOnnxExportTorchScript",
        document="torch.onnx.export",
        description="nn.GRU exported by torch.onnx.export(dynamo=False), run in ONNX Runtime",
    ),
    Entry(
        id="torch-onnx-export-dynamo",
        adapter=f"{_EXPORT}:TorchOnnxExportDynamo",
        document="torch.onnx.export",
        description="nn.GRU exported by torch.onnx.export(dynamo=True), torch's default, run in ONNX Runtime",
    ),
]
