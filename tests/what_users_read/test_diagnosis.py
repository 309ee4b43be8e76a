"""The diagnosis names what an implementation computes: the variant oracles agree
with the oracle and with each other, the probes make every mechanism visible, every
mutant of ``tests/catches_bugs/mutants.py`` and every document implementation is diagnosed as
what it is known to compute, correct implementations are diagnosed as conforming,
indistinguishable switches are reported "undetermined", and nothing raises."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from conformance import Capabilities, GRUConfig, LayerAdapter
from conformance.cases.generated import CaseSpec
from conformance.diagnosis import BLACK_BOX_NOTE, PROBES, Probe, diagnose, diagnosis_note, probe
from conformance.grading.loading import load_subject
from conformance.model.oracle import gru_forward
from conformance.base.params import CanonicalParams, gate_rows
from conformance.running.subject import Subject
from conformance.model.variants import (
    B_HN,
    BIAS_BLOCKS,
    BIAS_FACTORS,
    GATE_NAMES,
    FORMULAS,
    LENGTH_SWITCHES,
    ORDERS,
    PYTORCH,
    RESET_BEFORE,
    RESETS,
    STANDARD,
    UPDATES,
    CellBlocks,
    CellVariant,
    Structure,
    canonical,
    formula_states,
    lengths_forward,
    structures,
    variant_direction,
    variant_forward,
)
from conformance.implementations.doc001 import Doc001Cell
from tests.catches_bugs.mutants import FORWARD_MUTANTS, ReferenceCell, ReferenceGRU, mutant_params
from tests.passes_correct.correct import CORRECT

ROOT = Path(__file__).resolve().parents[2]
ZRN = PYTORCH.with_order((1, 0, 2))

# --------------------------------------------------------------------------- expectations
# What each mutant is known to compute (its catalogue ``truth``), as the diagnosis must
# say it: the convention fitted to its equations, phrases the summary must contain, and
# for equation bugs which quantity explains the first departure (at t = 0, layer 0).


def expect(variant: CellVariant, *phrases: str, quantity: str | None = None, conforming: bool | None = None) -> dict:
    return {"variant": variant, "phrases": phrases, "quantity": quantity,
            "conforming": variant == PYTORCH if conforming is None else conforming}


MUTANT_EXPECTATIONS: dict[str, dict] = {
    "reset-before": expect(RESET_BEFORE, "computes the reset-before variant", "although it claims the PyTorch GRU",
                           quantity="n"),
    "bhn-outside-reset": expect(replace(PYTORCH, b_hn="outside"), "b_hn is outside the reset product", quantity="n"),
    "bhn-dropped": expect(replace(PYTORCH, b_hn="dropped"), "b_hn is dropped", quantity="n"),
    "bias-twice": expect(replace(PYTORCH, fold_b_hh=True), "b_hh is counted twice",
                         "b_hn sits both outside and inside", quantity="input projection"),
    "gate-layout-zrn": expect(ZRN, "reads the canonical gate blocks as z, r, n", "r and z swapped",
                              quantity="r and z"),
    "update-complement": expect(replace(PYTORCH, update="complement"), "h' = (1 - z) * h + z * n", quantity="z"),
    # Handed the update gate negated (its claim), it computes the complement of the canonical form.
    "claims-complement": expect(replace(PYTORCH, update="complement"),
                                'the adapter\'s claim reset = "after" would make it conform', quantity="z"),
    "precedence-slip": expect(replace(PYTORCH, update="slip"), "h' = h - z + z * n", quantity="h'"),
    "naive-tanh": expect(PYTORCH, "not finite", "tanh computed from exp(2a)"),
    "backward-output-reversed": expect(PYTORCH, "backward half of output is left in processing"),
    "reverse-not-reversed": expect(PYTORCH, "the reverse direction reads the sequence in forward order"),
    "h0-wrong-slot": expect(PYTORCH, "h0 is indexed by layer only, h0[layer]"),
    "hn-wrong-end": expect(PYTORCH, "h_n's backward slot holds the reverse direction's state after one step"),
    "output-time-major": expect(PYTORCH, "output is returned time-major (T, B, D*H) although batch_first is set"),
    "hn-batch-first": expect(PYTORCH, "h_n is returned (B, L*D, H) instead of (L*D, B, H)"),
    "stale-workspace": expect(PYTORCH, "starts from the previous call's final states"),
    "none-skips-bias": expect(PYTORCH, "h0 = None and h0 = zeros give different results", "with h0 = None",
                              "bias_hh is ignored"),
    "h0-ignored": expect(PYTORCH, "h0 is ignored"),
    "h0-in-place": expect(PYTORCH, "overwrites the caller's h0 tensor in place", "holds h_n"),
    "float32-inside": expect(PYTORCH, "only to float32 precision", "a float64 call returns float32"),
    "dropout-on": expect(PYTORCH, "differ from layer 1 on", "dropout"),
    "sorted-batch": expect(PYTORCH, "batch rows come back permuted", "sorted by sum |x|, largest first"),
    "unbatched-as-batch": expect(PYTORCH, "unbatched (T, I) input is run as one step of a batch of T"),
    "squeezed-result": expect(PYTORCH, "h_n has shape (3, 3), but should have shape (1, 3, 3)"),
    "non-contiguous-read": expect(PYTORCH, "a non-contiguous x or h0",
                                  "it reads the storage as if the tensor were contiguous"),
    "float16-in-bfloat16": expect(PYTORCH, "float16 inputs are computed in a coarser precision"),
    "float32-in-bfloat16": expect(PYTORCH, "float32 inputs are computed in a coarser precision"),
    "bfloat16-hard-sigmoid": expect(PYTORCH, "in bfloat16, r and z use a hard sigmoid, clip(0.2 a + 0.5, 0, 1)"),
    "padding-carries-state": expect(PYTORCH, "outputs past a sample's length are not zero"),
    "reverse-from-padded-end": expect(PYTORCH, "the reverse direction ignores the lengths: it starts at t = T - 1"),
    "packed-order-ignored": expect(PYTORCH, "the output matches no known handling of a variable-length batch"),
    "state-through-padding": expect(PYTORCH, "the forward recurrence runs over the padding",
                                    "the reverse direction ignores the lengths"),
    # The structural deviations, each named.
    "no-input-rz": expect(replace(PYTORCH, no_input=("r", "z")), "r and z have no input term",
                          "r and z do not depend on x", quantity="r and z"),
    "no-recurrent-z": expect(replace(PYTORCH, no_recurrent=("z",)), "z has no recurrent term (W_hz h + b_hz missing)",
                             quantity="z"),
    "no-hidden-gate-bias": expect(replace(PYTORCH, no_bias=("b_hr", "b_hz")), "b_hr and b_hz are missing",
                                  quantity="b_hr and b_hz"),
    "no-reset-candidate": expect(replace(PYTORCH, reset="none"), "the candidate has no reset gate", quantity="n"),
    "hn-last-layer-only": expect(PYTORCH, "h_n is read from the last layer's output sequence only"),
    # Two bugs: the diagnosis names the one in its scope and says where the other stopped a probe.
    "crash-small-and-backward-state": expect(
        PYTORCH, "h_n's backward slot holds the reverse direction's state after one step",
        "the step-by-step localization failed (run raised IndexError"),
    "float32-zeros-and-backward-state": expect(
        PYTORCH, "h_n's backward slot holds the reverse direction's state after one step",
        "a call without h0 fails: run raised RuntimeError: expected m1 and m2 to have the same dtype"),
    "exp-tanh-float64": expect(PYTORCH, "not finite", "float64"),
}

#: Mutants whose diagnosis summary must lead with the bug: it starts with the first departure.
LEADS_WITH = {
    "hn-wrong-end": "first departs at h_n's layer 0, backward direction slot",
    "crash-small-and-backward-state": "first departs at h_n's layer 0, backward direction slot",
    "float32-zeros-and-backward-state": "first departs at h_n's layer 0, backward direction slot",
    "reset-before": "first departs at t=0, layer 0, forward direction",
    "no-input-rz": "first departs at t=0, layer 0, forward direction",
}

#: Mutants whose bug is outside the forward values of valid calls on this machine (the
#: diagnosis' scope): it must still name their true convention, the PyTorch GRU, and
#: report nothing else; their checks name the bug.
OUTSIDE_SCOPE: dict[str, str] = {
    "h0-broadcast": "input validation: accepts an h0 of the wrong shape",
    "unbatched-cell-keeps-batch": "the shape of an unbatched step only (the diagnosis probes batches)",

    "silent-cast": "input validation: accepts inputs of the wrong dtype",
    "default-device-zeros": "devices: wrong only where the input is not on the default device",
    "detached-state": "gradients only: exact values",
    "wrong-tanh-backward": "gradients only: exact values",
    "bias-hh-buffer": "gradients only: exact values",
    "grad-mode-leak": "process-wide state only: exact values",
    "reseeds-torch": "process-wide state only: exact values",
    "patches-torch": "process-wide state only: exact values",
    "hidden-tail-tile": "sizes past the probes' only: exact for H <= 16",
    "batch-tile-h0": "sizes past the probes' only: exact for B <= 6",
    "chunk-state-dropped": "sizes past the probes' only: exact for T <= 32",
    "workspace-ring": "sizes past the probes' only: exact for T <= 8",
    "input-width-cap": "sizes past the probes' only: exact for inputs of up to 48 features",
    "wide-strided-read": "sizes past the probes' only: exact for I <= 24",
    "bias-false-ignored": "bias=False only: exact with bias",
    "dropout-at-inference": "dropout only: exact when built with dropout=0",
    "long-chunk-half-state": "sequences past 256 steps only",
    "production-hidden-tail-tile": "sizes past the probes' only: exact for H <= 256",
    "production-batch-tile-h0": "sizes past the probes' only: exact for B <= 256",
    "production-chunk-state-dropped": "sizes past the probes' only: exact for T <= 512",
    "large-input-fast-path": "sizes past the probes' only: exact for inputs of fewer than 2^15 elements",
    "transposed-view-misread": "input layouts only: exact for contiguous and every-other-element inputs",
    "storage-offset-ignored": "input layouts only: exact for inputs without a storage offset",
    "view-not-reshape": "input layouts only: exact for contiguous and every-other-element inputs",
    "stale-packed-weights": "parameters loaded again after a call only",
    "train-mode-bhn-outside": "training mode only: exact in eval mode",
    "first-call-workspace": "a later call with a larger batch only",
    "output-workspace-returned": "results read again after a later call only: every call's own values exact",
    "dropout-on-last-layer": "training-mode dropout only: exact in eval mode",
    "zero-step-held": "all-zero input steps only: the probes' inputs have none",
    "inference-kernel-reset-before": "torch.inference_mode() only: exact under no_grad and with autograd on",
    "construction-dtype": "conversion after construction only",
}

#: Mutants whose claims the probes cannot follow: not diagnosed, and the note says why
#: (their checks grade them).
NOT_DIAGNOSED: dict[str, str] = {
    "no-biases-keeps-its-own": "it has no biases",
    "bidirectional-only-reverse-forward": "it runs bidirectional only",
    "shared-h0-first-layer-only": "it takes one shared initial state",
    "state-only-wrong-end": "it returns only its final state",
}

SLIP_BEFORE = replace(RESET_BEFORE, update="slip")
#: The document implementations (seeds/): doc000's update is the precedence slip on the
#: reset-before candidate, doc001's GRUCell is the complement polarity it claims; the rest are PyTorch.
DOCUMENT_EXPECTATIONS: dict[str, dict] = {
    "doc000-cell": expect(SLIP_BEFORE, "computes the reset-before variant", "h' = h - z + z * n", quantity="h'"),
    "doc000-simplegru": expect(SLIP_BEFORE, "computes the reset-before variant", "h' = h - z + z * n",
                               "h_n has shape (3, 3)", quantity="h'"),
    "doc001-cell": expect(RESET_BEFORE, "matches the reset-before GRU with the complement update", conforming=True),
    "doc001-aisummer-cell": expect(PYTORCH),
    "doc002-gru": expect(PYTORCH),
    "doc003-gru": expect(PYTORCH),
    "doc004-cell": expect(PYTORCH),
    "torch-gru": expect(PYTORCH),
    "torch-grucell": expect(PYTORCH),
}


def fitted(diagnosis: dict) -> CellVariant:
    """The fitted convention back as a CellVariant (from the JSON the report gets)."""
    v = diagnosis["convention"]["variant"]
    orders = {name: tuple("rzn".index(g) for g in text.split(", ")) for name, text in v["gate_order"].items()}
    return CellVariant(reset=v["reset"], b_hn=v["b_hn"], update=v["update"],
                       order_w_ih=orders["weight_ih"], order_w_hh=orders["weight_hh"],
                       order_b_ih=orders["bias_ih"], order_b_hh=orders["bias_hh"],
                       bias_ih=v["bias_ih_times"], bias_hh=v["bias_hh_times"], fold_b_hh=v["b_hh_folded_into_input"],
                       no_input=tuple(v["no_input_term"]), no_recurrent=tuple(v["no_recurrent_term"]),
                       no_bias=tuple(v["no_bias"]))


def assert_diagnosed_as(name: str, diagnosis: dict, expected: dict, *, conforming: bool) -> None:
    assert diagnosis is not None, f"got no diagnosis for {name}, but it is white-box"
    summary = diagnosis["summary"]
    assert diagnosis["convention"]["matches"], \
        f"got no matching convention for {name} ({summary}), but should match {expected['variant']}"
    assert fitted(diagnosis) == canonical(expected["variant"]), \
        f"got convention {diagnosis['convention']['description']!r} for {name}, but should be {expected['variant']}"
    for phrase in expected["phrases"]:
        assert phrase in summary, f"got summary {summary!r} for {name}, but it should say {phrase!r}"
    want_status = "conforming" if conforming else "identified"
    assert diagnosis["status"] == want_status, \
        f"got status {diagnosis['status']!r} for {name} ({summary}), but should be {want_status!r}"
    if conforming:
        claimed = "matches the PyTorch GRU" if expected["variant"] == PYTORCH else "matches the"
        assert summary.startswith(f"conforms in its forward values: {claimed}"), \
            f"got summary {summary!r} for {name}, but should say it conforms ({claimed!r})"
        assert not diagnosis["findings"] and diagnosis["first_divergence"] is None, \
            f"got findings {diagnosis['findings']} for {name}, but a conforming implementation has none"
    if name in LEADS_WITH:
        assert summary.startswith(LEADS_WITH[name]), \
            f"got summary {summary!r} for {name}, but it should lead with the bug: {LEADS_WITH[name]!r}"
    if not conforming:
        assert "matches the" not in summary, \
            f"got summary {summary!r} for {name}, but something departs: it should not say it matches a convention"
    if expected["quantity"] is not None:
        first = diagnosis["first_divergence"]
        assert first is not None and (first["t"], first["layer"]) == (0, 0), \
            f"got first divergence {first} for {name}, but should be at t=0, layer 0"
        explained = first["explained_by"] or {}
        assert expected["quantity"] in explained.get("quantity", ""), \
            f"got it explained by {explained} for {name}, but should be explained by {expected['quantity']!r}"
        assert explained.get("error", 1.0) < 1e-6, \
            f"got substitution error {explained.get('error')} for {name}, but the substitution should reproduce the step"


# --------------------------------------------------------------------------- variant oracles


SPECS = [
    CaseSpec(5, 3, 2, 4, seed=1),
    CaseSpec(4, 3, 3, 2, num_layers=3, seed=2),
    CaseSpec(4, 2, 2, 3, num_layers=2, bidirectional=True, seed=3),
    CaseSpec(1, 4, 1, 1, bidirectional=True, seed=4),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@pytest.mark.parametrize("reset", ["after", "before"])
def test_default_switches_are_the_oracle(spec: CaseSpec, reset: str):
    """With every switch at its default, the variant oracle is conformance.model.oracle's."""
    case = spec.materialize()
    want = gru_forward(case.x, case.params, case.h0, reset=reset)
    got = variant_forward(case.x, case.params, case.h0, {"after": PYTORCH, "before": RESET_BEFORE}[reset])
    for what, g, w in (("output", got.output, want.output), ("h_n", got.h_n, want.h_n)):
        error = float(np.abs(g - w).max())
        assert error < 1e-12, f"got {what} max error {error:.3g}, but should equal the oracle's ({reset}, {spec})"


