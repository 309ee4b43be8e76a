"""``conformance.gru``, the oracle for users' own tests: nn.GRU's numbers in every layout and
call form it offers (batch-first, unbatched, lengths as a PackedSequence, a mask, a reverse
run, the complement update), no torch at import, and a clear error for bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance import CanonicalParams, gru, layouts
from conformance.base.params import random_params
from tests.oracle.test_oracle import specs, torch_gru, worst

TIGHT = 1e-12


def _close(what: str, got: np.ndarray, want: np.ndarray, call: str, tolerance: float = TIGHT) -> None:
    assert got.shape == want.shape, f"got {what} of shape {got.shape}, but should be {want.shape} [{call}]"
    if got.size == 0:
        return
    error = worst(got, want)
    assert error <= tolerance, f"got {what} off by {error:.3g}, but should be within {tolerance:g} [{call}]"


def test_importing_the_oracle_imports_no_torch():
    code = ("import sys, conformance; from conformance import gru, layouts, CanonicalParams; "
            "import conformance.model.public_oracle; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"got exit {done.returncode}: {done.stderr[-2000:]}, but the import should work"
    assert done.stdout.strip() == "[]", f"got torch modules {done.stdout.strip()} imported, but should be none"


@settings(max_examples=40)
@given(spec=specs())
def test_gru_equals_nn_gru_time_major_and_batch_first(spec):
    case = spec.materialize()
    want_output, want_h_n = torch_gru(case)
    got = gru(case.x, case.params, case.h0)
    _close("output", got.output, want_output, f"gru(x, params, h0) {spec!r}")
    _close("h_n", got.h_n, want_h_n, f"gru(x, params, h0) {spec!r}")
    batch_first = gru(case.x.swapaxes(0, 1), dict(case.params), case.h0, batch_first=True)
    _close("output", batch_first.output, want_output.swapaxes(0, 1), f"gru(batch_first=True) {spec!r}")
    _close("h_n", batch_first.h_n, want_h_n, f"gru(batch_first=True) {spec!r}")
    single = gru(case.x[:, 0], case.params, None if case.h0 is None else case.h0[:, 0])
    _close("output", single.output, gru(case.x[:, :1], case.params, None if case.h0 is None else case.h0[:, :1])
           .output[:, 0], f"gru(unbatched x (T, I)) {spec!r}")


def torch_packed(case, lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """nn.GRU on a PackedSequence (float64), padded back with zeros."""
    spec = case.spec
    module = torch.nn.GRU(spec.input_size, spec.hidden_size, spec.num_layers, bidirectional=spec.bidirectional,
                          dtype=torch.float64)
    module.load_state_dict(case.params.tensors(torch.float64))
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(case.x), torch.tensor(lengths),
                                                     enforce_sorted=False)
    with torch.no_grad():
        output, h_n = module(packed, None if case.h0 is None else torch.tensor(case.h0))
    padded, _ = torch.nn.utils.rnn.pad_packed_sequence(output, total_length=spec.steps)
    return padded.numpy(), h_n.numpy()


@settings(max_examples=40)
@given(spec=specs(), data=st.data())
def test_lengths_equal_nn_gru_on_a_packed_sequence(spec, data):
    case = spec.materialize()
    lengths = data.draw(st.lists(st.integers(1, spec.steps), min_size=spec.batch, max_size=spec.batch))
    want_output, want_h_n = torch_packed(case, lengths)
    got = gru(case.x, case.params, case.h0, lengths=lengths)
    _close("output", got.output, want_output, f"gru(lengths={lengths}) {spec!r}")
    _close("h_n", got.h_n, want_h_n, f"gru(lengths={lengths}) {spec!r}")
    mask = np.arange(spec.steps)[None, :] < np.asarray(lengths)[:, None]  # (B, T)
    as_mask = gru(case.x.swapaxes(0, 1), case.params, case.h0, batch_first=True, mask=mask)
    _close("output", as_mask.output, want_output.swapaxes(0, 1), f"gru(batch_first, mask of lengths) {spec!r}")


@settings(max_examples=30)
@given(spec=specs(), data=st.data())
def test_a_masked_step_is_as_if_it_were_not_there(spec, data):
    """Any mask, gaps included (Keras): each sample's kept steps run alone give its outputs
    at those steps and its h_n; masked outputs are 0, or with "hold" the last kept output."""
    case = spec.materialize()
    mask = np.array(data.draw(st.lists(st.lists(st.booleans(), min_size=spec.batch, max_size=spec.batch),
                                       min_size=spec.steps, max_size=spec.steps)))  # (T, B)
    zero = gru(case.x, case.params, case.h0, mask=mask)
    hold = gru(case.x, case.params, case.h0, mask=mask, masked_output="hold")
    for b in range(spec.batch):
        kept = np.flatnonzero(mask[:, b])
        h0 = None if case.h0 is None else case.h0[:, b:b + 1]
        alone = gru(case.x[kept, b:b + 1], case.params, h0)
        call = f"gru(mask={mask.T.tolist()}) sample {b} {spec!r}"
        _close("h_n", zero.h_n[:, b:b + 1], alone.h_n if kept.size else
               (np.zeros_like(zero.h_n[:, :1]) if h0 is None else h0), call)
        _close("kept outputs", zero.output[kept, b:b + 1], alone.output, call)
        _close("masked outputs", zero.output[~mask[:, b], b], np.zeros((int((~mask[:, b]).sum()), zero.output.shape[-1])),
               call)
        for t in np.flatnonzero(~mask[:, b]):
            before = kept[kept < t]
            want = zero.output[before[-1], b] if before.size and spec.num_directions == 1 else None
            if want is not None:
                _close("held output", hold.output[t, b], want, f"{call} (hold) t={t}")


@settings(max_examples=30)
@given(spec=specs(bidirectional=False, num_layers=1))
def test_reverse_reads_the_sequence_from_its_end(spec):
    case = spec.materialize()
    got = gru(case.x, case.params, case.h0, reverse=True)
    flipped = gru(case.x[::-1], case.params, case.h0)
    _close("output", got.output, flipped.output[::-1], f"gru(reverse=True) {spec!r}")
    _close("h_n", got.h_n, flipped.h_n, f"gru(reverse=True) {spec!r}")
    as_backward = {k.replace("_l0", "_l0_reverse"): v for k, v in case.params.items()}
    both = gru(case.x, {**case.params, **as_backward}, None if case.h0 is None else np.concatenate([case.h0] * 2))
    _close("output", got.output, both.output[..., spec.hidden_size:], f"gru(reverse=True) vs a backward half {spec!r}")


def complement_loop(x: np.ndarray, params: CanonicalParams, h0: np.ndarray) -> np.ndarray:
    """Chung et al. 2014 as written: reset after here, h' = (1 - z) h + z n; final state."""
    p = layouts.per_gate(params)
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    h = h0
    for x_t in x:
        r = sig(x_t @ p["W_ir"].T + p["b_ir"] + h @ p["W_hr"].T + p["b_hr"])
        z = sig(x_t @ p["W_iz"].T + p["b_iz"] + h @ p["W_hz"].T + p["b_hz"])
        n = np.tanh(x_t @ p["W_in"].T + p["b_in"] + r * (h @ p["W_hn"].T + p["b_hn"]))
        h = (1 - z) * h + z * n
    return h


