"""Sizes that kernels tile on: the size sweep and long sequences.

Fast GRU kernels tile hidden units, batch rows and input features, process time
in chunks and reuse workspaces of a few steps, with widths anywhere from 2 to
128 and, in production kernels, 256 to 1024 (time chunks up to 2048); many switch
to another code path once the input is large (2^15 or 2^16 elements). Their bugs (a
tail tile reading another tile's gate, a partial batch tile taking the wrong rows,
state dropped at a chunk boundary, a fast path with other equations) are exact below
the width and wrong past it, so the ordinary checks' cases (T <= 6, B <= 4, I and
H <= 5) cannot see them.

A *sweep* example draws one small case (``conformance.cases.strategies``) and, per axis T, B,
I and H, two sizes: a *small* one (any size up to 131 or, two times in three, a prime
between 67 and 131: ``PAST_TILES``, no multiple of any smaller width, so every narrower
tiling leaves a partial tile and every chunking a boundary) and a *production* one
(``PRODUCTION``: 257, 263, 513, 521, 1025 or 1031 for B, I and H, just past tiles of
256, 512 and 1024; 257, 513, 521, 1025, 1031 or 2053 steps, past chunks of 256 to 2048;
or, one time in two, any size from 132 up to the largest). It runs one case per axis and
size (the small case with that axis at that size) and a *shape* case where T, B, I and H
are large at once (``SHAPES``: around the benchmark shape T=64, B=32, I=H=128, x of 2^15 to
2^20 elements). The first example hypothesis draws, the simplest, is every small size 1,
every production size the first of its list (257 for B, I and H, 521 steps) and the
smallest shape.

Hypothesis shrinks each drawn integer towards 0, and the integers read as sizes in
order within each kind; the failing case's size is then narrowed down by bisection
between 1 and that size (on hypothesis' final run of the minimal example only), so the
message says where the failure starts: a size that fails, with one below that passes.

The cost stays bounded: the oracle steps through T in NumPy and its work grows with
B * H * (I + H) per step, so one axis is large at a time, production sizes run with one
layer, and the shape case runs one layer in one direction (where one is claimed) with its
T cut so that x has at most 2^20 elements and the oracle at most 2^28 multiply-adds
(``MAX_ELEMENTS``, ``MAX_WORK``). Sweep checks run a fifth of the profile's examples (at
least 3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from conformance.cases.generated import CaseSpec
from conformance.cases.compare import CheckFailure
from conformance.cases.strategies import draw_case

#: The widest of the small tier's tiles: a prime past 128.
SWEEP_MAX = 131
#: Primes past 64: each leaves a partial tile of every width up to 64 (131: up to 130).
PAST_TILES = (67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131)
#: Sizes past production kernels' tiles and chunks: just past 256, 512 and 1024 and the primes
#: after them for B, I and H; sequences past chunks of 512, 1024, 2048 and 256 steps. The first
#: are drawn most often (hypothesis favours small integers), the first of all by the simplest
#: example.
PRODUCTION: dict[str, tuple[int, ...]] = {
    "steps": (521, 1031, 257, 2053, 513, 1025),
    "batch": (257, 521, 1031, 263, 513, 1025),
    "input_size": (257, 521, 1031, 263, 513, 1025),
    "hidden_size": (257, 521, 1031, 263, 513, 1025),
}
#: How the checks' statements say what the sweep reaches.
SWEEP_WORDS = ("when T, B, I or H crosses the tile and chunk widths of fast and production kernels (each in turn "
               "up to 131, then past 256, 512 and 1024, T past 2048) or several are large at once (x of up to "
               "2^20 elements)")
#: The largest size drawn on each axis.
AXIS_MAX: dict[str, int] = {axis: max(sizes) for axis, sizes in PRODUCTION.items()}

Kind = tuple[int, ...] | None


def sizes_of(low: int, high: int, kinds: tuple[Kind, ...]) -> st.SearchStrategy[int]:
    """One integer k read as a size: k modulo len(kinds) picks its kind and j = k // len(kinds)
    the size of that kind: any size ``low + j`` (up to ``high``) for None, else the tuple's j-th
    (cyclically). Interleaved, the kinds keep their shares whatever integers hypothesis
    favours; k = 0 is the first kind's first size, where shrinking goes."""
    count = len(kinds)

    def read(k: int) -> int:
        kind, j = kinds[k % count], k // count
        return low + j if kind is None else kind[j % len(kind)]

    return st.integers(0, count * (high - low + 1) - 1).map(read)


#: The axes swept, in the order they are run, with the names the report uses.
AXES: dict[str, str] = {"steps": "T", "batch": "B", "input_size": "I", "hidden_size": "H"}
#: An axis' small size: any size up to SWEEP_MAX, or (two times in three) a prime past the tiles.
SMALL_SIZES = sizes_of(1, SWEEP_MAX, (None, PAST_TILES, PAST_TILES))
#: An axis' production size: one of its list, or (one time in two) any size past the small tier.
PRODUCTION_SIZES: dict[str, st.SearchStrategy[int]] = {
    axis: sizes_of(SWEEP_MAX + 1, AXIS_MAX[axis], (listed, None)) for axis, listed in PRODUCTION.items()}
