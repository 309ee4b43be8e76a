"""The gradients, precision, varlen, inputs and devices families: their references
are right, their mutants are caught by them (and, for the headline bugs, only by
them), correct implementations of the same machinery pass, and warnings and
absent devices are reported as such end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conformance.cases.generated import CaseSpec
from conformance.cases.catalogue import CHECKS, unmet_requirement
from conformance.checks import load_all
from conformance.base.devices import device_available
from conformance.grading.engine import grade
from conformance.running.grads import implementation_gradients
from conformance.grading.loading import load_subject, registry
from conformance.model.oracle import gru_forward
from conformance.model.reference_autograd import (LossWeights, gru_forward_torch, leaf_params, reference_gradients,
                                            torch_gru_gradients)
from conformance.grading.results import implementation_record, overall_verdict
from conformance.running.subject import Subject
from conformance.base.tolerances import TOLERANCES, tolerance
from tests.catches_bugs.mutants import (FORWARD_MUTANTS, MACHINERY_FAMILIES, MACHINERY_MUTANTS, grade_mutant,
                                        mutant_params)
from tests.catches_bugs.wrong_machinery import CORRECT, H0Broadcast

load_all()
ROOT = Path(__file__).resolve().parents[2]


def _specs(count: int, **fixed) -> list[CaseSpec]:
    """Deterministic cases over the generated sizes: T 1-5, B 1-3, I and H 1-4, 1-3 layers."""
    rng = np.random.default_rng(7)
    specs = []
    for i in range(count):
        values = dict(steps=int(rng.integers(1, 6)), batch=int(rng.integers(1, 4)),
                      input_size=int(rng.integers(1, 5)), hidden_size=int(rng.integers(1, 5)),
                      num_layers=int(rng.integers(1, 4)), bidirectional=bool(rng.integers(0, 2)),
                      seed=1000 + i, with_h0=bool(rng.integers(0, 2)))
        values.update(fixed)
        specs.append(CaseSpec(**values))
    return specs


def _forward(case, reset: str, lengths=None):
    spec = case.spec
    h0 = None if case.h0 is None else torch.tensor(case.h0)
    with torch.no_grad():
        output, h_n = gru_forward_torch(torch.tensor(case.x), leaf_params(case.params), h0,
                                        num_layers=spec.num_layers, bidirectional=spec.bidirectional,
                                        hidden_size=spec.hidden_size, reset=reset, lengths=lengths)
    return output.numpy(), h_n.numpy()


# --------------------------------------------------------------------------- references


@pytest.mark.parametrize("reset", ["after", "before"])
def test_reference_autograd_equals_the_oracle(reset):
    """The torch transcription used for reference gradients computes the oracle's numbers."""
    for spec in _specs(40):
        case = spec.materialize()
        output, h_n = _forward(case, reset)
        want = case.oracle(reset)
        error = max(np.abs(output - want.output).max(), np.abs(h_n - want.h_n).max())
        assert error <= 1e-12, f"got max error {error:.3g} against the oracle, but should be <= 1e-12 {spec!r}"


def test_reference_gradients_equal_torch_gru():
    """Its float64 gradients (x, h0, every parameter) equal torch.nn.GRU's."""
    for spec in _specs(30, with_h0=True):
        case = spec.materialize()
        weights = LossWeights.for_case(spec)
        got = reference_gradients(case, weights)
        want = torch_gru_gradients(case, weights)
        assert got.keys() == want.keys(), f"got gradients {sorted(got)}, but should be {sorted(want)}"
        for name in want:
            error = float(np.abs(got[name] - want[name]).max())
            assert error <= 1e-12, f"got d loss / d {name} off nn.GRU's by {error:.3g}, but should be <= 1e-12 {spec!r}"


