"""Hypothesis strategies, all in one place.

Generated cases stay out of the constant-weight blind spot: weights are random
per gate (``random_params``), b_hn is non-zero, h0 is random and non-uniform,
input and hidden sizes are drawn independently (both 1 and larger), batch goes
up to 4 (some layout bugs need B >= 3) and T covers 1 and several steps.
Adapters claiming ``bias_free`` also get cases without bias tensors. Sizes that
cross kernels' tile and chunk boundaries are drawn by ``conformance.cases.sizes``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from hypothesis import strategies as st

from conformance.cases.generated import CaseSpec

MAX_STEPS = 6
MAX_BATCH = 4
MAX_SIZE = 5
MAX_LAYERS = 3

#: The drawn sizes that a size floor can raise (``sizes_at_least``).
SIZE_FIELDS = ("steps", "batch", "input_size", "hidden_size")
_SIZE_FLOOR: ContextVar[dict[str, int]] = ContextVar("size_floor", default={})


@contextlib.contextmanager
def sizes_at_least(**floors: int) -> Iterator[None]:
    """Draw every case with at least these sizes (``steps=2, batch=2``...), where the check
    allows them: how a check searches away from sizes at which the implementation crashed
    (``conformance.grading.engine``). A check that needs a size below the floor keeps it."""
    unknown = set(floors) - set(SIZE_FIELDS)
    if unknown:
        raise ValueError(f"got size floors for {sorted(unknown)}, but sizes are {SIZE_FIELDS}")
    token = _SIZE_FLOOR.set(dict(floors))
    try:
        yield
    finally:
        _SIZE_FLOOR.reset(token)


@functools.lru_cache(maxsize=None)
def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    # Strategies are made once: building and validating one on every draw cost more than
    # the draw itself (a case draws about ten values, a grading run thousands of cases).
    return st.integers(low, high)


@functools.lru_cache(maxsize=None)
def _one_of(values: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(values)


_BOOLEANS = st.booleans()
_SEEDS = st.integers(0, 2**16)


def _sizes(draw: Any, name: str, low: int, high: int) -> int:
    high = max(low, high)
    low = min(max(low, _SIZE_FLOOR.get().get(name, low)), high)
    return draw(_integers(low, high))


@st.composite
def case_specs(
    draw: Any,
    subject: Any,
    *,
    min_steps: int = 1,
    max_steps: int = MAX_STEPS,
    min_batch: int = 1,
    max_batch: int = MAX_BATCH,
    min_hidden: int = 1,
    bidirectional: bool | None = None,
    num_layers: int | None = None,
    dtypes: tuple[str, ...] = ("float32", "float64"),
    with_h0: bool | None = None,
    weight_scale: float = 1.0,
    input_scale: float = 1.0,
    max_size: int = MAX_SIZE,
    max_layers: int = MAX_LAYERS,
    device: str = "cpu",
    bias: bool | None = None,
) -> CaseSpec:
    """A case the subject claims to support. Keyword arguments narrow the draw;
    ``None`` means "any the subject supports"."""
    caps = subject.capabilities
    if bidirectional is None:
        bidirectional = draw(_one_of(tuple(subject.directions())))
    if num_layers is None:
        num_layers = draw(_integers(1, max_layers)) if caps.multi_layer else 1
    claimed = subject.dtypes(dtypes)
    dtype = draw(_one_of(tuple(claimed))) if claimed else "float32"
    if with_h0 is None:
        with_h0 = draw(_BOOLEANS) if (subject.is_cell or caps.h0) else False
    spec = CaseSpec(
        steps=_sizes(draw, "steps", min_steps, max_steps),
        batch=_sizes(draw, "batch", min_batch, max_batch),
        input_size=_sizes(draw, "input_size", 1, max_size),
        hidden_size=_sizes(draw, "hidden_size", min_hidden, max_size),
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=draw(_one_of(tuple(subject.layouts()))),
        dtype=dtype,
        seed=draw(_SEEDS),
        weight_scale=weight_scale,
        input_scale=input_scale,
        with_h0=with_h0,
        device=device,
    )
    if bias is None:
        # Drawn last, and only for adapters claiming bias_free, so that the cases every
        # other adapter gets are unchanged; the simplest case (what shrinking goes to) has bias.
        bias = not draw(_BOOLEANS) if caps.bias_free and caps.biases else caps.biases
    if caps.h0_shared and with_h0:
        spec = spec.with_(h0_shared=True)
    return spec.with_(bias=bias) if not bias else spec


@st.composite
def sequence_lengths(draw: Any, steps: int, batch: int) -> list[int]:
    """Per-sample lengths in [1, T] for a padded batch of T steps, at least one of
    them shorter than T (when T > 1), so that some sample has padding."""
    lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    if steps > 1 and min(lengths) == steps:
        short = draw(st.integers(0, batch - 1))
        lengths[short] = draw(st.integers(1, steps - 1))
    return lengths


def per_slot_states(subject: Any) -> dict[str, Any]:
    """Constraints for checks that hand the implementation the oracle's own state of each
    layer and direction (teacher forcing): one slot for an implementation taking one shared
    initial state (its requirement ``per_slot_h0`` keeps the bidirectional-only ones out)."""
    return {"num_layers": 1, "bidirectional": False} if subject.capabilities.h0_shared else {}


def draw_case(data: Any, subject: Any, **constraints: Any) -> CaseSpec:
    """Draw one case inside a ``@given(data=st.data())`` check."""
    spec = data.draw(case_specs(subject, **constraints), label="case")
    subject.note_case(spec)
    return spec
