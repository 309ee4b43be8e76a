"""Sizes that kernels tile on: the size sweep and long sequences.

Fast GRU kernels tile hidden units, batch rows and input features, process time
in chunks and reuse workspaces of a few steps, with widths anywhere from 2 to
128. Their bugs (a tail tile reading another tile's gate, a partial batch tile
taking the wrong rows, state dropped at a chunk boundary) are exact below the
width and wrong past it, so the ordinary checks' cases (T <= 6, B <= 4, I and
H <= 5) cannot see them.

A *sweep* example draws one small case (``conformance.strategies``) and one size
per axis, T, B, I and H, each in [1, 131], most often a prime between 64 and 131
(``PAST_TILES``): a prime is no multiple of any smaller width, so every tiling
narrower than it leaves a partial tile and every chunking a boundary; 131, past
128, does so for every width up to 130. The check then runs one case per axis: the
small case with that axis set to its drawn size. One large axis at a time keeps a
case cheap (the oracle steps through T in NumPy; a large B, I and H at once
would cost a hundred times more) while each example reaches every axis.
Hypothesis shrinks each drawn size as an integer, so a failure ends at the
smallest size that shows it; the failing check then runs the size one below
and says where the failure starts.

Sweep checks run a fifth of the profile's examples (at least 3): each
example is four cases, and the first example hypothesis draws is the smallest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from conformance.cases import CaseSpec
from conformance.compare import CheckFailure
from conformance.strategies import draw_case

#: The largest size drawn on each axis: a prime past 128, the widest tile the sweep aims at.
SWEEP_MAX = 131
#: Primes past 64: each leaves a partial tile of every width up to 64 (131: up to 130).
PAST_TILES = (67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131)
#: One axis' size. One integer k is drawn and read as a size: k < 131 is the size k + 1
#: (any size), a larger k one of the primes past the tiles (two thirds of the range).
#: Hypothesis shrinks k towards 0, through the sizes in order, so a failure still ends at
#: the smallest size that shows it (separate strategies per kind, as in one_of, would
#: stop shrinking at the kind that was drawn).
SWEEP_SIZES = st.integers(0, 3 * SWEEP_MAX - 1).map(
    lambda k: k + 1 if k < SWEEP_MAX else PAST_TILES[(k - SWEEP_MAX) % len(PAST_TILES)])
#: The axes swept, in the order they are run, with the names the report uses.
AXES: dict[str, str] = {"steps": "T", "batch": "B", "input_size": "I", "hidden_size": "H"}
#: Layers in sweep cases (layer k > 0 reads D*H inputs, so H reaches the input width too).
SWEEP_LAYERS = 2
#: Long sequences: several hundred steps, where errors that accumulate would show (past
#: 256, a common chunk width); one layer, both directions: each step costs a call per
#: layer and direction in a cell implementation.
LONG_STEPS = (200, 320)
LONG_LAYERS = 1
#: The share of the profile's examples a sweep check runs, and its floor.
SWEEP_SHARE, SWEEP_MIN_EXAMPLES = 0.2, 3


def sweep_examples(max_examples: int) -> int:
    """Examples a sweep check runs under a profile allowing ``max_examples``."""
    return max(SWEEP_MIN_EXAMPLES, round(max_examples * SWEEP_SHARE))


@dataclass(frozen=True)
class Sweep:
    """A small case and one drawn size per axis."""

    base: CaseSpec
    sizes: dict[str, int]
    #: A dtype per axis (every claimed dtype in turn), or none: the base case's.
    dtypes: dict[str, str] | None = None

    def cases(self) -> Iterator[tuple[str, CaseSpec]]:
        """(axis, the base case with that axis at its drawn size), axis by axis."""
        for axis, size in self.sizes.items():
            dtype = self.dtypes[axis] if self.dtypes else self.base.dtype
            yield axis, self.base.with_(**{axis: size}, dtype=dtype)


def draw_sweep(data: Any, subject: Any, **constraints: Any) -> Sweep:
    """Draw one sweep example inside a ``@given(data=st.data())`` check. ``constraints``
    narrow the small case as for ``draw_case``; ``axes`` limits the axes swept;
    ``dtypes_in_turn`` (dtype names) gives the axes' cases each claimed one of them in turn."""
    axes = constraints.pop("axes", tuple(AXES))
    in_turn = constraints.pop("dtypes_in_turn", None)
    takes_h0 = subject.is_cell or subject.capabilities.h0
    constraints.setdefault("with_h0", True if takes_h0 else False)
    constraints.setdefault("max_layers", SWEEP_LAYERS)
    base = draw_case(data, subject, **constraints)
    sizes = {axis: data.draw(SWEEP_SIZES, label=f"{AXES[axis]} (size sweep)") for axis in axes}
    dtypes = None
    claimed = subject.dtypes(tuple(in_turn)) if in_turn else []
    if claimed:
        first = data.draw(st.integers(0, len(claimed) - 1), label="first dtype")
        dtypes = {axis: claimed[(first + i) % len(claimed)] for i, axis in enumerate(sizes)}
    return Sweep(base, sizes, dtypes)


def draw_long(data: Any, subject: Any, **constraints: Any) -> CaseSpec:
    """A small case of several hundred steps (``LONG_STEPS``)."""
    takes_h0 = subject.is_cell or subject.capabilities.h0
    constraints.setdefault("with_h0", True if takes_h0 else False)
    constraints.setdefault("num_layers", LONG_LAYERS)
    base = draw_case(data, subject, **constraints)
    steps = data.draw(st.integers(*LONG_STEPS), label="T (long sequence)")
    spec = base.with_(steps=steps)
    subject.current_spec = spec
    return spec


def _first_part(exc: CheckFailure) -> str:
    """The failure's message without the case line ``CheckFailure`` appends."""
    return str(exc).split("\n  case: ", 1)[0]


def run_sweep(subject: Any, sweep: Sweep, compare: Callable[[CaseSpec], Any]) -> None:
    """``compare(spec)`` (which raises ``CheckFailure``) on each axis' case. A failure says
    at which size it starts: the same case with that axis one smaller is run too."""
    for axis, spec in sweep.cases():
        subject.current_spec = spec
        try:
            compare(spec)
        except CheckFailure as exc:
            raise _with_onset(subject, exc, axis, spec, compare) from None


def _with_onset(subject: Any, exc: CheckFailure, axis: str, spec: CaseSpec,
                compare: Callable[[CaseSpec], Any]) -> CheckFailure:
    size = getattr(spec, axis)
    name = f"{axis} ({AXES[axis]})"
    if size <= 1:
        onset = f"fails with {name} = {size}, the smallest size"
    else:
        smaller = spec.with_(**{axis: size - 1})
        try:
            compare(smaller)
        except Exception:  # noqa: BLE001 - any failure of the smaller case means "fails there too"
            onset = f"fails with {name} = {size} and with {size - 1} too"
        else:
            onset = f"the failure starts at {name} = {size}: with {size - 1} it passes"
        subject.current_spec = spec
    return CheckFailure(f"{_first_part(exc)}\n  size sweep: {onset}", case=spec, max_error=exc.max_error,
                        tolerance=exc.tolerance)