@pytest.mark.parametrize("reset", ["after", "before"])
def test_oracle_gradients_equal_autograd_of_the_oracle(reset):
    """The NumPy back-propagation the gradient checks compare with (conformance.model.oracle_grads)
    equals torch autograd of the oracle's equations, for x, h0 (or none) and every parameter,
    with and without biases, over layers and directions."""
    from conformance.model.oracle_grads import case_gradients

    for i, spec in enumerate(_specs(40, dtype="float64")):
        spec = spec.with_(bias=i % 3 != 0)
        case = spec.materialize()
        weights = LossWeights.for_case(spec)
        for with_h0 in (True, False):
            got = case_gradients(case, weights, reset=reset, with_h0=with_h0)
            want = reference_gradients(case, weights, reset=reset, with_h0=with_h0)
            assert got.keys() == want.keys(), f"got gradients {sorted(got)}, but should be {sorted(want)} {spec!r}"
            for name in want:
                error = float(np.abs(got[name] - want[name]).max())
                assert error <= 1e-12, (f"got d loss / d {name} off autograd's by {error:.3g}, but should be <= 1e-12 "
                                        f"{spec!r} (with_h0={with_h0})")


def test_reference_with_lengths_equals_each_sample_alone():
    """With lengths, the reference gives each sample the oracle's run on its own steps
    (zeros past its length) and equals nn.GRU on a PackedSequence."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    rng = np.random.default_rng(3)
    for spec in _specs(25, steps=5, batch=3, with_h0=True):
        case = spec.materialize()
        lengths = [int(v) for v in rng.integers(1, spec.steps + 1, spec.batch)]
        output, h_n = _forward(case, "after", lengths)
        for b, length in enumerate(lengths):
            alone = gru_forward(case.x[:length, b : b + 1], case.params, case.h0[:, b : b + 1])
            assert np.abs(output[:length, b] - alone.output[:, 0]).max() <= 1e-12, f"sample {b} {spec!r}"
            assert np.all(output[length:, b] == 0), f"got non-zero padding for sample {b}, but should be 0 {spec!r}"
            assert np.abs(h_n[:, b] - alone.h_n[:, 0]).max() <= 1e-12, f"h_n of sample {b} {spec!r}"
        gru = torch.nn.GRU(spec.input_size, spec.hidden_size, spec.num_layers,
                           bidirectional=spec.bidirectional, dtype=torch.float64)
        gru.load_state_dict(case.params.tensors(torch.float64))
        packed = pack_padded_sequence(torch.tensor(case.x), torch.tensor(lengths), enforce_sorted=False)
        with torch.no_grad():
            out, hn = gru(packed, torch.tensor(case.h0))
        out, _ = pad_packed_sequence(out, total_length=spec.steps)
        assert np.abs(out.numpy() - output).max() <= 1e-12 and np.abs(hn.numpy() - h_n).max() <= 1e-12


def _finite_difference_grads(subject: Subject, spec: CaseSpec, weights: LossWeights) -> dict[str, np.ndarray]:
    """d loss / d each canonical parameter by central differences through ``load``."""
    case = spec.materialize()
    eps = 1e-6

    def loss(params) -> float:
        instance = subject.instantiate(case, params)
        result = subject.call(instance, case.x, case.h0)
        return float((result.output * weights.output).sum() + (result.h_n * weights.h_n).sum())

    grads = {}
    for name, value in case.params.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            for sign in (1, -1):
                bumped = value.copy()
                bumped[index] += sign * eps
                grad[index] += sign * loss(case.params.replace({name: bumped})) / (2 * eps)
        grads[name] = grad
    return grads


GRADS_ADAPTERS = [e.id for e in registry() if load_subject(e.id).has_grads]


@pytest.mark.slow
@pytest.mark.parametrize("impl", GRADS_ADAPTERS)
def test_adapter_grads_are_the_canonical_derivatives(impl):
    """Each registered adapter's ``grads`` gives d loss / d the canonical parameters it
    loads (finite differences through ``load``), whatever equations it computes."""
    subject = load_subject(impl)
    caps = subject.capabilities
    spec = CaseSpec(steps=3, batch=2, input_size=2, hidden_size=2, num_layers=2 if caps.multi_layer else 1,
                    bidirectional=caps.bidirectional, batch_first=subject.layouts()[0], dtype="float64",
                    seed=11, with_h0=subject.is_cell or caps.h0)
    case = spec.materialize()
    weights = LossWeights.for_case(spec)
    got, call = implementation_gradients(subject, subject.instantiate(case), case, weights,
                                         with_h0=spec.with_h0, parameters=True)
    want = _finite_difference_grads(subject, spec, weights)
    for name, value in want.items():
        error = float(np.abs(got[name] - value).max())
        assert error <= 1e-6, f"got {impl}.grads()[{name!r}] off finite differences by {error:.3g}, but should be <= 1e-6 [{call}]"


# --------------------------------------------------------------------------- mutants


def _failed(check_id: str, status: str) -> bool:
    if status in ("fail", "error"):
        return True
    return status == "warn" and CHECKS[check_id].severity == "warning"


#: Bugs only the machinery families can see: every other family passes them.
MACHINERY_ONLY = ("wrong-backward", "hn-detached", "float16-computed-in-bfloat16", "reverse-ignores-lengths",
                  "state-detached-without-h0", "input-weights-cut-for-data", "upstream-gradient-misread")


@pytest.mark.parametrize("mutant", mutant_params(MACHINERY_MUTANTS))
def test_machinery_mutant_is_caught(mutant):
    """The mutant fails every check of its caught_by and nothing outside caught_by and
    may_also_fail; those of MACHINERY_ONLY pass every check of the other families."""
    outcomes = grade_mutant(mutant, shrink=False)
    failing = {cid for cid, o in outcomes.items() if _failed(cid, o.status)}
    summary = "; ".join(f"{c}={o.status}" for c, o in outcomes.items() if o.status != "not_applicable")
    missed = sorted(mutant.caught_by - failing)
    assert not missed, f"got {missed} passing on mutant {mutant.id} ({mutant.truth}), but should fail [{summary}]"
    stray = sorted(failing - mutant.caught_by - mutant.may_also_fail)
    assert not stray, f"got unexpected failures {stray} on mutant {mutant.id}, but should be none [{summary}]"
    internal = [cid for cid, o in outcomes.items() if "internal error in the suite" in o.message]
    assert not internal, f"got internal errors in {internal} on mutant {mutant.id}, but should be none"
    if mutant.id in MACHINERY_ONLY:
        # Apart from what its catalogue entry allows (a precision bug seen by calls.converted too).
        old = sorted(c for c, o in outcomes.items()
                     if CHECKS[c].family not in MACHINERY_FAMILIES and o.status not in ("pass", "not_applicable")
                     and c not in mutant.may_also_fail)
        assert not old, f"got {old} on {mutant.id}, but only the machinery families should catch it [{summary}]"
    for cid in failing:
        message = outcomes[cid].message
        if outcomes[cid].status == "error":  # the implementation raised: its message, with the call
            assert "[" in message, f"got {cid} error {message!r}, but should name the call"
            continue
        assert "should" in message and "[" in message, f"got {cid} message {message!r}, but should read 'got X, but should be Y [call]'"


@pytest.mark.slow
@pytest.mark.parametrize("name,adapter", CORRECT, ids=[c[0] for c in CORRECT])
def test_correct_machinery_passes(name, adapter):
    """An analytic backward done right, explicit lengths done right and nn.GRU given a
    PackedSequence pass every applicable check, the machinery families included."""
    outcomes = grade(Subject(name, adapter()), shrink=False)
    bad = {c: f"{o.status}: {o.message.splitlines()[0] if o.message else ''}"
           for c, o in outcomes.items() if o.status in ("fail", "error", "blocked", "warn")}
    assert not bad, f"got {bad} on the correct {name}, but should pass every applicable check"
    ran = {c for c, o in outcomes.items() if o.status == "pass" and CHECKS[c].family in MACHINERY_FAMILIES}
    assert ran, f"got no machinery-family check run on {name}, but its claims make some apply"


def test_precision_float64_blocks_on_equation_bugs():
    """An equations bug is reported by equations.step; precision.float64 then says
    "blocked by equations.step" instead of failing a second time."""
    mutant = next(m for m in FORWARD_MUTANTS if m.id == "reset-before")
    outcomes = grade(Subject(mutant.id, mutant.adapter()), ["equations.step", "precision.float64"], shrink=False)
    assert outcomes["equations.step"].status == "fail"
    outcome = outcomes["precision.float64"]
    assert outcome.status == "blocked" and outcome.message.startswith("blocked by equations.step"), (
        f"got precision.float64={outcome.status} ({outcome.message[:120]}), but should be blocked by equations.step")


# --------------------------------------------------------------------------- reporting


def test_precision_records_error_against_tolerance_per_dtype():
    """torch-gru is graded in all four dtypes; each check records its largest step and
    sequence error, within that dtype's tolerances."""
    outcomes = grade(load_subject("torch-gru"), [f"precision.{d}" for d in ("float64", "float32", "float16", "bfloat16")])
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        outcome = outcomes[f"precision.{dtype}"]
        assert outcome.status == "pass", f"got precision.{dtype}={outcome.status}: {outcome.message[:200]}"
        step = outcome.measurements["max_error"][dtype]
        sequence = outcome.measurements["sequence_max_error"][dtype]
        assert 0 <= step <= tolerance(dtype, "step").atol + tolerance(dtype, "step").rtol
        assert 0 <= sequence <= tolerance(dtype, "sequence").atol + tolerance(dtype, "sequence").rtol
        assert outcome.measurements["tolerances"]["step"] == tolerance(dtype, "step").to_json()