def test_vectorized_formulas_equal_one_by_one():
    """formula_states (what the search runs) equals variant_direction for every formula."""
    case = CaseSpec(4, 3, 2, 3, seed=5, weight_scale=1.5).materialize()
    blocks = CellBlocks.of(case.params)
    for base in (PYTORCH, replace(ZRN, bias_ih=2, fold_b_hh=True), replace(PYTORCH, bias_hh=0).with_order((2, 0, 1)),
                 replace(PYTORCH, no_input=("z",), no_recurrent=("r",), no_bias=("b_in", "b_hz"))):
        states = formula_states(base, case.x, case.h0[0], blocks)
        for i, (reset, b_hn, update) in enumerate(FORMULAS):
            v = replace(base, reset=reset, b_hn=b_hn, update=update)
            error = float(np.abs(states[i] - variant_direction(v, case.x, case.h0[0], blocks)).max())
            assert error < 1e-12, f"got max error {error:.3g} for {v}, but the two routes should agree"


def _negate_z(params: CanonicalParams) -> CanonicalParams:
    arrays = {}
    for name in params:
        a = params[name].copy()
        gate_rows(a, "z")[...] *= -1
        arrays[name] = a
    return params.replace(arrays)


def test_complement_polarity_is_pytorch_with_z_negated():
    """1 - sigmoid(a) = sigmoid(-a): complement polarity on z-negated parameters is the PyTorch GRU."""
    case = CaseSpec(5, 3, 2, 3, seed=6).materialize()
    want = variant_forward(case.x, case.params, case.h0, PYTORCH).output
    got = variant_forward(case.x, _negate_z(case.params), case.h0, replace(PYTORCH, update="complement")).output
    assert float(np.abs(got - want).max()) < 1e-12, "got a difference, but negating z should undo the complement"