@settings(max_examples=30)
@given(spec=specs(bidirectional=False, num_layers=1, with_h0=True))
def test_complement_update_is_chung_et_al(spec):
    case = spec.materialize()
    got = gru(case.x, case.params, case.h0, update="complement")
    _close("h_n", got.h_n[0], complement_loop(case.x, case.params, case.h0[0]), f"gru(update='complement') {spec!r}",
           tolerance=1e-12)
    assert worst(got.h_n, gru(case.x, case.params, case.h0).h_n) > 0 or spec.steps == 0, (
        "got the complement update equal to the PyTorch one, but they should differ")


def test_bad_input_gets_a_clear_error():
    params = random_params(np.random.default_rng(0), 3, 4, num_layers=1)
    x = np.zeros((5, 2, 3))
    cases = [
        (dict(x=np.zeros((5, 2, 4)), params=params), "got x of shape (5, 2, 4), but should be (T, B, 3)"),
        (dict(x=x, params=params, h0=np.zeros((1, 3, 4))), "got h0 of shape (1, 3, 4), but should be (1, 2, 4)"),
        (dict(x=x, params=params, lengths=[6, 1]), "got lengths [6, 1], but should be 2 integers in [0, 5]"),
        (dict(x=x, params=params, lengths=[1, 1], mask=np.ones((5, 2))), "got both lengths and mask"),
        (dict(x=x, params=params, reset="middle"), "got reset='middle'"),
        (dict(x=x, params={"weight_ih_l0": np.zeros((12, 3))}), "weight_ih_l0 and weight_hh_l0 are needed"),
        (dict(x=x, params={**params, "weight_hh_l0": np.zeros((12, 5))}), "got weight_ih_l0 of shape"),
        (dict(x=x, params={**params, "weights": np.zeros(1)}), "got parameters named ['weights']"),
    ]
    bidirectional = random_params(np.random.default_rng(0), 3, 4, bidirectional=True)
    cases.append((dict(x=x, params=bidirectional, reverse=True), "got reverse=True with bidirectional parameters"))
    for kwargs, message in cases:
        with pytest.raises(ValueError) as raised:
            gru(**kwargs)
        assert message in str(raised.value), f"got {str(raised.value)!r}, but should say {message!r}"


