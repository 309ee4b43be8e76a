"""Generated cases: a small, printable spec and the arrays it stands for.

Hypothesis draws a ``CaseSpec`` (sizes, layout, dtype and a seed) rather than
raw arrays: the spec shrinks well, prints as one line, and rebuilds exactly the
same weights, inputs and h0 anywhere, which is what a reproduction needs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import torch

from conformance.model.contract import GRUConfig
from conformance.model.oracle import OracleRun, gru_forward
from conformance.base.params import CanonicalParams, random_params

DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@dataclass(frozen=True)
class CaseSpec:
    """Everything needed to rebuild one generated case."""

    steps: int
    batch: int
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    dtype: str = "float32"
    seed: int = 0
    #: Multiplies the default-init weight scale 1/sqrt(H).
    weight_scale: float = 1.0
    #: Standard deviation of the inputs.
    input_scale: float = 1.0
    #: Start from a random h0 in [-1, 1] (True) or from no h0 at all (False).
    with_h0: bool = True
    #: Where the implementation is built and run ("cpu", "cuda", "mps").
    device: str = "cpu"
    #: Built with bias tensors (nn.GRU's ``bias``); without, the canonical parameters have none.
    bias: bool = True
    #: nn.GRU's ``dropout`` the instance is built with (inactive in eval mode).
    dropout: float = 0.0
    #: One initial state for every layer and direction: h0's slots are all equal (for
    #: implementations claiming ``h0_shared``).
    h0_shared: bool = False

    def __repr__(self) -> str:
        defaults = CaseSpec(0, 0, 0, 0)
        parts = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if f.name in ("steps", "batch", "input_size", "hidden_size")
            or getattr(self, f.name) != getattr(defaults, f.name)
        ]
        return f"CaseSpec({', '.join(parts)})"

    def _repr_pretty_(self, printer, cycle) -> None:  # hypothesis prints counterexamples with this
        printer.text(repr(self))

    def to_json(self) -> dict:
        return asdict(self)

    def with_(self, **changes) -> "CaseSpec":
        return replace(self, **changes)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def config(self) -> GRUConfig:
        return GRUConfig(
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            batch_first=self.batch_first,
            dtype=self.torch_dtype,
            device=self.device,
            bias=self.bias,
            dropout=self.dropout,
        )

    def materialize(self) -> "Case":
        return Case(self)


class Case:
    """The arrays of a spec: canonical parameters, time-major input and h0, all float64."""

    def __init__(self, spec: CaseSpec) -> None:
        self.spec = spec
        rng = np.random.default_rng(spec.seed)
        self.params: CanonicalParams = random_params(
            rng,
            spec.input_size,
            spec.hidden_size,
            spec.num_layers,
            spec.bidirectional,
            bias=spec.bias,
            scale=spec.weight_scale,
        )
        self.x = rng.normal(0.0, spec.input_scale, (spec.steps, spec.batch, spec.input_size))
        h0_shape = (spec.num_layers * spec.num_directions, spec.batch, spec.hidden_size)
        h0 = rng.uniform(-1.0, 1.0, h0_shape)  # drawn always, so x and params do not depend on with_h0
        if spec.h0_shared:
            h0 = np.broadcast_to(h0[:1], h0_shape).copy()
        self.h0: np.ndarray | None = h0 if spec.with_h0 else None
        self._oracle_runs: dict[str, OracleRun] = {}

    def __repr__(self) -> str:
        return f"Case({self.spec!r})"

    @property
    def config(self) -> GRUConfig:
        return self.spec.config()

    def oracle(self, reset: str = "after") -> OracleRun:
        """The oracle's run of this case for the given reset placement (computed once)."""
        if reset not in self._oracle_runs:
            self._oracle_runs[reset] = gru_forward(self.x, self.params, self.h0, reset=reset)  # type: ignore[arg-type]
        return self._oracle_runs[reset]
