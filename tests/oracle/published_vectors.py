"""GRU test vectors other projects publish, copied with how each is built.

Each vector names its source (repository, path, commit, test), the convention and layout it
is computed in, the call of ``conformance.gru`` that reproduces it and the numbers the source
expects. ``tests/oracle/test_published_vectors.py`` holds the oracle to each (within 1e-6, or half a
unit of the last printed digit where the source prints fewer) and says what each vector can
tell apart: most use constant weights, under which swapped r and z gates give bit-identical
outputs (BRIEF: the constant-weight blind spot), so those vectors check directions, masking,
biases and the update polarity, not the gate order.

- ONNX: the node tests of ``onnx/backend/test/case/node/gru.py``. Their expected outputs come
  from ONNX's own NumPy reference (``GRUHelper``) on the inputs built there; the stored
  ``test_data_set_0/*.pb`` files were binary and were removed by onnx#7959, after which ONNX
  builds node-test data in memory. The numbers below are what ONNX's generator gives
  (``onnx.backend.test.case.node.collect_testcases("GRU")``, onnx 1.23.2), float32. The stored
  ``output_0.pb`` of ``test_gru_defaults`` at commit 02ef8dd2bd99f7f7601a4d78b78a6bbb89becce1
  holds the same values: two of its three to one unit in the last place (float32), the third
  in its three high bytes (its lowest byte is not legible in the copy read).
  ``linear_before_reset`` is 0 in every one: reset before, b_hn outside the reset product.
- Keras 3: ``keras/src/layers/rnn/gru_test.py``, constant initializers (kernel 0.01, recurrent
  0.02, bias 0.03), batch-first, the numbers printed in the tests.
- TensorFlow: ``tensorflow/python/kernel_tests/nn_ops/rnn_cell_test.py``, the TF1 ``GRUCell``
  (reset before, gate kernel over cat(x, h) with r then u, gate bias 1.0, candidate bias 0)
  under a constant 0.5 initializer, the numbers printed in the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance import gru, layouts
from conformance.base.params import CanonicalParams

ONNX = ("onnx/onnx", "onnx/backend/test/case/node/gru.py", "7552ebcc71fade347977bee05afcd3e4fda55477")
#: export_reverse and export_bidirectional are not in that commit: they are in the onnx 1.23.2 release.
ONNX_RELEASE = ("onnx/onnx", "onnx/backend/test/case/node/gru.py", "onnx 1.23.2 release")
KERAS = ("keras-team/keras", "keras/src/layers/rnn/gru_test.py", "03313da2aabb3874a5424183a8a065c7e76d79df")
TENSORFLOW = ("tensorflow/tensorflow", "tensorflow/python/kernel_tests/nn_ops/rnn_cell_test.py",
              "198c80751ab4b95c628d1f05cefc79ea0c6f4358")


@dataclass(frozen=True)
class Vector:
    name: str
    #: (repository, path, commit or release), and the test in it.
    source: tuple[str, str, str]
    test: str
    reset: str
    layout: str
    #: Keyword arguments of ``conformance.gru`` (x, params, h0, batch_first, reverse, mask...).
    call: dict[str, Any]
    #: What the source expects, each compared with ``pick(result)`` of the same name.
    expected: dict[str, np.ndarray]
    #: name -> the part of ``gru(**call)`` the expectation is about.
    pick: dict[str, Callable[[Any], np.ndarray]]
    #: Half a unit of the last printed digit, where the source prints fewer than 1e-6 needs.
    printed_decimals: int | None = None
    #: Which wrong GRUs give other numbers here (held by the self-test): "reset placement",
    #: "gate order" (r and z swapped), "update polarity".
    tells_apart: frozenset[str] = field(default_factory=frozenset)
    #: The source calls the GRU twice (Keras ``stateful=True``): the expectation is about the
    #: second call, which starts from the state the first one left.
    again: bool = False

    @property
    def tolerance(self) -> float:
        return 1e-6 if self.printed_decimals is None else max(1e-6, 0.5 * 10.0 ** -self.printed_decimals)


WRONG_GRUS = ("reset placement", "gate order", "update polarity")


def reproduce(vector: Vector, wrong: str | None = None) -> dict[str, np.ndarray]:
    """The oracle's numbers for what ``vector`` expects, in its convention; with ``wrong``, those
    of a GRU with that mistake: the other reset placement, r and z swapped, or the other
    update polarity."""
    call = dict(vector.call, reset=vector.reset)
    if wrong == "reset placement":
        call["reset"] = "before" if vector.reset == "after" else "after"
    elif wrong == "gate order":
        call["params"] = _swap_r_z(call["params"])
    elif wrong == "update polarity":
        call["update"] = "complement"
    elif wrong is not None:
        raise ValueError(f"got wrong={wrong!r}, but it is one of {WRONG_GRUS}")
    result = gru(**call)
    if vector.again:
        result = gru(**dict(call, h0=result.h_n))
    return {name: np.asarray(pick(result)) for name, pick in vector.pick.items()}


def _swap_r_z(params: CanonicalParams) -> CanonicalParams:
    """The same parameters with the r and z blocks exchanged in every weight and bias."""
    hidden = params.hidden_size
    order = np.r_[hidden:2 * hidden, 0:hidden, 2 * hidden:3 * hidden]
    return params.replace({name: array[order] for name, array in params.items()})


def _units(rows: list[float], hidden: int) -> np.ndarray:
    """Rows whose every unit is equal (constant weights), as the source gives them: (len, H)."""
    return np.repeat(np.asarray(rows, dtype=np.float64)[:, None], hidden, axis=1)


def _onnx_constant(hidden: int, input_size: int, scale: Any, directions: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """W and R as ONNX's tests build them: ``weight_scale * np.ones(...)``, float32."""
    scales = np.asarray(scale, dtype=np.float32).reshape(-1, 1, 1)
    w = (scales * np.ones((1, 3 * hidden, input_size))).astype(np.float32)
    r = (scales * np.ones((1, 3 * hidden, hidden))).astype(np.float32)
    return (np.repeat(w, directions, 0), np.repeat(r, directions, 0)) if scales.shape[0] == 1 else (w, r)