def test_canonical_spelling_computes_the_same():
    """canonical() only merges variants that compute the same function."""
    case = CaseSpec(4, 3, 2, 3, seed=7, weight_scale=1.5).materialize()
    blocks = CellBlocks.of(case.params)
    rng = np.random.default_rng(0)
    for _ in range(600):
        v = CellVariant(reset=RESETS[rng.integers(3)], b_hn=B_HN[rng.integers(3)],
                        update=list(UPDATES)[rng.integers(len(UPDATES))],
                        order_w_ih=ORDERS[rng.integers(6)], order_w_hh=ORDERS[rng.integers(6)],
                        order_b_ih=ORDERS[rng.integers(6)], order_b_hh=ORDERS[rng.integers(6)],
                        bias_ih=BIAS_FACTORS[rng.integers(3)], bias_hh=BIAS_FACTORS[rng.integers(3)],
                        fold_b_hh=bool(rng.integers(2)),
                        no_input=tuple(g for g in GATE_NAMES if rng.random() < 0.2),
                        no_recurrent=tuple(g for g in GATE_NAMES if rng.random() < 0.2),
                        no_bias=tuple(b for b in BIAS_BLOCKS if rng.random() < 0.2))
        a = variant_direction(v, case.x, case.h0[0], blocks)
        b = variant_direction(canonical(v), case.x, case.h0[0], blocks)
        assert np.allclose(a, b, atol=1e-12, rtol=0, equal_nan=True), f"got {canonical(v)} != {v}, but should be equal"


