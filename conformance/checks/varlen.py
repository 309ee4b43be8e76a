"""Variable-length batches: ``varlen`` (layer adapters that claim ``lengths``).

A padded batch with per-sample lengths, given as a ``PackedSequence`` (or through
the adapter's ``run_lengths``). The padding holds random values, not zeros, so an
implementation that reads it shows. Each sample is compared with a run of the
same implementation on that sample alone, cut to its length: black-box, so it
grades implementations without weight access too.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.cases.catalogue import check
from conformance.cases.compare import assert_close, fail
from conformance.cases.sizes import SWEEP_WORDS, draw_sweep, run_sweep
from conformance.cases.strategies import draw_case, sequence_lengths


def _draw_varlen(data, subject, **constraints):
    spec = draw_case(data, subject, min_steps=2, **constraints)
    lengths = data.draw(sequence_lengths(spec.steps, spec.batch), label="lengths")
    return spec, lengths


def _compare_with_truncated(subject, spec, lengths, halves: str) -> None:
    """Each sample's valid outputs and its h_n against a run on it alone, cut to its length."""
    case = spec.materialize()
    instance = subject.instantiate(case)
    packed = subject.call(instance, case.x, case.h0, lengths=lengths)
    tol = subject.tolerance(spec.dtype)
    for b, length in enumerate(lengths):
        h0 = None if case.h0 is None else case.h0[:, b : b + 1]
        alone = subject.call(instance, case.x[:length, b : b + 1], h0)
        assert_close(packed.output[:length, b], alone.output[:, 0], tol,
                     what=f"output[:{length}, {b}] (lengths={lengths})", call=packed.call, case=spec,
                     should=f"sample {b} run alone on its {length} real steps ({halves})")
        assert_close(packed.h_n[:, b], alone.h_n[:, 0], tol, what=f"h_n[:, {b}] (lengths={lengths})",
                     call=packed.call, case=spec,
                     should=f"sample {b}'s state after its own last step t={length - 1}, run alone")


@check(
    "varlen.padding-zero",
    title="Outputs past each length are zero",
    statement="in a padded batch with per-sample lengths, output[t, b] is zero for every "
    "t >= lengths[b], whatever the padding holds",
    reference="nn.GRU on a PackedSequence; pad_packed_sequence pads with zeros",
    requires=("layer", "lengths", "output"),
)
@given(data=st.data())
def test_outputs_past_length_are_zero(subject, data):
    spec, lengths = _draw_varlen(data, subject)
    case = spec.materialize()
    result = subject.call(subject.instantiate(case), case.x, case.h0, lengths=lengths)
    for b, length in enumerate(lengths):
        padding = result.output[length:, b]
        if padding.size and np.any(padding != 0):
            t, unit = (int(i) for i in np.unravel_index(int(np.argmax(padding != 0)), padding.shape))
            fail(f"output[t={length + t}, b={b}, unit={unit}]: got {padding[t, unit]:.6g}, but should be 0 "
                 f"(t >= lengths[{b}] = {length} is padding; lengths={lengths})",
                 call=result.call, case=spec)


@check(
    "varlen.final-state",
    title="Each sample stops at its own length",
    statement="with per-sample lengths, sample b's outputs for t < lengths[b] and its h_n equal "
    "a run on that sample alone, cut to its length: h_n holds the state at its own last step",
    reference="nn.GRU on a PackedSequence: h_n is each sequence's state after its last element",
    requires=("layer", "lengths", "unidirectional"),
    tolerance="self",
)
@given(data=st.data())
def test_each_sample_stops_at_its_length(subject, data):
    spec, lengths = _draw_varlen(data, subject, bidirectional=False)
    _compare_with_truncated(subject, spec, lengths, "forward direction")


@check(
    "varlen.reverse-start",
    title="Reverse direction starts at each sample's last element",
    statement="bidirectional, with per-sample lengths: the backward half of sample b's outputs "
    "and its reverse h_n equal a run on the sample alone, cut to its length: the reverse "
    "direction starts at t = lengths[b] - 1, not at the padded end",
    reference="nn.GRU on a PackedSequence; onnx-tensorflow#342 (reverse started at the padding)",
    requires=("layer", "lengths", "bidirectional"),
    tolerance="self",
)
@given(data=st.data())
def test_reverse_starts_at_last_real_element(subject, data):
    spec, lengths = _draw_varlen(data, subject, bidirectional=True)
    _compare_with_truncated(subject, spec, lengths, "both directions")



# --------------------------------------------------------------------------- sizes


def _sweep_lengths(spec) -> list[int]:
    """Per-sample lengths in [1, T] for a sweep case, from its seed; the last sample (in the
    partial batch tile) is shorter than T when T > 1."""
    rng = np.random.default_rng(spec.seed + 17)
    lengths = [int(n) for n in rng.integers(1, spec.steps + 1, spec.batch)]
    if spec.steps > 1:
        lengths[-1] = int(rng.integers(1, spec.steps))
    return lengths


@check(
    "varlen.sizes",
    title="Each sample stops at its own length at tiled sizes",
    statement=f"with per-sample lengths, {SWEEP_WORDS}: the first and the last sample's outputs for t < lengths[b] "
    "and their h_n equal a run on that sample alone, cut to its length, in every direction claimed",
    reference="nn.GRU on a PackedSequence: h_n is each sequence's state after its last element",
    requires=("layer", "lengths"),
    depends_on=("varlen.final-state",),
    tolerance="self",
    sweep=True,
)
@given(data=st.data())
def test_sizes_each_sample_stops_at_its_length(subject, data):
    def compare(spec) -> None:
        lengths = _sweep_lengths(spec)
        case = spec.materialize()
        instance = subject.instantiate(case)
        packed = subject.call(instance, case.x, case.h0, lengths=lengths)
        tol = subject.tolerance(spec.dtype)
        shown = f"lengths[{spec.batch - 1}]={lengths[-1]}" if spec.batch > 8 else f"lengths={lengths}"
        for b in sorted({0, spec.batch - 1}):
            length = lengths[b]
            h0 = None if case.h0 is None else case.h0[:, b : b + 1]
            alone = subject.call(instance, case.x[:length, b : b + 1], h0)
            assert_close(packed.output[:length, b], alone.output[:, 0], tol,
                         what=f"output[:{length}, {b}] ({shown})", call=packed.call, case=spec,
                         should=f"sample {b} run alone on its {length} real steps")
            assert_close(packed.h_n[:, b], alone.h_n[:, 0], tol, what=f"h_n[:, {b}] ({shown})",
                         call=packed.call, case=spec,
                         should=f"sample {b}'s state after its own last step t={length - 1}, run alone")

    run_sweep(subject, draw_sweep(data, subject, min_steps=2), compare)