def test_tolerance_table_has_every_dtype():
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        assert {"step", "sequence", "self"} <= set(TOLERANCES[dtype]), f"got kinds {sorted(TOLERANCES[dtype])} for {dtype}"
    for dtype in ("float64", "float32"):
        assert {"grad", "device"} <= set(TOLERANCES[dtype])


def test_absent_devices_are_not_applicable_with_the_reason():
    """On a machine without CUDA or MPS their checks are not applicable and say why; an
    implementation that does not claim a device is told that instead."""
    torch_gru = load_subject("torch-gru")
    doc = load_subject("doc002-gru")
    for device, word in (("cuda", "CUDA"), ("mps", "MPS")):
        meta = CHECKS[f"devices.{device}"]
        assert unmet_requirement(meta, doc) == f"the implementation does not claim the {device} device"
        if not device_available(device):
            reason = unmet_requirement(meta, torch_gru)
            assert reason and word in reason, f"got {reason!r} for devices.{device}, but should name the absent {word}"
    if not (device_available("cuda") or device_available("mps")):
        assert "only the cpu device" in unmet_requirement(CHECKS["devices.cross-device"], torch_gru)
    assert unmet_requirement(CHECKS["devices.cpu"], doc) is None


def test_warning_level_check_warns_without_failing():
    """A warning-level failure has status "warn": counted apart from the score, the
    verdict stays conformant, and the pytest run it happens in succeeds."""
    outcomes = grade(Subject("h0-broadcast", H0Broadcast()), ["inputs.wrong-shape", "equations.step"], shrink=False)
    assert outcomes["inputs.wrong-shape"].status == "warn", outcomes["inputs.wrong-shape"]
    assert overall_verdict("after", True, outcomes) == "conformant-pytorch"
    record = implementation_record("h0-broadcast", checks=outcomes)
    assert record["score"] == {"passed": 1, "applicable": 1, "warnings": 1}, record["score"]