def _onnx_y(y: np.ndarray) -> np.ndarray:
    """ONNX's Y [T, D, B, H] as output (T, B, D*H)."""
    steps, directions, batch, hidden = y.shape
    return y.transpose(0, 2, 1, 3).reshape(steps, batch, directions * hidden)


H_N = lambda r: r.h_n  # noqa: E731
OUTPUT = lambda r: r.output  # noqa: E731
LAST_STATE = lambda r: r.h_n[-1]  # noqa: E731 - a Keras layer's last output, (B, H)
BOTH = frozenset(WRONG_GRUS)


def onnx_vectors() -> list[Vector]:
    vectors = []
    x = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]], np.float32)  # (T=1, B=3, I=2)
    w, r = _onnx_constant(5, 2, 0.1)
    vectors.append(Vector(
        "onnx-defaults", ONNX, "export_defaults (test_gru_defaults)", "before", "time-major (layout 0)",
        {"x": x, "params": layouts.from_onnx(w, r)},
        {"Y_h": _units([0.12397028, 0.20053661, 0.19991653], 5)[None]}, {"Y_h": H_N},
        tells_apart=frozenset({"update polarity"})))

    x = np.array([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]], np.float32)  # (1, 3, 3)
    w, r = _onnx_constant(3, 3, 0.1)
    b = np.concatenate([0.1 * np.ones((1, 9)), np.zeros((1, 9))], axis=1).astype(np.float32)
    vectors.append(Vector(
        "onnx-initial-bias", ONNX, "export_initial_bias (test_gru_with_initial_bias)", "before",
        "time-major (layout 0)", {"x": x, "params": layouts.from_onnx(w, r, b)},
        {"Y_h": _units([0.20053661, 0.15482338, 0.07484276], 3)[None]}, {"Y_h": H_N},
        tells_apart=frozenset({"update polarity"})))

    # np.random.seed(0) before each export (onnx/backend/test/case/base.py), then W, R, W_B, R_B.
    rng = np.random.RandomState(0)
    x = np.array([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]],
                  [[10.0, 11.0, 12.0], [13.0, 14.0, 15.0], [16.0, 17.0, 18.0]]], np.float32)  # (2, 3, 3)
    w = rng.randn(1, 15, 3).astype(np.float32)
    r = rng.randn(1, 15, 5).astype(np.float32)
    b = np.concatenate([rng.randn(1, 15), rng.randn(1, 15)], axis=1).astype(np.float32)
    vectors.append(Vector(
        "onnx-seq-length", ONNX, "export_seq_length (test_gru_seq_length)", "before", "time-major (layout 0)",
        {"x": x, "params": layouts.from_onnx(w, r, b)},
        {"Y_h": np.array([[[-1.30672904e-03, -7.35266432e-02, 3.93016726e-01, -1.13064027e-03, -1.48789003e-01],
                           [-1.18005026e-07, -6.67571976e-06, 7.50086010e-02, -2.74181366e-06, -8.99322331e-03],
                           [0.0, 0.0, 9.96355992e-03, 0.0, -1.94925844e-04]]])},
        {"Y_h": H_N}, tells_apart=BOTH))

    x = np.array([[[1.0, 2.0]], [[3.0, 4.0]], [[5.0, 6.0]]], np.float32)  # layout 1: (B=3, T=1, I=2)
    w, r = _onnx_constant(6, 2, 0.2)
    rows = _units([0.19030015, 0.1751368, 0.09733082], 6)  # (B, H)
    vectors.append(Vector(
        "onnx-batchwise", ONNX, "export_batchwise (test_gru_batchwise)", "before", "batch-first (layout 1)",
        {"x": x, "params": layouts.from_onnx(w, r), "batch_first": True},
        {"Y": rows[:, None, :], "Y_h": rows[None]},  # Y [B, T, D, H] with D = 1; Y_h [B, D, H] read as [D, B, H]
        {"Y": OUTPUT, "Y_h": H_N}, tells_apart=frozenset({"update polarity"})))

    x = np.array([[[1.0, 2.0]], [[3.0, 4.0]], [[5.0, 6.0]]], np.float32)  # (T=3, B=1, I=2)
    w, r = _onnx_constant(5, 2, 0.1)
    y = _units([0.35567555, 0.33831972, 0.19991653], 5)[:, None, None, :]  # Y [T, D, B, H]
    vectors.append(Vector(
        "onnx-reverse", ONNX_RELEASE, "export_reverse (test_gru_reverse)", "before", "time-major (layout 0)",
        {"x": x, "params": layouts.from_onnx(w, r), "reverse": True},
        {"Y": _onnx_y(y), "Y_h": y[0, 0][None]}, {"Y": OUTPUT, "Y_h": H_N},
        tells_apart=frozenset({"update polarity"})))

    w, r = _onnx_constant(5, 2, [0.5, 2.0])  # forward 0.5, reverse 2.0
    forward = _units([1.6512211e-01, 1.8146382e-01, 1.8358351e-01], 5)
    backward = _units([2.4733816e-03, 8.3446503e-07, 0.0], 5)
    y = np.stack([forward, backward], axis=1)[:, :, None, :]  # Y [T, D=2, B=1, H]
    vectors.append(Vector(
        "onnx-bidirectional", ONNX_RELEASE, "export_bidirectional (test_gru_bidirectional)", "before",
        "time-major (layout 0)", {"x": x, "params": layouts.from_onnx(w, r)},
        {"Y": _onnx_y(y), "Y_h": np.stack([forward[-1], backward[0]])[:, None, :]}, {"Y": OUTPUT, "Y_h": H_N},
        tells_apart=frozenset({"update polarity"})))
    return vectors


