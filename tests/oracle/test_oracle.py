"""The float64 oracle is what every white-box check compares against, so it is
tested first: against nn.GRU, against a second, deliberately naive formula, and
for the facts about the two reset placements that the suite relies on."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from conformance.cases.generated import CaseSpec
from conformance.model.oracle import gru_forward
from conformance.base.params import CanonicalParams, param_name


def specs(min_hidden: int = 1, max_hidden: int = 5, **fixed) -> st.SearchStrategy[CaseSpec]:
    """float64 cases over layers, directions, batch, sizes (1 included) and h0 or None."""
    fields = dict(
        steps=st.integers(1, 6),
        batch=st.integers(1, 4),
        input_size=st.integers(1, 5),
        hidden_size=st.integers(min_hidden, max_hidden),
        num_layers=st.integers(1, 3),
        bidirectional=st.booleans(),
        dtype=st.just("float64"),
        seed=st.integers(0, 2**16),
        with_h0=st.booleans(),
    )
    fields.update({k: st.just(v) for k, v in fixed.items()})
    return st.builds(CaseSpec, **fields)


def worst(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(np.asarray(got) - np.asarray(want)).max())


def torch_gru(case) -> tuple[np.ndarray, np.ndarray]:
    spec = case.spec
    gru = torch.nn.GRU(spec.input_size, spec.hidden_size, spec.num_layers,
                       bidirectional=spec.bidirectional, dtype=torch.float64)
    gru.load_state_dict(case.params.tensors(torch.float64))
    with torch.no_grad():
        output, h_n = gru(torch.tensor(case.x), None if case.h0 is None else torch.tensor(case.h0))
    return output.numpy(), h_n.numpy()


@given(spec=specs())
def test_oracle_equals_torch_gru_in_float64(spec):
    """eq. (1)-(4) as the oracle computes them are nn.GRU's, to rounding (1e-12)."""
    case = spec.materialize()
    want_output, want_h_n = torch_gru(case)
    run = gru_forward(case.x, case.params, case.h0)
    assert run.output.shape == want_output.shape, (
        f"got output shape {run.output.shape}, but should be {want_output.shape} [gru_forward {spec!r}]")
    assert run.h_n.shape == want_h_n.shape, (
        f"got h_n shape {run.h_n.shape}, but should be {want_h_n.shape} [gru_forward {spec!r}]")
    for what, got, want in (("output", run.output, want_output), ("h_n", run.h_n, want_h_n)):
        error = worst(got, want)
        assert error <= 1e-12, f"got {what} off nn.GRU's by {error:.3g}, but should be within 1e-12 [gru_forward {spec!r}]"


# --- a second, naive formula: scalar loops, one unit at a time ----------------------------


def _sigmoid(a: float) -> float:
    return 1.0 / (1.0 + math.exp(-a)) if a >= 0 else math.exp(a) / (1.0 + math.exp(a))


def naive_step(x: list[float], h: list[float], params: CanonicalParams, layer: int, reverse: bool,
               reset: str) -> list[float]:
    """One step for one sample, written out unit by unit from eq. (1)-(4) / (3')."""
    H = params.hidden_size

    def w(kind: str, gate: str, i: int) -> np.ndarray:
        return params.get(kind, layer, reverse, gate)[i]

    def dot(row, v) -> float:
        return sum(a * b for a, b in zip(row, v))

    r = [_sigmoid(dot(w("weight_ih", "r", i), x) + w("bias_ih", "r", i) + dot(w("weight_hh", "r", i), h)
                  + w("bias_hh", "r", i)) for i in range(H)]
    z = [_sigmoid(dot(w("weight_ih", "z", i), x) + w("bias_ih", "z", i) + dot(w("weight_hh", "z", i), h)
                  + w("bias_hh", "z", i)) for i in range(H)]
    rh = [r[j] * h[j] for j in range(H)]
    n = []
    for i in range(H):
        a = dot(w("weight_ih", "n", i), x) + w("bias_ih", "n", i)
        if reset == "before":
            a += dot(w("weight_hh", "n", i), rh) + w("bias_hh", "n", i)
        else:
            a += r[i] * (dot(w("weight_hh", "n", i), h) + w("bias_hh", "n", i))
        n.append(math.tanh(a))
    return [(1 - z[i]) * n[i] + z[i] * h[i] for i in range(H)]


def naive_gru(case, reset: str) -> tuple[np.ndarray, np.ndarray]:
    spec, params = case.spec, case.params
    D, H = spec.num_directions, spec.hidden_size
    h0 = case.h0 if case.h0 is not None else np.zeros((spec.num_layers * D, spec.batch, H))
    output = np.zeros((spec.steps, spec.batch, D * H))
    h_n = np.zeros((spec.num_layers * D, spec.batch, H))
    for b in range(spec.batch):
        inputs = [list(case.x[t, b]) for t in range(spec.steps)]
        for layer in range(spec.num_layers):
            outs = [[] for _ in range(spec.steps)]
            for d in range(D):
                h = list(h0[layer * D + d, b])
                times = range(spec.steps - 1, -1, -1) if d else range(spec.steps)
                states = {}
                for t in times:
                    h = naive_step(inputs[t], h, params, layer, d == 1, reset)
                    states[t] = h
                for t in range(spec.steps):
                    outs[t] = outs[t] + states[t]
                h_n[layer * D + d, b] = h
            inputs = outs
        output[:, b] = np.array(inputs)
    return output, h_n