@pytest.mark.slow
def test_warning_through_pytest(tmp_path):
    """The same through the pytest plugin: exit code 0, status "warn" in the JSON."""
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "pytest", str(ROOT / "conformance" / "checks"), "-p", "conformance.commands.grading_plugin",
               "-p", "no:cacheprovider", "-q", "--impl", "tests.catches_bugs.wrong_machinery:H0Broadcast",
               "--impl", "torch-gru", "-k", "wrong_shapes or cuda", "--results", str(results),
               "--hypothesis-profile", "quick"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"got exit code {run.returncode}, but should be 0:\n{run.stdout[-2000:]}{run.stderr[-2000:]}"
    data = json.loads(results.read_text())
    impls = {impl["id"]: impl for impl in data["implementations"]}
    mutant = impls["H0Broadcast"]
    assert mutant["checks"]["inputs.wrong-shape"]["status"] == "warn", mutant["checks"]["inputs.wrong-shape"]
    assert mutant["verdict"] != "nonconformant" and mutant["score"]["warnings"] == 1, mutant["score"]
    assert data["checks"]["inputs.wrong-shape"]["severity"] == "warning"
    if not device_available("cuda"):
        cuda = impls["torch-gru"]["checks"]["devices.cuda"]
        assert cuda["status"] == "not_applicable" and "CUDA" in cuda["message"], cuda