def _keras_params(input_size: int, units: int, *, reset_after: bool = True, use_bias: bool = True) -> CanonicalParams:
    """Constant(0.01) kernel, Constant(0.02) recurrent kernel, Constant(0.03) bias."""
    kernel = np.full((input_size, 3 * units), 0.01, np.float32)
    recurrent = np.full((units, 3 * units), 0.02, np.float32)
    bias = np.full((2, 3 * units) if reset_after else (3 * units,), 0.03, np.float32)
    return layouts.from_keras(kernel, recurrent, bias if use_bias else None)


def keras_vectors() -> list[Vector]:
    correctness = np.arange(72).reshape((3, 6, 4)).astype("float32")
    small = np.arange(24).reshape((2, 4, 3)).astype("float32")
    initial_state = np.arange(4).reshape((2, 2)).astype("float32")[None]  # Keras' (B, H) as h0 (1, B, H)
    mask = np.array([[True, True, False, True], [True, False, False, True]])

    def layer(name, test, x, units, expected, *, tells, pick=LAST_STATE, reset_after=True, use_bias=True,
              again=False, **call):
        params = _keras_params(x.shape[-1], units, reset_after=reset_after, use_bias=use_bias)
        return Vector(name, KERAS, test, "after" if reset_after else "before", "batch-first",
                      {"x": x, "params": params, "batch_first": True, **call},
                      {"output": np.asarray(expected, dtype=np.float64)}, {"output": pick}, tells_apart=tells,
                      again=again)

    polarity_and_bias = frozenset({"reset placement", "update polarity"})  # b_hn = 0.03 sits inside or outside r*
    return [
        layer("keras-correctness", "test_correctness", correctness, 3,
              _units([0.5217289, 0.6371659, 0.39384964], 3), tells=polarity_and_bias),
        layer("keras-go-backwards", "test_correctness (go_backwards=True)", correctness, 3,
              _units([0.24406259, 0.611516, 0.3928808], 3), reverse=True, tells=polarity_and_bias),
        layer("keras-reset-before", "test_correctness (reset_after=False)", correctness, 3,
              _units([0.51447755, 0.6426879, 0.40208298], 3), reset_after=False,
              tells=frozenset({"update polarity"})),  # one bias, on the input side: b_hn = 0
        layer("keras-no-bias", "test_correctness (use_bias=False)", correctness, 3,
              _units([0.49988455, 0.64701194, 0.4103359], 3), use_bias=False,
              tells=frozenset({"update polarity"})),
        # stateful=True: the second call starts from the state the first one left.
        layer("keras-stateful", "test_statefulness (second call)", np.arange(24).reshape((2, 3, 4)).astype("float32"),
              4, _units([0.29542392, 0.5885018], 4), tells=polarity_and_bias, again=True),
        layer("keras-initial-state", "test_pass_initial_state", small, 2,
              [[0.23774096, 0.33508456], [0.83659905, 1.0227708]], h0=initial_state, tells=polarity_and_bias),
        layer("keras-initial-state-backwards", "test_pass_initial_state (go_backwards=True)", small, 2,
              [[0.13486053, 0.23261218], [0.78257304, 0.9691353]], h0=initial_state, reverse=True,
              tells=polarity_and_bias),
        layer("keras-masking-last", "test_masking (unroll=True)", small, 2,
              _units([0.19393763, 0.30818558], 2), mask=mask, tells=polarity_and_bias),
        layer("keras-masking-sequences", "test_masking (return_sequences=True)", small, 2,
              np.stack([_units([0.03606692, 0.09497581, 0.09497581, 0.19393763], 2),
                        _units([0.16051409, 0.16051409, 0.16051409, 0.30818558], 2)]),
              pick=OUTPUT, mask=mask, masked_output="hold", tells=polarity_and_bias),
        layer("keras-masking-zero-output", "test_masking (return_sequences=True, zero_output_for_mask=True)", small,
              2, np.stack([_units([0.03606692, 0.09497581, 0.0, 0.19393763], 2),
                           _units([0.16051409, 0.0, 0.0, 0.30818558], 2)]),
              pick=OUTPUT, mask=mask, tells=polarity_and_bias),
        layer("keras-masking-backwards", "test_masking (go_backwards=True)", small, 2,
              _units([0.11669192, 0.28380975], 2), mask=mask, reverse=True, tells=polarity_and_bias),
    ]


