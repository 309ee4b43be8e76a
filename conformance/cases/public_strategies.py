"""Hypothesis strategies for your own tests: the suite's generated GRU cases, and its size sweep.

Each case is out of the constant-weight blind spot (random weights per gate, a non-zero b_hn,
a non-uniform h0, input size drawn apart from hidden size, batches up to 4, T of 1 and more:
the draws of ``conformance.cases.strategies`` and ``conformance.cases.generated``), carries the oracle's
expected ``(output, h_n)`` in the layout it was drawn in, and prints as one line that rebuilds
it (``GeneratedCase.from_spec``)::

    from hypothesis import given
    from conformance import gru_cases, size_sweep_cases

    @given(gru_cases(batch_first=True))
    def test_my_gru(case):
        output, h_n = my_gru(case.x, case.params, case.h0)     # your GRU, your call form
        np.testing.assert_allclose(output, case.expected.output, atol=1e-5, rtol=1.3e-6)

    @given(size_sweep_cases())                                  # one of T, B, I, H up to 131
    def test_my_kernel_past_its_tiles(case): ...
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conformance.cases.generated import CaseSpec
from conformance.base.conventions import RESETS, UPDATES
from conformance.base.params import CanonicalParams
from conformance.model.public_oracle import GRUResult, gru
from conformance.cases.sizes import AXES, SMALL_SIZES, SWEEP_LAYERS
from conformance.cases.strategies import MAX_BATCH, MAX_LAYERS, MAX_SIZE, MAX_STEPS, case_specs, sequence_lengths

__all__ = ["GeneratedCase", "gru_cases", "size_sweep_cases"]


@dataclass(frozen=True)
class GeneratedCase:
    """One drawn case: float64 parameters (``nn.GRU``'s names, gate order r, z, n), input and
    h0, in the layout drawn, and the oracle's result for them in the convention asked."""

    spec: CaseSpec
    params: CanonicalParams
    #: (T, B, I), or (B, T, I) when ``batch_first``.
    x: np.ndarray
    #: (L*D, B, H) whatever the layout, or None (start from zeros).
    h0: np.ndarray | None
    #: Per-sample lengths (a padded batch), or None.
    lengths: list[int] | None
    reset: str = "after"
    update: str = "pytorch"

    @property
    def batch_first(self) -> bool:
        return self.spec.batch_first

    @property
    def expected(self) -> GRUResult:
        """``conformance.gru`` on this case: ``(output, h_n)`` in the case's layout."""
        return gru(self.x, self.params, self.h0, reset=self.reset, update=self.update,  # type: ignore[arg-type]
                   batch_first=self.batch_first, lengths=self.lengths)

    @classmethod
    def from_spec(cls, spec: CaseSpec, lengths: list[int] | None = None, reset: str = "after",
                  update: str = "pytorch") -> "GeneratedCase":
        """The case a spec stands for (what a printed failing example rebuilds)."""
        case = spec.materialize()
        x = case.x.swapaxes(0, 1).copy() if spec.batch_first else case.x
        return cls(spec, case.params, x, case.h0, lengths, reset, update)

    def __repr__(self) -> str:
        extra = "".join(f", {name}={value!r}" for name, value in
                        (("lengths", self.lengths), ("reset", self.reset), ("update", self.update))
                        if value not in (None, "after", "pytorch"))
        return f"GeneratedCase.from_spec({self.spec!r}{extra})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis prints examples with this
        printer.text(repr(self))


@dataclass(frozen=True)
class _Claims:
    """What the drawn cases may use, in the form ``conformance.cases.strategies.case_specs`` reads
    an implementation's claims."""

    directions_: tuple[bool, ...]
    layouts_: tuple[bool, ...]
    dtypes_: tuple[str, ...]
    multi_layer: bool
    h0: bool
    bias: bool
    is_cell: bool = False

    @property
    def capabilities(self) -> SimpleNamespace:
        return SimpleNamespace(multi_layer=self.multi_layer, h0=self.h0, bias_free=False, biases=self.bias,
                               h0_shared=False)

    def directions(self) -> list[bool]:
        return list(self.directions_)

    def layouts(self) -> list[bool]:
        return list(self.layouts_)

    def dtypes(self, allowed: tuple[str, ...] = ()) -> list[str]:
        return [d for d in self.dtypes_ if d in allowed]


def _choices(value: bool | None) -> tuple[bool, ...]:
    return (False, True) if value is None else (value,)


def _check_convention(reset: str, update: str) -> None:
    if reset not in RESETS or update not in UPDATES:
        raise ValueError(f"got reset={reset!r}, update={update!r}, but reset is one of {RESETS} and update one of "
                         f"{UPDATES}")


@st.composite
def gru_cases(
    draw: Any,
    *,
    bidirectional: bool | None = None,
    batch_first: bool | None = None,
    num_layers: int | None = None,
    with_h0: bool | None = None,
    lengths: bool = False,
    bias: bool = True,
    reset: str = "after",
    update: str = "pytorch",
    dtypes: tuple[str, ...] = ("float64",),
    max_steps: int = MAX_STEPS,
    max_batch: int = MAX_BATCH,
    max_size: int = MAX_SIZE,
    max_layers: int = MAX_LAYERS,
) -> GeneratedCase:
    """The suite's small cases (T <= 6, B <= 4, I and H <= 5, up to 3 layers by default).

    ``None`` draws both values (directions, layouts, h0 or none); ``num_layers`` None draws
    1 to ``max_layers``. ``lengths``: a padded batch with per-sample lengths, at least one
    shorter than T. ``dtypes``: the dtype names a case may carry in ``spec.dtype`` (the
    arrays are float64; the dtype is the one your GRU is to be built in). ``reset`` and
    ``update``: the convention ``expected`` is computed in."""
    _check_convention(reset, update)
    claims = _Claims(_choices(bidirectional), _choices(batch_first), tuple(dtypes), num_layers is None or num_layers > 1,
                     with_h0 is not False, bias)
    spec = draw(case_specs(claims, num_layers=num_layers, with_h0=with_h0, bias=bias, dtypes=tuple(dtypes),
                           max_steps=max_steps, max_batch=max_batch, max_size=max_size, max_layers=max_layers))
    drawn = draw(sequence_lengths(spec.steps, spec.batch)) if lengths else None
    return GeneratedCase.from_spec(spec, drawn, reset, update)


@st.composite
def size_sweep_cases(
    draw: Any,
    *,
    axes: tuple[str, ...] = tuple(AXES),
    bidirectional: bool | None = None,
    batch_first: bool | None = None,
    reset: str = "after",
    update: str = "pytorch",
    dtypes: tuple[str, ...] = ("float64",),
) -> GeneratedCase:
    """A small case with one of T, B, I or H (``axes``: "steps", "batch", "input_size",
    "hidden_size") set to a size in [1, 131], two times in three a prime past 64 (a partial
    tile of every narrower width): the suite's size sweep, one axis per case. Sizes shrink as
    integers, so a failing example ends at the smallest size that shows it."""
    _check_convention(reset, update)
    unknown = set(axes) - set(AXES)
    if unknown or not axes:
        raise ValueError(f"got axes {axes}, but they are some of {tuple(AXES)}")
    base = draw(gru_cases(bidirectional=bidirectional, batch_first=batch_first, max_layers=SWEEP_LAYERS,
                          reset=reset, update=update, dtypes=dtypes)).spec
    axis = draw(st.sampled_from(axes))
    size = draw(SMALL_SIZES)
    return GeneratedCase.from_spec(base.with_(**{axis: size}), None, reset, update)
