"""``gru_cases`` and ``size_sweep_cases``, the strategies for users' own hypothesis tests: every
case is out of the constant-weight blind spot, in the layout asked, with the oracle's result;
the sweep reaches past the tiles one axis at a time; a printed case rebuilds; and a test
written with them catches a wrong GRU and passes nn.GRU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import GeneratedCase, gru, gru_cases, size_sweep_cases
from conformance.cases.generated import CaseSpec
from conformance.base.params import GATES, param_name

QUICK = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _blocks(array: np.ndarray) -> list[np.ndarray]:
    hidden = array.shape[0] // 3
    return [array[i * hidden:(i + 1) * hidden] for i in range(len(GATES))]


@QUICK
@given(case=gru_cases(lengths=True))
def test_every_case_is_out_of_the_blind_spot(case: GeneratedCase):
    spec = case.spec
    for layer in range(spec.num_layers):
        for reverse in (False, True)[: spec.num_directions]:
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                r, z, n = _blocks(case.params[param_name(kind, layer, reverse)])
                assert not (np.array_equal(r, z) or np.array_equal(z, n)), f"got equal gate blocks in {kind} [{case!r}]"
            b_hn = _blocks(case.params[param_name("bias_hh", layer, reverse)])[2]
            assert np.all(b_hn != 0), f"got b_hn {b_hn} with a zero, but it should be non-zero [{case!r}]"
    if case.h0 is not None and case.h0.size > 1:
        assert np.ptp(case.h0) > 0, f"got a uniform h0 {case.h0.ravel()}, but it should vary [{case!r}]"
    layout = (spec.batch, spec.steps) if spec.batch_first else (spec.steps, spec.batch)
    assert case.x.shape == (*layout, spec.input_size), f"got x {case.x.shape} for {case!r}"
    assert case.lengths is not None and len(case.lengths) == spec.batch and max(case.lengths) <= spec.steps
    assert spec.steps == 1 or min(case.lengths) < spec.steps, f"got lengths {case.lengths} with no padding"
    output, h_n = case.expected
    assert output.shape == (*layout, spec.num_directions * spec.hidden_size), f"got output {output.shape}"
    assert h_n.shape == (spec.num_layers * spec.num_directions, spec.batch, spec.hidden_size)


def test_the_draws_cover_what_the_blind_spot_needs():
    seen = {"H=1": False, "H>=2": False, "I!=H": False, "B>=3": False, "T=1": False, "T>1": False,
            "batch_first": False, "time_major": False, "bidirectional": False, "layers>1": False}

    @settings(max_examples=150, deadline=None, database=None, derandomize=True)
    @given(case=gru_cases())
    def draw(case):
        s = case.spec
        seen["H=1"] |= s.hidden_size == 1
        seen["H>=2"] |= s.hidden_size >= 2
        seen["I!=H"] |= s.input_size != s.hidden_size
        seen["B>=3"] |= s.batch >= 3
        seen["T=1"] |= s.steps == 1
        seen["T>1"] |= s.steps > 1
        seen["batch_first"] |= s.batch_first
        seen["time_major"] |= not s.batch_first
        seen["bidirectional"] |= s.bidirectional
        seen["layers>1"] |= s.num_layers > 1

    draw()
    missing = sorted(k for k, v in seen.items() if not v)
    assert not missing, f"got no case with {missing} in 150 draws, but the strategy should reach each"


def test_the_size_sweep_reaches_past_the_tiles_one_axis_at_a_time():
    largest = {axis: 0 for axis in ("steps", "batch", "input_size", "hidden_size")}

    @settings(max_examples=120, deadline=None, database=None, derandomize=True)
    @given(case=size_sweep_cases())
    def draw(case):
        big = {axis: getattr(case.spec, axis) for axis in largest if getattr(case.spec, axis) > 6}
        assert len(big) <= 1, f"got {big} past the small sizes at once, but the sweep sets one axis [{case!r}]"
        for axis in largest:
            largest[axis] = max(largest[axis], getattr(case.spec, axis))

    draw()
    short = {axis: size for axis, size in largest.items() if size < 64}
    assert not short, f"got largest sizes {largest}, but every axis should reach past 64"
    @given(data=st.data())
    def unknown_axis(data):
        data.draw(size_sweep_cases(axes=("width",)))

    with pytest.raises(ValueError, match="got axes"):
        unknown_axis()


@QUICK
@given(case=gru_cases(reset="before", update="complement", with_h0=True))
def test_a_printed_case_rebuilds(case: GeneratedCase):
    rebuilt = eval(repr(case), {"GeneratedCase": GeneratedCase, "CaseSpec": CaseSpec})  # noqa: S307 - our own repr
    assert np.array_equal(rebuilt.x, case.x) and np.array_equal(rebuilt.h0, case.h0), f"got another case from {case!r}"
    assert all(np.array_equal(rebuilt.params[k], case.params[k]) for k in case.params)
    want = gru(case.x, case.params, case.h0, reset="before", update="complement", batch_first=case.batch_first)
    assert np.array_equal(rebuilt.expected.output, want.output), f"got another expected output from {case!r}"


def torch_gru(case: GeneratedCase) -> tuple[np.ndarray, np.ndarray]:
    s = case.spec
    module = torch.nn.GRU(s.input_size, s.hidden_size, s.num_layers, bias=s.bias, batch_first=s.batch_first,
                          bidirectional=s.bidirectional, dtype=torch.float64)
    module.load_state_dict(case.params.tensors(torch.float64))
    with torch.no_grad():
        output, h_n = module(torch.tensor(case.x), None if case.h0 is None else torch.tensor(case.h0))
    return output.numpy(), h_n.numpy()


def swapped_gates(case: GeneratedCase) -> tuple[np.ndarray, np.ndarray]:
    """A GRU that reads the r block as z and z as r."""
    hidden = case.spec.hidden_size
    order = np.r_[hidden:2 * hidden, 0:hidden, 2 * hidden:3 * hidden]
    params = case.params.replace({k: v[order] for k, v in case.params.items()})
    return gru(case.x, params, case.h0, batch_first=case.batch_first)


@pytest.mark.parametrize("implementation, conforms", [(torch_gru, True), (swapped_gates, False)])
def test_a_test_written_with_them_passes_nn_gru_and_catches_swapped_gates(implementation, conforms):
    @settings(max_examples=30, deadline=None, database=None)
    @given(case=st.one_of(gru_cases(), size_sweep_cases()))
    def user_test(case):
        output, h_n = implementation(case)
        np.testing.assert_allclose(output, case.expected.output, atol=1e-9)
        np.testing.assert_allclose(h_n, case.expected.h_n, atol=1e-9)

    if conforms:
        user_test()
    else:
        with pytest.raises(AssertionError):
            user_test()