def _tf_grucell(input_size: int, units: int, value: float = 0.5) -> CanonicalParams:
    """TF1 ``GRUCell`` under ``constant_initializer(value)``: gates/kernel (I + H, 2H), r then u,
    over cat(x, h); candidate/kernel (I + H, H) over cat(x, r * h); gates/bias 1.0 (its own
    default initializer); candidate/bias 0."""
    gate_kernel = np.full((input_size + units, 2 * units), value)
    candidate_kernel = np.full((input_size + units, units), value)
    w_ih, w_hh = layouts.from_concat_xh({"r": gate_kernel[:, :units].T, "z": gate_kernel[:, units:].T,
                                         "n": candidate_kernel.T}, input_size)
    b_ih = np.concatenate([np.ones(2 * units), np.zeros(units)])  # one bias per gate, on the input side
    return CanonicalParams.from_arrays({"weight_ih_l0": w_ih, "weight_hh_l0": w_hh, "bias_ih_l0": b_ih,
                                        "bias_hh_l0": np.zeros(3 * units)})


def tensorflow_vectors() -> list[Vector]:
    two_layers = _tf_grucell(2, 2)
    second = _tf_grucell(2, 2)  # layer 1 reads layer 0's (1, 2) output
    stacked = CanonicalParams.from_arrays({**two_layers, **{k.replace("_l0", "_l1"): v for k, v in second.items()}})
    return [
        Vector("tf-grucell", TENSORFLOW, "RNNCellTest.testGRUCell", "before", "one step (x (1, 2), h (1, 2))",
               {"x": np.array([[[1.0, 1.0]]]), "params": _tf_grucell(2, 2), "h0": np.full((1, 1, 2), 0.1)},
               {"new_h": np.array([[0.175991, 0.175991]])}, {"new_h": LAST_STATE}, printed_decimals=6,
               tells_apart=frozenset({"update polarity"})),
        Vector("tf-grucell-input-3", TENSORFLOW, "RNNCellTest.testGRUCell (input_size != num_units)", "before",
               "one step (x (1, 3), h (1, 2))",
               {"x": np.array([[[1.0, 1.0, 1.0]]]), "params": _tf_grucell(3, 2), "h0": np.full((1, 1, 2), 0.1)},
               {"new_h": np.array([[0.156736, 0.156736]])}, {"new_h": LAST_STATE}, printed_decimals=6,
               tells_apart=frozenset({"update polarity"})),
        Vector("tf-multirnncell", TENSORFLOW, "RNNCellTest.testMultiRNNCell (two GRUCells)", "before",
               "one step, two layers (state (1, 4): both layers' h)",
               {"x": np.array([[[1.0, 1.0]]]), "params": stacked, "h0": np.full((2, 1, 2), 0.1)},
               {"state": np.array([[0.175991, 0.175991, 0.13248, 0.13248]])},
               {"state": lambda r: r.h_n.transpose(1, 0, 2).reshape(1, -1)}, printed_decimals=5,
               tells_apart=frozenset({"update polarity"})),
    ]


def all_vectors() -> list[Vector]:
    return onnx_vectors() + keras_vectors() + tensorflow_vectors()