def test_default_probe_makes_every_switch_visible():
    """On the default probe every single change to the PyTorch GRU (one switch, any value)
    moves the states by far more than any tolerance: nothing is hidden, so nothing
    has to be reported undetermined."""
    p = Probe()
    case = CaseSpec(p.steps, p.batch, p.input_size, p.hidden_size, seed=p.seed,
                    weight_scale=p.weight_scale).materialize()
    blocks = CellBlocks.of(case.params)
    base = variant_direction(PYTORCH, case.x, case.h0[0], blocks)
    changes = [replace(PYTORCH, **{name: value}) for name, values in (
        ("reset", RESETS), ("b_hn", B_HN), ("update", tuple(UPDATES)), ("bias_ih", BIAS_FACTORS),
        ("bias_hh", BIAS_FACTORS), ("fold_b_hh", (True,)), ("no_input", tuple((g,) for g in GATE_NAMES)),
        ("no_recurrent", tuple((g,) for g in GATE_NAMES)), ("no_bias", tuple((b,) for b in BIAS_BLOCKS)))
        for value in values]
    changes += [replace(PYTORCH, **{field: order}) for order in ORDERS[1:]
                for field in ("order_w_ih", "order_w_hh", "order_b_ih", "order_b_hh")]
    for v in changes:
        if canonical(v) == PYTORCH:
            continue
        moved = float(np.abs(variant_direction(v, case.x, case.h0[0], blocks) - base).max())
        assert moved > 1e-2, f"got {v} within {moved:.3g} of the PyTorch GRU, but the probe should show it"


def test_structures_are_visible_and_distinct():
    """Each assembly variant of a 2-layer bidirectional run with h0 changes output or h_n."""
    case = CaseSpec(4, 3, 2, 3, num_layers=2, bidirectional=True, seed=8, weight_scale=1.5).materialize()
    standard = variant_forward(case.x, case.params, case.h0)
    for s in structures(bidirectional=True, multi_layer=True, h0=True):
        if s == STANDARD:
            continue
        run = variant_forward(case.x, case.params, case.h0, PYTORCH, s)
        moved = max(float(np.abs(run.output - standard.output).max()), float(np.abs(run.h_n - standard.h_n).max()))
        assert moved > 1e-2, f"got {s} within {moved:.3g} of the standard assembly, but it should show"


