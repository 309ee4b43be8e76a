"""Call patterns: what an instance goes through where it runs, beyond one load and one call.

A checkpoint loaded into an instance that has already run, calls of other batch sizes and
lengths on one instance, the same call under each autograd mode, training mode, and
conversion to another dtype after construction. Fast kernels keep state across calls
exactly there: weights packed at the first call, a workspace sized by it, a path taken only
under ``torch.no_grad()`` or only in training mode, a dtype read once at construction.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conformance.cases.catalogue import check
from conformance.cases.compare import NotReturned, assert_close, assert_results_close
from conformance.model.oracle import gru_forward
from conformance.cases.strategies import draw_case
from conformance.running.subject import GRAD_MODES

#: Where autograd stands during a call, as the messages say it.
MODE_WORDS = {"no_grad": "under torch.no_grad()", "grad": "with autograd on",
              "inference": "under torch.inference_mode()"}


def _compare(got, want, tol, *, spec, what: str, should: str) -> float:
    return assert_results_close(got, want, tol, what=what, case=spec, should=f"what {should} gives")


@check(
    "calls.reload",
    title="Parameters loaded again into an instance that has run",
    statement="an instance that has already run (under torch.no_grad(), under torch.inference_mode() or with "
    "autograd on) and is then loaded with other parameters gives the oracle's output and h_n for the new "
    "parameters: nothing computed from the old ones (packed weights, a cache) is used again",
    reference="nn.GRU.load_state_dict: its flat weights are the parameters themselves; eq. (1)-(4)",
    requires=("white_box",),
    depends_on=("equations.sequence",),
    tolerance="sequence",
)
@given(data=st.data())
def test_reload_after_a_call(subject, data):
    spec = draw_case(data, subject)
    mode = data.draw(st.sampled_from(GRAD_MODES), label="grad mode of the first call")
    case = spec.materialize()
    new_params = spec.with_(seed=spec.seed + 1).materialize().params  # same sizes, other values
    instance = subject.instantiate(case)
    subject.call(instance, case.x, case.h0, mode=mode)
    subject.reload(instance, new_params)
    got, want = subject.call_beside(instance, case.x, case.h0,
                                    lambda: gru_forward(case.x, new_params, case.h0, reset=subject.reset))
    error = _compare(got, want, subject.tolerance(spec.dtype), spec=spec,
                     what=f"new parameters loaded after a call {MODE_WORDS[mode]}",
                     should="the oracle with the new parameters")
    subject.record_error(spec.dtype, error)


@check(
    "calls.resized",
    title="Other batch sizes and lengths on one instance",
    statement="on one instance, a call with a larger batch or a longer sequence after a smaller one, and "
    "the smaller one again after it, give what a fresh instance gives for each: nothing is sized by the "
    "first call",
    reference="nn.GRU keeps no state between calls: each call's sizes are its own",
    tolerance="self",
)
@given(data=st.data())
def test_sizes_change_between_calls(subject, data):
    spec = draw_case(data, subject)
    longer = data.draw(st.integers(0, 5), label="steps added")
    wider = data.draw(st.integers(0, 4), label="samples added")
    large = spec.with_(steps=spec.steps + (longer or (0 if wider else 1)), batch=spec.batch + wider)
    small_case, large_case = spec.materialize(), large.materialize()
    instance = subject.instantiate(small_case)
    first = subject.call(instance, small_case.x, small_case.h0, seed=spec.seed)
    bigger = subject.call(instance, large_case.x, large_case.h0, seed=spec.seed)
    again = subject.call(instance, small_case.x, small_case.h0, seed=spec.seed)
    fresh = subject.call(subject.instantiate(large_case, small_case.params), large_case.x, large_case.h0,
                         seed=spec.seed)
    tol = subject.tolerance(spec.dtype)
    sizes = f"T={large.steps}, B={large.batch} after T={spec.steps}, B={spec.batch}"
    _compare(bigger, fresh, tol, spec=large, what=f"{sizes} on one instance",
             should="a fresh instance")
    _compare(again, first, tol, spec=spec,
             what=f"T={spec.steps}, B={spec.batch} again after T={large.steps}, B={large.batch}",
             should="the first call")


@check(
    "calls.grad-modes",
    title="Same values under each autograd mode",
    statement="the same call under torch.no_grad(), with autograd on and under torch.inference_mode() "
    "gives the same output and h_n",
    reference="nn.GRU computes the same function whatever autograd records",
    tolerance="self",
)
@given(data=st.data())
def test_same_values_under_each_grad_mode(subject, data):
    spec = draw_case(data, subject)
    order = data.draw(st.permutations(GRAD_MODES), label="grad modes in call order")
    case = spec.materialize()
    instance = subject.instantiate(case)
    results = {mode: subject.call(instance, case.x, case.h0, mode=mode, seed=spec.seed) for mode in order}
    tol = subject.tolerance(spec.dtype)
    first = order[0]
    for mode in order[1:]:
        _compare(results[mode], results[first], tol, spec=spec, what=f"the call {MODE_WORDS[mode]}",
                 should=f"the same call {MODE_WORDS[first]}")


@check(
    "calls.train-mode",
    title="Training mode at dropout 0 computes what inference mode computes",
    statement="put in training mode (torch's train(), or the adapter's train_mode) with dropout 0 and called "
    "with autograd on, as training calls it, the instance gives the output and h_n it gives in inference "
    "mode (eval())",
    reference="nn.GRU: train() and eval() differ only in dropout between layers, which is off at p = 0",
    tolerance="self",
)
@given(data=st.data())
def test_training_mode_equals_inference_mode(subject, data):
    spec = draw_case(data, subject)
    case = spec.materialize()
    instance = subject.instantiate(case)
    inference = subject.call(instance, case.x, case.h0, training=False, seed=spec.seed)
    training = subject.call(instance, case.x, case.h0, training=True, mode="grad", seed=spec.seed)
    _compare(training, inference, subject.tolerance(spec.dtype), spec=spec,
             what="in training mode, dropout 0", should="inference mode")


@check(
    "calls.kept-results",
    title="Returned results are the caller's",
    statement="the output and h_n a call returned keep their values after the next call on the same instance "
    "(same sizes, other values, the same autograd mode): they are the caller's tensors, not a workspace "
    "the next call writes into",
    reference="nn.GRU returns new tensors on every call",
    tolerance="self",
)
@given(data=st.data())
def test_returned_results_survive_the_next_call(subject, data):
    spec = draw_case(data, subject)
    mode = data.draw(st.sampled_from(GRAD_MODES), label="grad mode of both calls")
    case = spec.materialize()
    other = spec.with_(seed=spec.seed + 1).materialize()  # same sizes, other values
    instance = subject.instantiate(case)
    returned = subject.execute(instance, case.x, case.h0, mode=mode, keep_results=True)
    first = subject.read(instance, returned)
    subject.call(instance, other.x, other.h0, mode=mode)
    again = subject.reread(instance, returned)
    assert_results_close(again, first, subject.tolerance(spec.dtype),
                         what=f"the first call's, {MODE_WORDS[mode]}, after a second call", case=spec,
                         should="the value it had when the first call returned")


#: The dropout probability calls.train-dropout builds with.
TRAIN_DROPOUT = 0.5


@check(
    "calls.train-dropout",
    title="Training-mode dropout leaves alone what it cannot reach",
    statement=f"built with dropout p = {TRAIN_DROPOUT} and called in training mode with autograd on, the "
    "instance gives what inference mode gives wherever nn.GRU's dropout does not act: the output and h_n of "
    "a single layer, and h_n of the first layer of a stack (dropout acts only on the outputs that feed the "
    "next layer)",
    reference="nn.GRU: dropout on the outputs of each layer except the last, in training mode only",
    requires=("layer", "dropout"),
    depends_on=("calls.train-mode",),
    tolerance="self",
)
@given(data=st.data())
def test_training_dropout_spares_what_it_cannot_reach(subject, data):
    stacks = subject.capabilities.multi_layer and subject.capabilities.returns != "output"
    layers = data.draw(st.integers(1, 3 if stacks else 1), label="num_layers")
    spec = draw_case(data, subject, num_layers=layers).with_(dropout=TRAIN_DROPOUT)
    case = spec.materialize()
    instance = subject.instantiate(case)
    inference = subject.call(instance, case.x, case.h0, training=False, seed=spec.seed)
    training = subject.call(instance, case.x, case.h0, training=True, mode="grad", seed=spec.seed)
    what = f"in training mode, dropout {TRAIN_DROPOUT}"
    tol = subject.tolerance(spec.dtype)
    if layers == 1:
        _compare(training, inference, tol, spec=spec, what=f"{what}, one layer", should="inference mode")
        return
    first = spec.num_directions  # h_n's slots of layer 0
    assert_close(_slots(training.h_n, first), _slots(inference.h_n, first), tol,
                 what=f"h_n of layer 0 ({what}, {layers} layers)", call=training.call, case=spec,
                 should="what inference mode gives: no dropout acts before layer 1")


def _slots(h_n, count: int):
    return h_n if isinstance(h_n, NotReturned) else h_n[:count]


@check(
    "calls.converted",
    title="Converted to another dtype after construction",
    statement="built and loaded in one claimed dtype, converted to another claimed dtype after construction "
    "(module.to(dtype), as .double() does, or the adapter's convert) and loaded again, the instance computes "
    "in the new dtype: output and h_n are within that dtype's sequence tolerance of the float64 oracle",
    reference="nn.Module.to(dtype) converts every parameter and buffer; eq. (1)-(4)",
    requires=("white_box", "two_dtypes"),
    depends_on=("equations.sequence",),
    tolerance="sequence",
)
@given(data=st.data())
def test_converted_after_construction(subject, data):
    claimed = subject.dtypes(("float32", "float64", "float16", "bfloat16"))
    pairs = [(a, b) for a in claimed for b in claimed if a != b]
    built_in, converted_to = data.draw(st.sampled_from(pairs), label="built in, converted to")
    spec = draw_case(data, subject, dtypes=(built_in,))
    case = spec.materialize()
    instance = subject.instantiate(case)
    subject.convert(instance, converted_to)
    # Loaded again in the new dtype, as a checkpoint is: what the instance then holds is the
    # parameters rounded to that dtype alone, whatever its load computes from them.
    subject.reload(instance, case.params)
    got, want = subject.call_beside(instance, case.x, case.h0, lambda: case.oracle(subject.reset))
    error = _compare(got, want, subject.tolerance(converted_to), spec=spec,
                     what=f"built in {built_in}, converted to {converted_to}, loaded again",
                     should="the float64 oracle")
    subject.record_error(converted_to, error)
