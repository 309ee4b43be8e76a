"""Tolerances, stated once, per dtype and per kind of comparison.

Every |h_t| < 1 (a GRU step is a convex mix of h and a tanh), so absolute
error is the meaningful measure; a small relative term covers values near 1.

* ``step``: one step from the oracle's own previous state (teacher forcing).
  The tight bound: measured float32 error against the float64 oracle is about
  3e-7 at the generated weight scales.
* ``sequence``: a whole sequence compared with the oracle or ``nn.GRU``; error
  can accumulate over steps, so the bound is looser (generated sequences are
  short and weights stay near the default init scale, where error does not grow).
* ``self``: an implementation compared with itself by another route (stepwise
  against full sequence, a sample alone against it inside a batch). Different
  but correct summation orders differ by rounding only.
* ``grad``: gradients of the generated loss (``conformance.model.reference_autograd``)
  against the float64 oracle's; they reach about 6.5 in magnitude at the
  generated sizes, so the relative term matters more than for states.
* ``device``: a non-CPU device against the oracle, or against the CPU run.
* ``sizes`` and ``grad-sizes``: the size sweep's whole sequences and input gradients
  (``conformance.cases.sizes``: one of T, B, I and H at a small or a production size, up to
  1031 and 2053 steps, or a shape of several large axes). A wide input or hidden layer
  sums more rounded terms per pre-activation, so low precisions err more there than at
  the generated sizes: measured with ``python -m conformance.grading.error_bands --sizes
  --cases 100 --impl torch-gru --impl doc004-cell``.

The float16, bfloat16 and gradient rows come from measured error bands:
``python -m conformance.grading.error_bands --cases 400 --impl torch-gru --impl
torch-grucell --impl doc004-cell`` (the generated sizes: T 1-6, B 1-4, I and H
1-5, 1-3 layers, both directions, weights at the default init scale), and
``--steps 50`` / ``--steps 300`` for long sequences. Each bound is about twice
the largest error measured, and stays below the errors of the bugs it must
catch (a float16 computed in bfloat16 errs by 1.2e-3 to 9e-3, median 4.4e-3;
equation bugs by 0.02 to 0.7).

A coarser precision can be claimed for float32 inputs (``Capabilities.precision``):
``"int8-dynamic"``, int8 weights with activations quantized per call from their own range
(``torch.ao.nn.quantized.dynamic``). Its float32 comparisons use the rows of that name,
measured on such a GRU (``tests/passes_correct/quantized.py``): ``python -m conformance.grading.error_bands --self
--cases 200 --impl tests/passes_correct/quantized.py:Int8DynamicGRU``, with ``--sizes --cases 100`` and
``--steps 300 --cases 40``. Quantization noise that large hides the smaller equation bugs
(those below about 0.1): the claim says what is promised, and is graded against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float

    def bound(self, want: np.ndarray) -> np.ndarray:
        return self.atol + self.rtol * np.abs(want)

    def __str__(self) -> str:
        return f"atol {self.atol:.1e} + rtol {self.rtol:.1e}*|want|"

    def to_json(self) -> dict[str, float]:
        return {"atol": self.atol, "rtol": self.rtol}


TOLERANCES: dict[str, dict[str, Tolerance]] = {
    "float64": {
        "step": Tolerance(1e-10, 1e-10),
        "sequence": Tolerance(1e-9, 1e-9),
        "self": Tolerance(1e-10, 1e-10),
        # Measured gradient error: max 1.8e-15 (1200 cases); kept at the sequence bound.
        "grad": Tolerance(1e-9, 1e-9),
        # Not measured here (no GPU): float64 kernels have no reduced-precision mode on
        # CUDA, so the CPU sequence bound applies.
        "device": Tolerance(1e-9, 1e-9),
        # Size sweep: sequence max 1.0e-14, input gradients max 7.7e-13; the bounds above hold.
        "sizes": Tolerance(1e-9, 1e-9),
        "grad-sizes": Tolerance(1e-9, 1e-9),
    },
    "float32": {
        "step": Tolerance(1e-5, 1.3e-6),
        "sequence": Tolerance(5e-5, 1e-5),
        "self": Tolerance(1e-5, 1.3e-6),
        # Measured gradient error: median 1.7e-7, p99 6.2e-7, max 1.0e-6 (|gradient| up to 6.5).
        "grad": Tolerance(5e-6, 1.3e-6),
        # Not measured here (no GPU): cuDNN may run float32 GRUs in TF32, about 5e-3
        # from float32 on CPU (BRIEF section 4).
        "device": Tolerance(5e-3, 1.3e-6),
        # Size sweep: sequence p99 2.5e-6, max 3.7e-6: the sequence bound holds.
        "sizes": Tolerance(5e-5, 1e-5),
        # Size sweep input gradients: at most 0.07 of this bound (max 1.2e-6; |gradient| grows
        # with T and I).
        "grad-sizes": Tolerance(1.5e-5, 1.3e-6),
    },
    "float16": {
        # Measured (nn.GRU and nn.GRUCell, 400 cases each): step median 5.2e-4, p99 1.1e-3,
        # max 1.6e-3; at T = 50 and T = 300 max 1.3e-3 and 1.4e-3: no growth with T at this
        # scale. Cells of nn.Linear pieces (doc004's, doc001's AI-summer cell) stay below 1.3e-3.
        "step": Tolerance(3e-3, 1e-3),
        # Measured: sequence median 5.1e-4, p99 1.3e-3, max 1.6e-3 (T = 300: max 1.4e-3).
        # At 3x the weight scale it reaches 1.1e-2: generated weights stay at 1x.
        "sequence": Tolerance(3.5e-3, 1e-3),
        # Two float16 routes each err by up to 1.6e-3.
        "self": Tolerance(3.5e-3, 1e-3),
        # Size sweep: sequence p50 1.2e-3, p99 4.7e-3, max 6.3e-3 (inputs and hidden layers of
        # up to 1031 units).
        "sizes": Tolerance(1.2e-2, 1e-3),
    },
    "bfloat16": {
        # Measured (as float16): step median 4.2e-3, p99 8.2e-3, max 9.8e-3 (T = 300: 1.2e-2).
        "step": Tolerance(2e-2, 8e-3),
        # Measured: sequence median 4.2e-3, p99 9.5e-3, max 1.2e-2 (T = 50: 1.3e-2; T = 300,
        # 40 cases of nn.GRU: max 1.33e-2, the long sequences of precision.long-sequence).
        # At 3x the weight scale it reaches 6e-2: generated weights stay at 1x.
        "sequence": Tolerance(2.5e-2, 8e-3),
        "self": Tolerance(2.5e-2, 8e-3),
        # Size sweep: sequence p50 1.0e-2, p99 3.2e-2, max 3.5e-2.
        "sizes": Tolerance(6e-2, 8e-3),
    },
}


#: Coarser arithmetic an implementation can claim for float32 inputs (``Capabilities.precision``).
PRECISIONS: dict[str, dict[str, Tolerance]] = {
    "int8-dynamic": {
        # Measured (tests/passes_correct/quantized.py, 200 cases): step p50 4.8e-3, p99 1.9e-2, max 2.0e-2;
        # T = 300 (40 cases): max 2.2e-2.
        "step": Tolerance(5e-2, 0.0),
        # Measured: sequence p50 5.2e-3, p99 1.9e-2, max 2.7e-2; T = 300: p99 4.5e-2, max 4.7e-2.
        "sequence": Tolerance(1e-1, 0.0),
        # Measured: a sample alone against the batch, a split sequence against the whole (the
        # activations' quantization range is the call's own): p99 1.9e-2, max 3.0e-2.
        "self": Tolerance(6e-2, 0.0),
        # Size sweep with production sizes (python -m conformance.grading.error_bands --sizes --self
        # --impl tests/passes_correct/quantized.py:Int8DynamicGRU --dtype float32 --cases 100): step p99 2.4e-1,
        # sequence p50 2.9e-2, p99 2.6e-1, max 2.7e-1; against itself max 3.1e-1. The error grows
        # with the width of the matmuls (I or H past 1024: activations quantized per tensor).
        "sizes": Tolerance(4e-1, 0.0),
        "device": Tolerance(1e-1, 0.0),
    },
}


def tolerance(dtype: str, kind: str, precision: str = "") -> Tolerance:
    """The tolerance for comparisons of ``kind`` in ``dtype`` (e.g. "float32", "step");
    ``precision``, a coarser arithmetic claimed for float32 inputs, replaces float32's."""
    if precision and dtype == "float32":
        return PRECISIONS[precision][kind]
    return TOLERANCES[dtype][kind]


def tolerances_json() -> dict[str, dict[str, dict[str, float]]]:
    rows = {**TOLERANCES, **PRECISIONS}
    return {d: {k: t.to_json() for k, t in kinds.items()} for d, kinds in rows.items()}
