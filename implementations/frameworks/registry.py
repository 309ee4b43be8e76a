"""Other frameworks' GRUs, by id, and the lanes that grade them. Names only:
importing this imports no framework.

``conformance.grading.loading`` resolves these ids like the main registry's, but they
are not part of ``--all``: each needs its lane's extra installed. A **lane** is one
environment (``tox -e frameworks-<lane>``, extra ``[<lane's extra>]``): frameworks
whose dependencies conflict get lanes of their own. ``python -m conformance.commands.frameworks_grade
--lane <lane>`` grades a lane's ids; ``tox -e frameworks`` runs every lane.

``expected_failures`` are findings: where a framework departs from what it
documents (check id -> what was found); the self-tests (tests/passes_correct/test_frameworks.py)
pin each one with its counterexample, so a release that changes the behaviour is
noticed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from conformance.base.registry_entry import Entry

_PACKAGE = "conformance.implementations.frameworks"
_ONNX = f"{_PACKAGE}.onnx_gru"
_EXPORT = f"{_PACKAGE}.torch_onnx"
_KERAS_TORCH = f"{_PACKAGE}.keras_torch"
_KERAS_NUMPY = f"{_PACKAGE}.keras_numpy"
_KERAS_JAX = f"{_PACKAGE}.keras_jax"
_KERAS_JAX_X64 = f"{_PACKAGE}.keras_jax_x64"
_FLAX = f"{_PACKAGE}.flax_gru"
_HAIKU = f"{_PACKAGE}.haiku_gru"
_EQUINOX = f"{_PACKAGE}.equinox_gru"
_MLX = f"{_PACKAGE}.mlx_gru"
_KERAS_TF = f"{_PACKAGE}.keras_tensorflow"
_TF_KERAS = f"{_PACKAGE}.tf_keras_gru"
_TFLITE = f"{_PACKAGE}.tflite_gru"
_OPENVINO = f"{_PACKAGE}.openvino_gru"
_OPENVINO_CONVERT = f"{_PACKAGE}.openvino_convert"
_KERAS_OPENVINO = f"{_PACKAGE}.keras_openvino"
_PADDLE = f"{_PACKAGE}.paddle_gru"
_MINDSPORE = f"{_PACKAGE}.mindspore_gru"


@dataclass(frozen=True)
class Lane:
    """One grading environment: ``tox -e frameworks-<name>``, installing extra ``extra``."""

    name: str
    extra: str
    description: str
    #: Adapter modules graded in this lane (each in exactly one lane).
    modules: tuple[str, ...]
    #: Distributions whose versions the lane reports; the first ones' import names
    #: (``imports``) decide whether the lane's framework is installed here at all.
    distributions: tuple[str, ...]
    imports: tuple[str, ...]
    #: Not run by ``tox -e frameworks`` unless asked (``--with-optional``): heavy installs.
    optional: bool = False

    @property
    def tox_env(self) -> str:
        return f"frameworks-{self.name}"


LANES: dict[str, Lane] = {lane.name: lane for lane in [
    Lane("keras", "keras", "Keras 3 on the torch backend", (_KERAS_TORCH,), ("keras",), ("keras",)),
    Lane("onnx", "onnx", "the ONNX GRU operator (onnx.reference, ONNX Runtime) and torch.onnx.export",
         (_ONNX, _EXPORT), ("onnx", "onnxruntime", "onnxscript"), ("onnx", "onnxruntime")),
    Lane("jax", "jax", "Flax, dm-haiku, Equinox, Keras 3 on the jax and numpy backends (JAX CPU)",
         (_FLAX, _HAIKU, _EQUINOX, _KERAS_JAX, _KERAS_JAX_X64, _KERAS_NUMPY),
         ("jax", "jaxlib", "flax", "dm-haiku", "equinox", "keras"), ("jax", "flax", "haiku", "equinox", "keras")),
    Lane("tensorflow", "tensorflow", "Keras 3 on the TensorFlow backend, tf-keras (Keras 2) and TFLite",
         (_KERAS_TF, _TF_KERAS, _TFLITE), ("tensorflow", "tf-keras", "keras"), ("tensorflow", "tf_keras")),
    Lane("openvino", "openvino", "OpenVINO GRUSequence and GRUCell, its ONNX and PyTorch frontends, "
         "Keras 3 on the openvino backend", (_OPENVINO, _OPENVINO_CONVERT, _KERAS_OPENVINO),
         ("openvino", "keras", "onnx", "onnxscript"), ("openvino", "keras", "onnx")),
    Lane("paddle", "paddle", "PaddlePaddle nn.GRU, RNN(GRUCell), BiRNN and GRUCell", (_PADDLE,),
         ("paddlepaddle",), ("paddle",)),
    Lane("mlx", "mlx", "MLX (CPU build)", (_MLX,), ("mlx", "mlx-cpu"), ("mlx.core",)),
    Lane("mindspore", "mindspore", "MindSpore nn.GRU (CPU; about 2.5 GB, numpy < 2)", (_MINDSPORE,),
         ("mindspore",), ("mindspore",), optional=True),
]}

#: The extra that installs what each module needs.
EXTRAS: dict[str, str] = {module: lane.extra for lane in LANES.values() for module in lane.modules}
#: The lane of each module.
MODULE_LANE: dict[str, str] = {module: lane.name for lane in LANES.values() for module in lane.modules}

#: Options of the slow entries: the quick profile on the key checks, without the diagnosis
#: (its probes would convert the model dozens of times more).
_KEY = ["--profile", "quick", "--no-diagnosis", "-k"]
#: What the slow entries are graded on: the oracle comparisons (every direction, layout
#: and h0), shapes, dtypes, final states and precision: every check a finding so far is in.
KEY_CHECKS = ("step_matches_oracle or sequence_matches_oracle or output_shapes or dtype_preserved or "
              "final_state or reverse_is_flipped or against_oracle")

#: Converted models (one conversion per instance and shape): the oracle comparisons, the
#: shapes and the final states, every direction, layout and h0 (float32 only: the step
#: check holds them to the float32 tolerance).
CONVERTER_CHECKS = "step_matches_oracle or sequence_matches_oracle or output_shapes or final_state"

#: Grading options for entries too slow for every check at the default profile, used by
#: ``python -m conformance.commands.frameworks_grade`` (a plain ``conformance grade <id>`` runs all).
#: The dynamo exporter takes about 3 s per export and fixes T (nn.GRU's fake-tensor
#: kernel is a decomposition that loops over time steps), so it is exported once per
#: configuration and length: graded on the two oracle comparisons (every layer count,
#: direction, layout and h0) and the shapes, 8 examples each.
SLOW_GRADING: dict[str, list[str]] = {
    "torch-onnx-export-dynamo": [
        "--profile", "quick", "-k", "step_matches_oracle or sequence_matches_oracle or output_shapes",
    ],
    # Keras on jax runs its generic RNN loop through jax op by op, compiling for each new
    # shape: 120-160 s an id on every check.
    **{f"keras-{backend}-gru-reset-{placement}": [*_KEY, KEY_CHECKS]
       for backend in ("jax", "jax-x64") for placement in ("after", "before")},
    # Keras on openvino builds and compiles an OpenVINO graph op by op.
    **{f"keras-openvino{how}-gru-reset-{placement}": [*_KEY, KEY_CHECKS]
       for how in ("", "-predict") for placement in ("after", "before")},
    # One TFLite conversion per instance and input shape (0.4-1.4 s).
    **{impl_id: [*_KEY, CONVERTER_CHECKS]
       for impl_id in ("tflite-keras-gru-reset-after", "tflite-keras-gru-reset-before", "tflite-keras-gru-loop")},
    # openvino.convert_model takes 1.5-3 s per instance.
    "torch-openvino-convert-model-f32": [*_KEY, CONVERTER_CHECKS],
}


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512_BF16 or AMX), where OpenVINO's CPU
    plugin defaults to bf16 inference precision (read from /proc/cpuinfo: Linux only;
    elsewhere False, the plugin's f32 default)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) is not None


#: Keras on openvino: float64 layers compute at float32 accuracy (eager, f32 hint) or at the
#: plugin's default precision (predict), and some float64 calls return float32 arrays.
_KERAS_OPENVINO_DTYPE = {
    "contract.dtype": "a float64 layer returns a float32 output for some inputs (one step; bidirectional)",
}
_KERAS_OPENVINO_EAGER = _KERAS_OPENVINO_DTYPE | {
    "equations.step": "float64 computed at float32 accuracy (convert_to_numpy compiles with the f32 hint; "
    "the CPU plugin has no f64): error about 2.5e-8, above the float64 tolerance",
    "precision.float64": "float64 in, float64 out, float32 accuracy (float32 is exact)",
}
_KERAS_OPENVINO_PREDICT = _KERAS_OPENVINO_DTYPE | {
    "equations.step": "Model.predict compiles with the CPU plugin's default inference precision: bf16 on "
    "CPUs with native bf16 (error about 5e-5 to 4e-4 on one step), f32 elsewhere, never f64",
    "precision.float64": "float64 in, float64 out, computed at the plugin's default precision",
}
#: OpenVINO's CPU plugin runs GRUSequence as if every sample had the full length.
_OPENVINO_IGNORES_LENGTHS = {
    "varlen.padding-zero": "the CPU plugin ignores GRUSequence's sequence_lengths input: outputs past a "
    "sample's length are not 0",
    "varlen.final-state": "sequence_lengths ignored: Ho is the state after all T steps, not after the sample's last",
    "varlen.reverse-start": "sequence_lengths ignored: the reverse direction starts at T - 1, "
    "not at the sample's last step",
}
#: OpenVINO's CPU plugin computes in bf16 by default on such CPUs, whatever the model's type.
_OPENVINO_BF16 = {
    "equations.step": "the CPU plugin's default inference precision is bf16 on this CPU (native bf16): "
    "a float32 model computes at bf16 accuracy, error about 2e-3, with no warning",
    "precision.float32": "float32 in and out at bf16 accuracy (INFERENCE_PRECISION_HINT defaults to bf16; "
    "the -f32 id sets it to f32 and passes)",
} if cpu_has_native_bf16() else {}

#: Keras' float64 off TensorFlow: its matmul casts float64 to float32.
_KERAS_FLOAT64 = {
    "equations.step": "a float64 layer computes its matmuls in float32 (keras.ops.matmul casts "
    "float64 to result_type(float64, float64) = float32 off TensorFlow): error about 1e-8, "
    "above the float64 tolerance",
    "precision.float64": "float64 in, float64 out, float32 accuracy: a precision loss, "
    "not wrong equations (float32 passes)",
}
#: The same float32 arithmetic, seen by a self-consistency check: rounding that depends on the batch.
_KERAS_FLOAT64_BATCH = "a sample's float64 output alone and inside a batch differ by about {} (float32 arithmetic, " \
    "whose rounding depends on the batch), above the float64 self-consistency tolerance"
#: The numpy backend is graded on every check: its float32 arithmetic in float64 layers shows once more.
_KERAS_NUMPY_FLOAT64 = {"sequence.batch-independence": _KERAS_FLOAT64_BATCH.format("6e-8")}
#: JAX with 64-bit mode off (its default) makes every array float32.
_JAX_32_BIT = {
    "contract.dtype": "a float64 layer returns float32 arrays: JAX's 64-bit mode is off (its default), "
    "and Keras' dtype='float64' does not turn it on",
}

FRAMEWORKS: list[Entry] = [
    Entry(
        id="keras-torch-gru-reset-after",
        adapter=f"{_KERAS_TORCH}:KerasTorchGRUResetAfter",
        document="Keras 3 keras.layers.GRU",
        description="keras.layers.GRU(reset_after=True), torch backend: claims the PyTorch equations",
    ),
    Entry(
        id="keras-torch-gru-reset-before",
        adapter=f"{_KERAS_TORCH}:KerasTorchGRUResetBefore",
        document="Keras 3 keras.layers.GRU",
        description="keras.layers.GRU(reset_after=False), torch backend: claims reset-before",
        expected_failures=_KERAS_FLOAT64 | {"sequence.sizes": _KERAS_FLOAT64_BATCH.format("5e-9")},
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
    Entry(
        id="haiku-gru",
        adapter=f"{_HAIKU}:HaikuGRU",
        document="dm-haiku hk.GRU",
        description="hk.GRU (reset before, complement update: claimed as such), JAX CPU",
    ),
    Entry(
        id="equinox-grucell",
        adapter=f"{_EQUINOX}:EquinoxGRUCell",
        document="Equinox eqx.nn.GRUCell",
        description="eqx.nn.GRUCell vmapped over the batch, JAX CPU, unrolled by the suite",
    ),
    *[Entry(
        id=f"keras-{backend}-gru-reset-{placement}",
        adapter=f"{module}:Keras{cls}GRUReset{placement.title()}",
        document="Keras 3 keras.layers.GRU",
        description=f"keras.layers.GRU(reset_after={placement == 'after'}), {how}",
        expected_failures=_KERAS_FLOAT64 | {"jax": _JAX_32_BIT, "numpy": _KERAS_NUMPY_FLOAT64}.get(backend, {}),
    ) for backend, module, cls, how in [
        ("jax", _KERAS_JAX, "Jax", "jax backend, JAX 64-bit mode off (its default)"),
        ("jax-x64", _KERAS_JAX_X64, "JaxX64", "jax backend, JAX 64-bit mode on"),
        ("numpy", _KERAS_NUMPY, "Numpy", "numpy backend"),
    ] for placement in ("after", "before")],
    Entry(
        id="mlx-gru",
        adapter=f"{_MLX}:MlxGRU",
        document="MLX mlx.nn.GRU",
        description="mlx.nn.GRU on the CPU (mlx[cpu]), batch-major, one layer and direction",
        expected_failures={
            "equations.step": "float64 arrays, float32-accurate results: MLX's float64 exp and sigmoid "
            "are float32 approximations (mlx#3047), error about 2e-8 above the float64 tolerance",
            "precision.float64": "float64 in and out at float32 accuracy (float32 passes)",
        },
    ),
    *[Entry(
        id=f"keras-tensorflow-gru-reset-{placement}",
        adapter=f"{_KERAS_TF}:KerasTensorFlowGRUReset{placement.title()}",
        document="Keras 3 keras.layers.GRU",
        description=f"keras.layers.GRU(reset_after={placement == 'after'}), TensorFlow backend",
    ) for placement in ("after", "before")],
    *[Entry(
        id=f"tf-keras-gru-reset-{placement}",
        adapter=f"{_TF_KERAS}:TfKerasGRUReset{placement.title()}",
        document="tf-keras (Keras 2) tf_keras.layers.GRU",
        description=f"tf_keras.layers.GRU(reset_after={placement == 'after'}), TensorFlow",
    ) for placement in ("after", "before")],
    *[Entry(
        id=f"tflite-keras-gru-reset-{placement}",
        adapter=f"{_TFLITE}:TfliteKerasGRUReset{placement.title()}",
        document="TFLite converter (tf.lite.TFLiteConverter)",
        description=f"keras.layers.GRU(reset_after={placement == 'after'}, unroll=True) converted to "
        "TFLite, run by tf.lite.Interpreter",
    ) for placement in ("after", "before")],
    Entry(
        id="tflite-keras-gru-loop",
        adapter=f"{_TFLITE}:TfliteKerasGRULoop",
        document="TFLite converter (tf.lite.TFLiteConverter)",
        description="keras.layers.GRU(reset_after=True, unroll=False) converted to TFLite (WHILE op), "
        "run by tf.lite.Interpreter",
    ),
    Entry(
        id="openvino-grusequence",
        adapter=f"{_OPENVINO}:OpenVinoGRUSequence",
        document="OpenVINO GRUSequence-5 operation",
        description="GRUSequence (linear_before_reset=true), CPU plugin, default inference precision",
        expected_failures=_OPENVINO_BF16 | _OPENVINO_IGNORES_LENGTHS,
    ),
    Entry(
        id="openvino-grusequence-f32",
        adapter=f"{_OPENVINO}:OpenVinoGRUSequenceF32",
        document="OpenVINO GRUSequence-5 operation",
        description="GRUSequence (linear_before_reset=true), CPU plugin, INFERENCE_PRECISION_HINT=f32",
        expected_failures=_OPENVINO_IGNORES_LENGTHS,
    ),
    Entry(
        id="openvino-grusequence-lbr0-f32",
        adapter=f"{_OPENVINO}:OpenVinoGRUSequenceResetBeforeF32",
        document="OpenVINO GRUSequence-5 operation",
        description="GRUSequence (linear_before_reset=false: reset before), CPU plugin, INFERENCE_PRECISION_HINT=f32",
        expected_failures=_OPENVINO_IGNORES_LENGTHS,
    ),
    Entry(
        id="openvino-grucell",
        adapter=f"{_OPENVINO}:OpenVinoGRUCell",
        document="OpenVINO GRUCell-3 operation",
        description="GRUCell (linear_before_reset=true), CPU plugin, default inference precision, unrolled by the suite",
        expected_failures=_OPENVINO_BF16,
    ),
    Entry(
        id="openvino-grucell-f32",
        adapter=f"{_OPENVINO}:OpenVinoGRUCellF32",
        document="OpenVINO GRUCell-3 operation",
        description="GRUCell (linear_before_reset=true), CPU plugin, INFERENCE_PRECISION_HINT=f32",
    ),
    Entry(
        id="openvino-onnx-gru-f32",
        adapter=f"{_OPENVINO_CONVERT}:OpenVinoOnnxGRU",
        document="OpenVINO ONNX frontend",
        description="an ONNX GRU node (linear_before_reset=1) read by OpenVINO's ONNX frontend, f32",
    ),
    Entry(
        id="torch-onnx-openvino-f32",
        adapter=f"{_OPENVINO_CONVERT}:TorchOnnxOpenVino",
        document="torch.onnx.export -> OpenVINO ONNX frontend",
        description="nn.GRU -> torch.onnx.export(dynamo=False) -> OpenVINO, f32",
    ),
    Entry(
        id="torch-openvino-convert-model-f32",
        adapter=f"{_OPENVINO_CONVERT}:TorchOpenVinoConvertModel",
        document="openvino.convert_model (PyTorch frontend)",
        description="nn.GRU -> openvino.convert_model -> CPU plugin, f32",
    ),
    *[Entry(
        id=f"keras-openvino{how}-gru-reset-{placement}",
        adapter=f"{_KERAS_OPENVINO}:KerasOpenVino{cls}GRUReset{placement.title()}",
        document="Keras 3 keras.layers.GRU",
        description=f"keras.layers.GRU(reset_after={placement == 'after'}), openvino backend, {what}",
        expected_failures=expected,
    ) for how, cls, what, expected in [
        ("", "", "called eagerly (convert_to_numpy compiles with the f32 hint)", _KERAS_OPENVINO_EAGER),
        ("-predict", "Predict", "keras.Model.predict (the CPU plugin's default precision)", _KERAS_OPENVINO_PREDICT),
    ] for placement in ("after", "before")],
    Entry(
        id="paddle-gru",
        adapter=f"{_PADDLE}:PaddleGRU",
        document="PaddlePaddle paddle.nn.GRU",
        description="paddle.nn.GRU (fused kernel), CPU, batch- or time-major, sequence_length",
    ),
    Entry(
        id="paddle-rnn-grucell",
        adapter=f"{_PADDLE}:PaddleRNNGRUCell",
        document="PaddlePaddle paddle.nn.RNN / BiRNN",
        description="paddle.nn.RNN(GRUCell), BiRNN(GRUCell, GRUCell) when bidirectional, CPU, sequence_length",
        expected_failures={
            "varlen.padding-zero": "with sequence_length, RNN's outputs past a sample's length are the cell's "
            "outputs on the padding (its state is held, its output not masked); Paddle's nn.GRU gives 0 there, "
            "as nn.GRU does",
        },
    ),
    Entry(
        id="paddle-grucell",
        adapter=f"{_PADDLE}:PaddleGRUCell",
        document="PaddlePaddle paddle.nn.GRUCell",
        description="paddle.nn.GRUCell, CPU, unrolled by the suite",
    ),
    Entry(
        id="mindspore-gru",
        adapter=f"{_MINDSPORE}:MindSporeGRU",
        document="MindSpore mindspore.nn.GRU",
        description="mindspore.nn.GRU, CPU, PyNative mode, float32 and float16, seq_length",
    ),
]