def test_a_state_dict_is_read_with_its_sizes():
    module = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, bias=False, dtype=torch.float64)
    params = CanonicalParams.from_arrays(module.state_dict())
    shape = (params.input_size, params.hidden_size, params.num_layers, params.bidirectional, params.bias)
    assert shape == (3, 4, 2, True, False), f"got (I, H, L, bidirectional, bias) {shape}, but should be (3, 4, 2, True, False)"
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    with torch.no_grad():
        want_output, want_h_n = module(x)
    got = gru(x.numpy(), module.state_dict())
    _close("output", got.output, want_output.numpy(), "gru(x, nn.GRU(bias=False).state_dict())")


def test_onnx_and_keras_layouts_read_back_the_canonical_parameters():
    params = random_params(np.random.default_rng(1), 3, 4, bidirectional=True)
    W = np.stack([layouts.kernel(params, "weight_ih", order="zrn", reverse=d) for d in (False, True)])
    R = np.stack([layouts.kernel(params, "weight_hh", order="zrn", reverse=d) for d in (False, True)])
    B = np.stack([np.concatenate([layouts.kernel(params, "bias_ih", order="zrn", reverse=d),
                                  layouts.kernel(params, "bias_hh", order="zrn", reverse=d)]) for d in (False, True)])
    onnx = layouts.from_onnx(W, R, B)
    assert set(onnx) == set(params) and all(worst(onnx[k], params[k]) == 0 for k in params), (
        "got from_onnx(W, R, B) different from the parameters W, R and B were written from")
    one = random_params(np.random.default_rng(2), 3, 4)
    keras = layouts.from_keras(layouts.kernel(one, "weight_ih", order="zrn", transposed=True),
                               layouts.kernel(one, "weight_hh", order="zrn", transposed=True),
                               np.stack([layouts.kernel(one, "bias_ih", order="zrn"),
                                         layouts.kernel(one, "bias_hh", order="zrn")]))
    assert all(worst(keras[k], one[k]) == 0 for k in one), (
        "got from_keras(kernel, recurrent_kernel, bias) different from the parameters they were written from")
