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
    },
    "float32": {
        "step": Tolerance(1e-5, 1.3e-6),
        "sequence": Tolerance(5e-5, 1e-5),
        "self": Tolerance(1e-5, 1.3e-6),
    },
}


def tolerance(dtype: str, kind: str) -> Tolerance:
    """The tolerance for comparisons of ``kind`` in ``dtype`` (e.g. "float32", "step")."""
    return TOLERANCES[dtype][kind]


def tolerances_json() -> dict[str, dict[str, dict[str, float]]]:
    return {d: {k: t.to_json() for k, t in kinds.items()} for d, kinds in TOLERANCES.items()}