def test_lengths_oracle_is_packed_nn_gru():
    """With every switch on, the variable-length oracle is nn.GRU on a PackedSequence; each
    switch turned off changes the output or h_n."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    case = CaseSpec(4, 3, 2, 3, bidirectional=True, seed=9).materialize()
    lengths = [2, 4, 3]
    gru = torch.nn.GRU(2, 3, bidirectional=True, dtype=torch.float64)
    gru.load_state_dict(case.params.tensors(torch.float64))
    with torch.no_grad():
        packed = pack_padded_sequence(torch.tensor(case.x), torch.tensor(lengths), enforce_sorted=False)
        output, h_n = gru(packed, torch.tensor(case.h0))
        output, _ = pad_packed_sequence(output, total_length=4)
    want = lengths_forward(case.x, case.params, lengths, case.h0)
    for what, got, ref in (("output", want.output, output.numpy()), ("h_n", want.h_n, h_n.numpy())):
        error = float(np.abs(got - ref).max())
        assert error < 1e-12, f"got {what} max error {error:.3g}, but should equal nn.GRU on a PackedSequence"
    for switch in LENGTH_SWITCHES:
        other = lengths_forward(case.x, case.params, lengths, case.h0, **{switch: False})
        moved = max(float(np.abs(other.output - want.output).max()), float(np.abs(other.h_n - want.h_n).max()))
        assert moved > 1e-2, f"got {switch}=False within {moved:.3g} of the packed run, but it should show"


def test_bad_switch_values_are_refused():
    with pytest.raises(ValueError, match="reset is 'sideways', but should be one of"):
        CellVariant(reset="sideways")
    with pytest.raises(ValueError, match="should be a permutation"):
        CellVariant(order_w_ih=(0, 0, 1))
    with pytest.raises(ValueError, match="h0 is 'reversed', but should be one of"):
        Structure(h0="reversed")
    with pytest.raises(ValueError, match="no_input is .*, but should be a tuple of distinct names"):
        CellVariant(no_input=("z", "r"))


# --------------------------------------------------------------------------- mutants, documents, correct


def test_every_mutant_has_an_expectation():
    """A new mutant of the forward equations needs its expected diagnosis here (what it is
    known to compute). The wrong machinery's mutants compute the right forward values:
    the diagnosis, which probes those, has nothing of theirs to name."""
    missing = sorted({m.id for m in FORWARD_MUTANTS} - set(MUTANT_EXPECTATIONS) - set(OUTSIDE_SCOPE) - set(NOT_DIAGNOSED))
    assert not missing, f"got mutants {missing} without an expected diagnosis, but every mutant needs one"


@pytest.mark.parametrize("mutant", mutant_params(FORWARD_MUTANTS))
def test_mutant_diagnosed_as_its_bug(mutant):
    """The diagnosis names the mutant's true convention and bug, and never calls it conforming
    (outside its scope: names the true convention and claims no more than the forward values)."""
    subject = Subject(mutant.id, mutant.adapter())
    diagnosis = diagnose(subject)
    if mutant.id in NOT_DIAGNOSED:
        note = diagnosis_note(subject)
        assert diagnosis is None and NOT_DIAGNOSED[mutant.id] in note, \
            f"got {diagnosis and diagnosis['summary']!r} / note {note!r}, but it should not be diagnosed, saying why"
        return
    if mutant.id in OUTSIDE_SCOPE:
        assert_diagnosed_as(mutant.id, diagnosis, expect(PYTORCH), conforming=True)
        assert "gradients, devices and input validation are graded by their checks only" in diagnosis["scope"]
        return
    assert_diagnosed_as(mutant.id, diagnosis, MUTANT_EXPECTATIONS[mutant.id], conforming=False)


@pytest.mark.parametrize("name", list(DOCUMENT_EXPECTATIONS))
def test_registered_implementation_diagnosed(name: str):
    """Every registered implementation (the documents' and the torch references) is
    diagnosed as what it is known to compute; the PyTorch ones as conforming."""
    diagnosis = diagnose(load_subject(name))
    expected = DOCUMENT_EXPECTATIONS[name]
    assert_diagnosed_as(name, diagnosis, expected, conforming=expected["conforming"])


@pytest.mark.parametrize("correct", CORRECT, ids=lambda c: c.id)
def test_correct_implementation_diagnosed_conforming(correct):
    subject = Subject(correct.id, correct.adapter())
    diagnosis = diagnose(subject)
    if diagnosis_note(subject):  # claims the probes cannot follow (one result, a shared h0 ...)
        assert diagnosis is None, f"got a diagnosis of {correct.id}, but its note says {diagnosis_note(subject)!r}"
        return
    assert_diagnosed_as(correct.id, diagnosis, expect(PYTORCH), conforming=True)


class ScaledComplementGRU(ReferenceGRU):
    """Not a known convention: the complement polarity with a damped candidate."""

    def update(self, z, n, h):
        return (1 - z) * h + z * 0.9 * n


class ScaledComplementCell(ReferenceCell):
    gru_class = ScaledComplementGRU


class DampedNoInputRZGRU(ReferenceGRU):
    """Not a known convention: r and z without their input terms (W_ir, W_iz, b_ir, b_iz) and a
    damped candidate on top."""

    def step(self, x, h, w):
        x_n = x @ w.rows("w_ih", 2).T + w.rows("b_ih", 2)
        h_r, h_z, h_n = self.gates(self.hidden_projection(h, w))
        r, z = self.sigmoid(h_r), self.sigmoid(h_z)
        return self.update(z, 0.9 * self.candidate(x_n, h_n, r, h, w), h)


class DampedNoInputRZCell(ReferenceCell):
    gru_class = DampedNoInputRZGRU


def test_unknown_convention_is_unidentified_with_evidence():
    """An implementation outside the known conventions is "unidentified": the summary says it
    matches none, names no convention that does not nearly explain it, and gives the term
    probe's evidence (which parameter blocks have no effect); its first departure is localized
    and left unexplained."""
    diagnosis = diagnose(Subject("damped-no-input-rz", DampedNoInputRZCell()))
    summary = diagnosis["summary"]
    assert diagnosis["status"] == "unidentified", f"got {diagnosis['status']!r} ({summary}), but should be unidentified"
    assert "it matches none of the known conventions" in summary and "nearest" not in summary, \
        f"got {summary!r}, but it should match none and name no convention"
    assert "the probes show: zeroing W_ir, W_iz, b_ir and b_iz changes nothing" in summary, \
        f"got {summary!r}, but it should give the evidence of the unused blocks"
    assert "r and z do not depend on x" in summary, f"got {summary!r}, but should say r and z do not depend on x"
    assert diagnosis["evidence"]["unused_blocks"] == ["W_ir", "W_iz", "b_ir", "b_iz"], \
        f"got evidence {diagnosis['evidence']}, but W_ir, W_iz, b_ir and b_iz are the unused blocks"
    first = diagnosis["first_divergence"]
    assert (first["t"], first["layer"], first["direction"]) == (0, 0, "forward") and first["explained_by"] is None, \
        f"got first divergence {first}, but should be t=0, layer 0, forward, unexplained"
    assert summary.startswith("first departs at t=0, layer 0, forward direction"), \
        f"got {summary!r}, but it should lead with the first departure"
    assert not any(f["kind"] == "precision" for f in diagnosis["findings"]), \
        f"got findings {diagnosis['findings']}, but nothing fitted, so there is no precision to judge"


def test_closest_convention_named_only_when_it_nearly_explains():
    """A known convention that explains only part of the departure (the complement polarity
    of a damped candidate: about three quarters) is not named in the summary; the details
    say how much of the departure it accounts for."""
    diagnosis = diagnose(Subject("scaled-complement", ScaledComplementCell()))
    summary = diagnosis["summary"]
    assert diagnosis["status"] == "unidentified" and "nearest" not in summary, \
        f"got {diagnosis['status']!r}: {summary!r}, but the complement polarity does not nearly explain it"
    nearest = [line for line in diagnosis["details"] if line.startswith("nearest known convention")]
    assert nearest and "complement polarity" in nearest[0] and "not enough to name it" in nearest[0], \
        f"got details {nearest}, but they should name the nearest convention and say it is not enough"


# --------------------------------------------------------------------------- limits


def test_every_switch_determined_on_the_default_probe():
    diagnosis = diagnose(load_subject("torch-grucell"))
    loose = {name: s for name, s in diagnosis["switches"].items() if not s["determined"]}
    assert not loose, f"got undetermined switches {loose}, but the default probe should determine them all"


class MisclaimedDoc001(Doc001Cell):
    """doc001's cell claiming the PyTorch update polarity it does not compute."""

    update = "pytorch"


MISCLAIMED_FILE = """
from conformance.implementations.doc001 import Doc001Cell


class MisclaimedDoc001(Doc001Cell):
    update = "pytorch"  # it computes the complement polarity
"""


def _subject(name: str) -> Subject:
    return Subject(name, MisclaimedDoc001()) if name == "doc001-misclaimed" else load_subject(name)


def test_hidden_size_one_leaves_reset_placement_undetermined():
    """With H = 1, W_hn (r h) = r (W_hn h): the diagnosis must say so rather than guess."""
    for name in ("torch-grucell", "doc001-misclaimed"):
        diagnosis = diagnose(_subject(name), Probe(hidden_size=1))
        reset = diagnosis["switches"]["reset"]
        assert not reset["determined"], f"got reset placement {reset} for {name} at H = 1, but should be undetermined"
        assert "H = 1" in reset["note"], f"got note {reset['note']!r}, but should say H = 1 hides it"
        assert "undetermined: reset placement" in diagnosis["summary"], \
            f"got summary {diagnosis['summary']!r}, but it should say reset placement is undetermined"


def test_zero_b_hn_leaves_its_position_undetermined():
    diagnosis = diagnose(load_subject("torch-grucell"), Probe(zero_b_hn=True))
    b_hn = diagnosis["switches"]["b_hn"]
    assert not b_hn["determined"] and "b_hn is zero" in b_hn["note"], \
        f"got {b_hn}, but b_hn's position should be undetermined when b_hn is zero"
    assert "undetermined: position of b_hn" in diagnosis["summary"], f"got {diagnosis['summary']!r}"
    assert diagnosis["switches"]["reset"]["determined"], "got reset placement undetermined, but H = 3 shows it"


# --------------------------------------------------------------------------- robustness


class _TorchGRUBase(LayerAdapter):
    reset = "after"
    capabilities = Capabilities(h0=True, dtypes=(torch.float32,))

    def build(self, config: GRUConfig):
        return torch.nn.GRU(config.input_size, config.hidden_size, dtype=config.dtype)

    def run(self, gru, x, h0):
        return gru(x, h0)


class BlackBox(_TorchGRUBase):
    """No load: the suite cannot set the weights."""


class Raising(_TorchGRUBase):
    def load(self, gru, params):
        gru.load_state_dict(params.tensors(torch.float32))

    def run(self, gru, x, h0):
        raise RuntimeError("kernel not compiled for this shape")


class Garbage(Raising):
    def run(self, gru, x, h0):
        return "output", "h_n"


class FailsBatchFirst(LayerAdapter):
    """Claims batch_first but raises on it: only that probe fails."""

    capabilities = Capabilities(h0=True, batch_first=True, dtypes=(torch.float64,))

    def build(self, config: GRUConfig):
        return torch.nn.GRU(config.input_size, config.hidden_size, batch_first=config.batch_first,
                            dtype=config.dtype)

    def load(self, gru, params):
        gru.load_state_dict(params.tensors(torch.float64))

    def run(self, gru, x, h0):
        if gru.batch_first:
            raise NotImplementedError("batch_first is not implemented")
        return gru(x, h0)


def test_failing_secondary_probe_is_a_finding():
    """An adapter failing on one later probe keeps its fitted convention; the failure is reported."""
    diagnosis = diagnose(Subject("fails-batch-first", FailsBatchFirst()))
    assert fitted(diagnosis) == PYTORCH and diagnosis["status"] == "identified", \
        f"got {diagnosis['status']!r}: {diagnosis['summary']!r}, but the PyTorch GRU should be identified"
    assert "the other layout probe failed: run raised NotImplementedError: batch_first is not implemented" \
        in diagnosis["summary"], f"got {diagnosis['summary']!r}, but should report the failing probe"


def test_black_box_adapter_has_no_diagnosis():
    assert diagnose(Subject("black-box", BlackBox())) is None, "got a diagnosis, but a black-box adapter has none"
    assert "black-box" in BLACK_BOX_NOTE


@pytest.mark.parametrize("adapter, words", [(Raising, "kernel not compiled"), (Garbage, "not a tensor")])
def test_adapter_failure_becomes_a_diagnosis(adapter, words):
    diagnosis = diagnose(Subject("broken", adapter()))
    assert diagnosis["status"] == "error", f"got status {diagnosis['status']!r}, but should be 'error'"
    assert diagnosis["summary"].startswith("not diagnosed: the adapter failed on a probe") and words in diagnosis["summary"], \
        f"got {diagnosis['summary']!r}, but should say the adapter failed ({words})"


def test_internal_error_never_escapes(monkeypatch):
    from conformance import diagnosis as module

    def broken(subject, probe):
        raise ZeroDivisionError("in the search")

    monkeypatch.setattr(module.pipeline, "run", broken)
    found = diagnose(load_subject("torch-grucell"))
    assert found["status"] == "error" and "internal error in the diagnosis: ZeroDivisionError" in found["summary"], \
        f"got {found}, but an internal error should become a diagnosis"


def test_deterministic_and_json_ready():
    subject = _subject("doc001-misclaimed")
    first, second = diagnose(subject), diagnose(subject)
    first.pop("duration"), second.pop("duration")
    assert first == second, "got two different diagnoses of one implementation, but it should be deterministic"
    text = json.dumps(first, allow_nan=False)  # strict JSON: no NaN or Infinity
    assert "complement polarity" in text
    assert 'the adapter\'s claim reset = \\"before\\" and update = \\"complement\\" would make it conform' in text, \
        "got no claim that would make the misclaimed cell conform"


# --------------------------------------------------------------------------- wiring


BLACK_BOX_FILE = '''
import torch
from conformance import Capabilities, LayerAdapter

class BlackBoxGRU(LayerAdapter):
    capabilities = Capabilities(h0=True)
    def build(self, config):
        return torch.nn.GRU(config.input_size, config.hidden_size)
    def run(self, gru, x, h0):
        return gru(x, h0)
'''


@pytest.mark.slow
@pytest.mark.parametrize("xdist", [False, True], ids=["in-process", "xdist"])
def test_grading_records_the_diagnosis(tmp_path: Path, xdist: bool):
    """Grading stores one diagnosis per white-box implementation in its JSON record (from an
    xdist worker too), a note instead for black-box adapters, and prints the summary."""
    adapter_file = tmp_path / "black_box.py"
    adapter_file.write_text(BLACK_BOX_FILE)
    misclaimed = tmp_path / "misclaimed.py"
    misclaimed.write_text(MISCLAIMED_FILE)
    results = tmp_path / "results.json"
    argv = [sys.executable, "-m", "pytest", str(ROOT / "conformance" / "checks"), "-p", "no:cacheprovider",
            "--impl", f"{misclaimed}:MisclaimedDoc001", "--impl", f"{adapter_file}:BlackBoxGRU", "--results", str(results),
            "-k", "test_output_shapes", "-q", "--hypothesis-profile", "quick"]
    if xdist:
        argv += ["-n", "1", "--dist", "loadgroup"]
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert results.is_file(), f"got no results file, but grading should write one:\n{run.stdout}\n{run.stderr}"
    records = {r["id"]: r for r in json.loads(results.read_text())["implementations"]}
    white = records["MisclaimedDoc001"]
    assert white["diagnosis"] and "complement polarity" in white["diagnosis"]["summary"], \
        f"got diagnosis {white['diagnosis']}, but it should name the complement polarity"
    assert white["diagnosis_note"] == "", f"got note {white['diagnosis_note']!r}, but there is a diagnosis"
    black = records["BlackBoxGRU"]
    assert black["diagnosis"] is None and black["diagnosis_note"] == BLACK_BOX_NOTE, \
        f"got {black['diagnosis']!r} / {black['diagnosis_note']!r}, but a black-box adapter gets the note only"
    lines = [line for line in run.stdout.splitlines() if line.strip().startswith("diagnosis: ")]
    assert lines and "complement polarity" in lines[0], \
        f"got terminal output without the diagnosis summary:\n{run.stdout[-2000:]}"


UNREADABLE_CLAIMS_FILE = '''
import torch
from conformance import Capabilities, LayerAdapter


class _TorchGRU(LayerAdapter):
    def build(self, config):
        return torch.nn.GRU(config.input_size, config.hidden_size, num_layers=config.num_layers,
                            bias=config.bias, bidirectional=config.bidirectional).to(config.dtype).eval()

    def load(self, gru, params):
        gru.load_state_dict(params.tensors(gru.weight_hh_l0.dtype), strict=False)

    def run(self, gru, x, h0):
        return gru(x, h0)


class NoBiases(_TorchGRU):
    capabilities = Capabilities(biases=False, dtypes=(torch.float32, torch.float64))


class OutputOnly(_TorchGRU):
    capabilities = Capabilities(returns="output", dtypes=(torch.float32, torch.float64))

    def run(self, gru, x, h0):
        return gru(x, h0)[0]


class SharedH0(_TorchGRU):
    capabilities = Capabilities(h0_shared=True, dtypes=(torch.float32, torch.float64))

    def run(self, gru, x, h0):
        return gru(x, None if h0 is None else h0[None])


class BidirectionalOnly(_TorchGRU):
    capabilities = Capabilities(bidirectional=True, unidirectional=False, dtypes=(torch.float32, torch.float64))
'''


@pytest.mark.slow
def test_results_keep_the_note_of_claims_the_probes_cannot_read(tmp_path: Path):
    """An adapter claiming no biases, the output only, a shared h0 or both directions only
    is not diagnosed, and its record says why (not an empty note beside a null diagnosis)."""
    adapters = tmp_path / "unreadable.py"
    adapters.write_text(UNREADABLE_CLAIMS_FILE)
    results = tmp_path / "results.json"
    expected = {"NoBiases": "it has no biases", "OutputOnly": "it returns only its output sequence",
                "SharedH0": "it takes one shared initial state", "BidirectionalOnly": "it runs bidirectional only"}
    argv = [sys.executable, "-m", "pytest", str(ROOT / "conformance" / "checks"), "-p", "no:cacheprovider",
            "--results", str(results), "-k", "test_output_shapes", "-q", "--hypothesis-profile", "quick"]
    for name in expected:
        argv += ["--impl", f"{adapters}:{name}"]
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert results.is_file(), f"got no results file:\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}"
    records = {r["id"]: r for r in json.loads(results.read_text())["implementations"]}
    for name, reason in expected.items():
        record = records[name]
        assert record["checks"], f"got no check graded for {name}: {record}"
        assert record["diagnosis"] is None and reason in record["diagnosis_note"], \
            f"got diagnosis {record['diagnosis']!r} and note {record['diagnosis_note']!r} for {name}, but the " \
            f"note should say {reason!r}"


# --------------------------------------------------------------------------- probes as a registry


def test_probes_are_registered_with_ids_and_requirements():
    """Every probe after the fit is registered with an id, a title and the catalogue's
    requirement names; the ones the suite ships are all there."""
    from conformance.cases.catalogue import REQUIREMENTS

    want = {"repeat", "h0-none", "h_n", "assembly", "other-layout", "non-contiguous", "variable-length",
            "unbatched", "saturation", "other-dtypes"}
    assert want <= set(PROBES), f"got probes {sorted(PROBES)}, but should have at least {sorted(want)}"
    for registered in PROBES.values():
        assert registered.title, f"got no title for probe {registered.id!r}"
        unknown = set(registered.requires) - set(REQUIREMENTS)
        assert not unknown, f"got requirements {sorted(unknown)} for {registered.id!r}, but should be the catalogue's"


def test_a_new_probe_is_one_function(monkeypatch):
    """Registering one function is all a new probe needs: it runs on implementations that claim
    what it requires, its findings reach the summary, and it is skipped on the others."""
    from conformance.diagnosis import probe_registry as registry

    monkeypatch.setattr(registry, "PROBES", dict(registry.PROBES))
    seen = []

    @probe("example", title="an example probe", requires=("bidirectional",))
    def example(ctx):
        seen.append(ctx.subject.id)
        ctx.finding("example", "the example probe ran")

    on_cell = diagnose(load_subject("torch-grucell"))  # cells: bidirectional by the suite's unroller
    assert seen == ["torch-grucell"] and "the example probe ran" in on_cell["summary"], \
        f"got {seen} and {on_cell['summary']!r}, but the probe should run and its finding be said"
    diagnose(Subject("fails-batch-first", FailsBatchFirst()))  # claims no bidirectional
    assert seen == ["torch-grucell"], f"got {seen}, but a probe whose requirement is unmet should be skipped"
    with pytest.raises(ValueError, match="got requirement 'wings'"):
        probe("bad", title="bad", requires=("wings",))


@pytest.mark.parametrize("name, non_finite", [("naive-tanh", True), ("exp-tanh-float64", True),
                                              ("precedence-slip", False)])
def test_saturation_verdict_agrees_with_diagnosis(name: str, non_finite: bool):
    """A diagnosis that finds non-finite output under saturating inputs and a passing
    bounds.saturation would contradict each other. The two exp-based tanh mutants return
    NaN there (exp-tanh-float64 only past 710, in the float64 it claims): the diagnosis
    says so and the check fails. precedence-slip stays finite but leaves [-1, 1]: the
    check fails and the diagnosis reports no non-finite output."""
    from conformance.grading.engine import grade

    mutant = next(m for m in FORWARD_MUTANTS if m.id == name)
    diagnosis = diagnose(Subject(name, mutant.adapter()))
    reports_nan = any(f["kind"] == "saturation" for f in diagnosis["findings"])
    assert reports_nan == non_finite, (f"got a saturation finding {reports_nan} in the diagnosis of {name}, "
                                       f"but should be {non_finite}")
    status = grade(Subject(name, mutant.adapter()), ["bounds.saturation"])["bounds.saturation"].status
    assert status == "fail", f"got bounds.saturation={status} for {name}, but should be fail"
