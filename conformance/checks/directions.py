"""Directions and layers: where the final states of each direction are, and
what the reverse direction computes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conformance.cases.catalogue import check
from conformance.cases.compare import assert_close
from conformance.cases.sizes import SWEEP_WORDS, draw_sweep, run_sweep
from conformance.cases.strategies import draw_case


@check(
    "directions.forward-final-state",
    title="Last output is the forward final state",
    statement="output[-1, :, :H] == h_n.view(L, D, B, H)[-1, 0]; unidirectional: output[-1] == h_n[-1]",
    reference="nn.GRU: h_n holds each direction's state after its last step",
    requires=("layer", "output", "h_n"),
    tolerance="self",
)
@given(data=st.data())
def test_last_output_is_forward_final_state(subject, data):
    spec = draw_case(data, subject)
    result = subject.run_case(spec.materialize())
    hidden, dirs = spec.hidden_size, spec.num_directions
    last_layer = result.h_n.reshape(spec.num_layers, dirs, spec.batch, hidden)[-1]
    assert_close(result.output[-1, :, :hidden], last_layer[0], subject.tolerance(spec.dtype),
                 what="output[-1, :, :H]", call=result.call, case=spec,
                 should="the last layer's forward final state in h_n")


@check(
    "directions.backward-final-state",
    title="First output is the backward final state",
    statement="output[0, :, H:] == h_n.view(L, 2, B, H)[-1, 1]: the backward half is stored in "
    "input time order, so its final state is at t = 0",
    reference="nn.GRU: the backward half of output is in input time order",
    requires=("layer", "bidirectional", "output", "h_n"),
    tolerance="self",
)
@given(data=st.data())
def test_first_output_is_backward_final_state(subject, data):
    spec = draw_case(data, subject, bidirectional=True)
    result = subject.run_case(spec.materialize())
    hidden = spec.hidden_size
    last_layer = result.h_n.reshape(spec.num_layers, 2, spec.batch, hidden)[-1]
    assert_close(result.output[0, :, hidden:], last_layer[1], subject.tolerance(spec.dtype),
                 what="output[0, :, H:]", call=result.call, case=spec,
                 should="the last layer's backward final state in h_n")


@check(
    "directions.reverse-is-flipped-forward",
    title="Reverse direction is a forward run on the flipped sequence",
    statement="the backward half of a bidirectional layer equals a forward layer with the "
    "reverse parameters run on x[::-1], flipped back; its final state equals that run's h_n",
    reference="nn.GRU: the reverse direction reads the sequence from its end",
    requires=("layer", "bidirectional", "white_box", "unidirectional", "output", "h_n"),
    tolerance="self",
)
@given(data=st.data())
def test_reverse_is_flipped_forward(subject, data):
    spec = draw_case(data, subject, bidirectional=True, num_layers=1)
    case = spec.materialize()
    both = subject.run_case(case)
    forward_spec = spec.with_(bidirectional=False)
    forward_case = forward_spec.materialize()
    reverse_params = case.params.cell(0, reverse=True)
    instance = subject.instantiate(forward_case, reverse_params)
    h0 = None if case.h0 is None else case.h0[1:2]
    flipped = subject.call(instance, case.x[::-1].copy(), h0)
    hidden = spec.hidden_size
    tol = subject.tolerance(spec.dtype)
    assert_close(both.output[:, :, hidden:], flipped.output[::-1], tol, what="output[:, :, H:]",
                 call=both.call, case=spec, should="a forward run on the flipped sequence, flipped back")
    assert_close(both.h_n[1], flipped.h_n[0], tol, what="h_n[1]", call=both.call, case=spec,
                 should="the final state of a forward run on the flipped sequence")


@check(
    "directions.sizes",
    title="Final states and the reverse direction at tiled sizes",
    statement=f"bidirectional, {SWEEP_WORDS}: output[-1, :, :H] and output[0, :, H:] are the final states in h_n, "
    "and (white-box) the backward half equals a forward run with the reverse parameters on "
    "x[::-1], flipped back",
    reference="nn.GRU: the reverse direction reads the sequence from its end; its output is in "
    "input time order",
    requires=("layer", "bidirectional", "unidirectional", "output", "h_n"),
    depends_on=("directions.forward-final-state", "directions.backward-final-state"),
    tolerance="self",
    sweep=True,
)
@given(data=st.data())
def test_sizes_directions(subject, data):
    def compare(spec) -> None:
        case = spec.materialize()
        both = subject.run_case(case)
        hidden = spec.hidden_size
        tol = subject.tolerance(spec.dtype)
        last_layer = both.h_n.reshape(spec.num_layers, 2, spec.batch, hidden)[-1]
        assert_close(both.output[-1, :, :hidden], last_layer[0], tol, what="output[-1, :, :H]",
                     call=both.call, case=spec, should="the last layer's forward final state in h_n")
        assert_close(both.output[0, :, hidden:], last_layer[1], tol, what="output[0, :, H:]",
                     call=both.call, case=spec, should="the last layer's backward final state in h_n")
        if not subject.white_box:
            return
        instance = subject.instantiate(spec.with_(bidirectional=False).materialize(),
                                       case.params.cell(0, reverse=True))
        flipped = subject.call(instance, case.x[::-1].copy(), None if case.h0 is None else case.h0[1:2])
        assert_close(both.output[:, :, hidden:], flipped.output[::-1], tol, what="output[:, :, H:]",
                     call=both.call, case=spec, should="a forward run on the flipped sequence, flipped back")

    run_sweep(subject, draw_sweep(data, subject, bidirectional=True, num_layers=1), compare)