#: Layers in small sweep cases (layer k > 0 reads D*H inputs, so H reaches the input width
#: too); production sizes run with one.
SWEEP_LAYERS = 2
#: The shape case: T, B, I and H drawn together, each one of these or (one time in three) any
#: size up to SHAPE_MAX (T=64, B=32, I=H=128 is the benchmark shape; the listed combinations
#: have 2^17 to 2^20 input elements once T is cut to the bounds).
SHAPE_MAX = 256
SHAPES: dict[str, tuple[int, ...]] = {"steps": (64, 128), "batch": (32, 64, 128), "input_size": (64, 128, 256),
                                      "hidden_size": (64, 128)}
SHAPE_SIZES: dict[str, st.SearchStrategy[int]] = {
    axis: sizes_of(1, SHAPE_MAX, (None, listed, listed)) for axis, listed in SHAPES.items()}
#: Bounds of the shape case: x's elements, and the oracle's multiply-adds (3H (I + H) per step,
#: sample and direction).
MAX_ELEMENTS = 2**20
MAX_WORK = 2**28
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


def bounded_shape(spec: CaseSpec, max_work: int = MAX_WORK) -> CaseSpec:
    """``spec`` with its T cut so that x has at most MAX_ELEMENTS elements and the oracle at
    most ``max_work`` multiply-adds (one layer)."""
    per_step = spec.batch * max(spec.input_size, 1)
    work = spec.batch * 3 * spec.hidden_size * (spec.input_size + spec.hidden_size) * spec.num_directions
    steps = min(spec.steps, max(1, MAX_ELEMENTS // per_step), max(1, max_work // max(work, 1)))
    return spec.with_(steps=steps)


def elements(spec: CaseSpec) -> int:
    """x's elements."""
    return spec.steps * spec.batch * spec.input_size


@dataclass(frozen=True)
class Sweep:
    """A small case, a small and a production size per axis, and a shape of several large axes."""

    base: CaseSpec
    sizes: dict[str, int]
    production: dict[str, int]
    #: T, B, I and H of the shape case (None: no shape case), and the direction it runs in.
    shape: dict[str, int] | None = None
    shape_bidirectional: bool = False
    #: The shape case's bound on the oracle's multiply-adds (``bounded_shape``).
    max_work: int = MAX_WORK
    #: The dtype of each case in turn (every claimed dtype in turn), or none: the base case's.
    dtypes: tuple[str, ...] = ()

    def cases(self) -> Iterator[tuple[str, CaseSpec]]:
        """(axis, the base case with that axis at its small size), axis by axis; the same at
        the production sizes (one layer); then ("shape", the shape case)."""
        specs: list[tuple[str, CaseSpec]] = [(axis, self.base.with_(**{axis: size}))
                                             for axis, size in self.sizes.items()]
        specs += [(axis, self.base.with_(**{axis: size}, num_layers=1)) for axis, size in self.production.items()]
        if self.shape is not None:
            shape = self.base.with_(**self.shape, num_layers=1, bidirectional=self.shape_bidirectional)
            specs.append(("shape", bounded_shape(shape, self.max_work)))
        for i, (axis, spec) in enumerate(specs):
            yield axis, spec.with_(dtype=self.dtypes[i % len(self.dtypes)]) if self.dtypes else spec


def draw_sweep(data: Any, subject: Any, **constraints: Any) -> Sweep:
    """Draw one sweep example inside a ``@given(data=st.data())`` check. ``constraints``
    narrow the small case as for ``draw_case``; ``axes`` limits the axes swept, and
    ``production_axes`` those swept at production sizes (default: the same, without T for a
    cell, which never sees T: the suite unrolls it); ``shape`` (default True) adds the shape
    case (in one direction where one is claimed), ``max_work`` bounds it; ``dtypes_in_turn``
    (dtype names) gives the cases each claimed one of them in turn."""
    axes = constraints.pop("axes", tuple(AXES))
    production_axes = constraints.pop("production_axes", tuple(a for a in axes if a != "steps" or not subject.is_cell))
    with_shape = constraints.pop("shape", True)
    max_work = constraints.pop("max_work", MAX_WORK)
    in_turn = constraints.pop("dtypes_in_turn", None)
    takes_h0 = subject.is_cell or subject.capabilities.h0
    constraints.setdefault("with_h0", True if takes_h0 else False)
    constraints.setdefault("max_layers", SWEEP_LAYERS)
    base = draw_case(data, subject, **constraints)
    sizes = {axis: data.draw(SMALL_SIZES, label=f"{AXES[axis]} (size sweep)") for axis in axes}
    production = {axis: data.draw(PRODUCTION_SIZES[axis], label=f"{AXES[axis]} (production size)")
                  for axis in production_axes}
    shape = ({axis: data.draw(SHAPE_SIZES[axis], label=f"{AXES[axis]} (shape)") for axis in AXES}
             if with_shape else None)
    dtypes: tuple[str, ...] = ()
    claimed = subject.dtypes(tuple(in_turn)) if in_turn else []
    if claimed:
        first = data.draw(st.integers(0, len(claimed) - 1), label="first dtype")
        dtypes = tuple(claimed[first:] + claimed[:first])
    # One direction halves the shape case's work, unless the check or the claims need two.
    both = base.bidirectional and (constraints.get("bidirectional") is True or not subject.capabilities.unidirectional)
    return Sweep(base, sizes, production, shape, shape_bidirectional=both, max_work=max_work, dtypes=dtypes)


def draw_long(data: Any, subject: Any, **constraints: Any) -> CaseSpec:
    """A small case of several hundred steps (``LONG_STEPS``)."""
    takes_h0 = subject.is_cell or subject.capabilities.h0
    constraints.setdefault("with_h0", True if takes_h0 else False)
    constraints.setdefault("num_layers", LONG_LAYERS)
    base = draw_case(data, subject, **constraints)
    steps = data.draw(st.integers(*LONG_STEPS), label="T (long sequence)")
    spec = base.with_(steps=steps)
    subject.note_case(spec)
    return spec


def _first_part(exc: CheckFailure) -> str:
    """The failure's message without the case line ``CheckFailure`` appends."""
    return str(exc).split("\n  case: ", 1)[0]


def _final_run() -> bool:
    """Hypothesis is running the minimal failing example to report it (not drawing or shrinking)."""
    from hypothesis.control import current_build_context

    try:
        return bool(getattr(current_build_context(), "is_final", False))
    except Exception:  # noqa: BLE001 - outside a hypothesis test: report as if final
        return True


def run_sweep(subject: Any, sweep: Sweep, compare: Callable[[CaseSpec], Any]) -> None:
    """``compare(spec)`` (which raises ``CheckFailure``) on each case of the sweep. On the
    final run of a failing example, the failure says where it starts (``_with_onset``)."""
    for axis, spec in sweep.cases():
        subject.note_case(spec)
        try:
            compare(spec)
        except CheckFailure as exc:
            raise (_with_onset(subject, exc, axis, spec, compare) if _final_run() else exc) from None


def _failure(compare: Callable[[CaseSpec], Any], spec: CaseSpec) -> CheckFailure | None:
    """The failure ``compare`` raises on ``spec``, or None if it passes (any other exception
    there is an adapter's: it counts as failing, and the first failure is kept)."""
    try:
        compare(spec)
    except CheckFailure as exc:
        return exc
    except Exception as exc:  # noqa: BLE001
        return CheckFailure(f"{type(exc).__name__}: {exc}", case=spec)
    return None


def _with_onset(subject: Any, exc: CheckFailure, axis: str, spec: CaseSpec,
                compare: Callable[[CaseSpec], Any]) -> CheckFailure:
    if axis == "shape":
        onset, spec, exc = _shape_onset(compare, spec, exc)
    else:
        spec, exc, starts = _narrowed(compare, axis, spec, exc)
        name = f"{axis} ({AXES[axis]})"
        size = getattr(spec, axis)
        onset = (f"the failure starts at {name} = {size}: with {size - 1} it passes" if starts
                 else f"fails with {name} = 1, the smallest size")
    subject.note_case(spec)
    return CheckFailure(f"{_first_part(exc)}\n  size sweep: {onset}", case=spec, max_error=exc.max_error,
                        tolerance=exc.tolerance)


def _narrowed(compare: Callable[[CaseSpec], Any], axis: str, spec: CaseSpec,
              exc: CheckFailure) -> tuple[CaseSpec, CheckFailure, bool]:
    """Bisection of ``axis`` between 1 and its failing size, the other sizes as they are: the
    case at a size that fails while one below passes (the smallest such size when the failure
    has a threshold), its failure, and whether one below passes (False: it fails at 1)."""
    size = getattr(spec, axis)
    smallest = spec.with_(**{axis: 1})
    at_smallest = exc if size <= 1 else _failure(compare, smallest)
    if at_smallest is not None:
        return smallest, at_smallest, False
    passing, failing, found = 1, size, exc
    while failing - passing > 1:
        middle = (passing + failing) // 2
        middle_failure = _failure(compare, spec.with_(**{axis: middle}))
        if middle_failure is None:
            passing = middle
        else:
            failing, found = middle, middle_failure
    return spec.with_(**{axis: failing}), found, True


def _shape_onset(compare: Callable[[CaseSpec], Any], spec: CaseSpec,
                 exc: CheckFailure) -> tuple[str, CaseSpec, CheckFailure]:
    """Each axis narrowed down in turn: a shape where one axis one smaller passes."""
    last = None
    for axis in AXES:
        spec, exc, starts = _narrowed(compare, axis, spec, exc)
        last = axis if starts else last
    where = f"{', '.join(f'{AXES[a]} = {getattr(spec, a)}' for a in AXES)} (x of {elements(spec)} elements)"
    if last is None:
        return f"fails at {where}, every size the smallest", spec, exc
    smaller = spec.with_(**{last: getattr(spec, last) - 1})
    return (f"the failure starts at {where}: with {AXES[last]} = {getattr(smaller, last)} "
            f"({elements(smaller)} elements) it passes"), spec, exc