@given(spec=specs(max_hidden=4))
def test_reset_before_oracle_equals_naive_formula(spec):
    """eq. (3') (reset before, W_hn (r * h) + b_hn) as the oracle computes it matches a
    unit-by-unit formula; eq. (3) is checked the same way, independently of nn.GRU."""
    case = spec.materialize()
    for reset in ("before", "after"):
        want_output, want_h_n = naive_gru(case, reset)
        run = gru_forward(case.x, case.params, case.h0, reset=reset)
        for what, got, want in (("output", run.output, want_output), ("h_n", run.h_n, want_h_n)):
            error = worst(got, want)
            assert error <= 1e-12, (f"got {what} off the naive reset-{reset} formula by {error:.3g}, "
                                    f"but should be within 1e-12 [gru_forward(reset={reset!r}) {spec!r}]")


def without_b_hn(params: CanonicalParams) -> CanonicalParams:
    arrays = {}
    for layer in range(params.num_layers):
        for reverse in (False, True)[: params.num_directions]:
            name = param_name("bias_hh", layer, reverse)
            b = params[name].copy()
            b[2 * params.hidden_size:] = 0.0
            arrays[name] = b
    return params.replace(arrays)


@given(spec=specs(min_hidden=2, with_h0=True))
def test_reset_placements_differ_for_several_units(spec):
    """With random per-gate weights and H >= 2, reset-before and reset-after are different
    functions: a suite that could not tell them apart would be blind."""
    case = spec.materialize()
    after = gru_forward(case.x, case.params, case.h0, reset="after")
    before = gru_forward(case.x, case.params, case.h0, reset="before")
    difference = worst(after.output, before.output)
    assert difference > 1e-6, (f"got reset-before == reset-after (difference {difference:.3g}), but they "
                               f"should differ for H >= 2 with random weights [gru_forward {spec!r}]")


@given(spec=specs(min_hidden=1, max_hidden=1))
def test_reset_placements_coincide_for_one_unit_without_b_hn(spec):
    """With H = 1 and b_hn = 0, r * (W_hn h) = W_hn (r * h): the two variants coincide."""
    case = spec.materialize()
    params = without_b_hn(case.params)
    after = gru_forward(case.x, params, case.h0, reset="after")
    before = gru_forward(case.x, params, case.h0, reset="before")
    for what, got, want in (("output", before.output, after.output), ("h_n", before.h_n, after.h_n)):
        error = worst(got, want)
        assert error <= 1e-12, (f"got reset-before {what} off reset-after by {error:.3g}, but should be "
                                f"equal for H = 1 and b_hn = 0 [gru_forward {spec!r}]")


@given(spec=specs(min_hidden=1, max_hidden=1))
def test_b_hn_separates_the_placements_even_for_one_unit(spec):
    """With H = 1 the placements still differ when b_hn != 0 (b_hn inside vs outside r *):
    the generated b_hn is kept away from zero for this reason."""
    case = spec.materialize()
    after = gru_forward(case.x, case.params, case.h0, reset="after")
    before = gru_forward(case.x, case.params, case.h0, reset="before")
    difference = worst(after.output, before.output)
    assert difference > 1e-9, (f"got reset-before == reset-after (difference {difference:.3g}), but they "
                               f"should differ when b_hn != 0 [gru_forward {spec!r}]")


@given(spec=specs(), data=st.data())
def test_step_initial_state_reproduces_each_step(spec, data):
    """Teacher forcing: a length-1 run at time t from ``step_initial_state(t)`` gives the
    full run's output at t and, per layer and direction, its states at t (``step_state``).
    equations.step relies on this to compare one step at a time."""
    case = spec.materialize()
    reset = data.draw(st.sampled_from(["after", "before"]), label="reset")
    run = gru_forward(case.x, case.params, case.h0, reset=reset)
    for t in range(spec.steps):
        one = gru_forward(case.x[t:t + 1], case.params, run.step_initial_state(t), reset=reset)
        error = worst(one.output[0], run.output[t])
        assert error <= 1e-12, (f"got the step-{t} output off the full run's by {error:.3g}, but should be "
                                f"within 1e-12 [gru_forward(x[{t}:{t + 1}], step_initial_state({t})) {spec!r}]")
        error = worst(one.h_n, run.step_state(t))
        assert error <= 1e-12, (f"got the step-{t} h_n off step_state({t}) by {error:.3g}, but should be "
                                f"within 1e-12 [gru_forward(x[{t}:{t + 1}], step_initial_state({t})) {spec!r}]")
        h_prev, want_output, want_h_n = run.teacher_forced(t)
        assert np.array_equal(h_prev, run.step_initial_state(t)) and worst(one.output, want_output) <= 1e-12 \
            and worst(one.h_n, want_h_n) <= 1e-12, f"got teacher_forced({t}) unlike the length-1 run [{spec!r}]"
    # The first forward step and the last reverse step start from h0 itself.
    h0 = run.h0
    first, last = run.step_initial_state(0), run.step_initial_state(spec.steps - 1)
    D = spec.num_directions
    for layer in range(spec.num_layers):
        assert np.array_equal(first[layer * D], h0[layer * D]), \
            f"got step_initial_state(0)[{layer * D}] != h0[{layer * D}], but should be h0 [{spec!r}]"
        if D == 2:
            assert np.array_equal(last[layer * D + 1], h0[layer * D + 1]), \
                f"got step_initial_state(T-1)[{layer * D + 1}] != h0, but should be h0 [{spec!r}]"


@given(spec=specs())
def test_oracle_states_are_bounded(spec):
    """|h0| <= 1 gives |h_t| < 1 everywhere (eq. 4 is a convex mix): the bound the
    bounds checks state holds for the oracle itself."""
    case = spec.materialize()
    run = gru_forward(case.x, case.params, case.h0)
    assert np.abs(run.output).max() <= 1.0, f"got max |h_t| {np.abs(run.output).max()}, but should be <= 1 [{spec!r}]"
