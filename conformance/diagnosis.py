"""Diagnosis: which GRU an implementation computes, and where a wrong one departs.

Pass/fail says *that* an implementation disagrees with the equations; the
diagnosis says *what it computes instead*, in words. For a white-box adapter it

1. runs the implementation on probe cases built so that every mechanism
   changes the output (H >= 2, I != H, B >= 3, random weights per gate,
   b_hn away from zero, a non-uniform h0), and searches the variant oracles of
   ``conformance.variants`` (reset placement, where b_hn sits, update
   polarity and known slips, the gate-block order as read from the canonical
   parameters, bias vectors ignored, doubled or folded) for the combination that
   reproduces it, reporting the closest known convention with its residual;
2. says for every switch whether the probes determine it: when another value
   fits as well (H = 1 hides reset placement, a zero b_hn hides its position),
   the switch is reported "undetermined", never guessed;
3. checks how directions and layers are assembled (reverse direction reversed,
   backward output order, h0 and h_n slots, layer chaining), what h0 = None,
   zeros and a given h0 do, the other batch layout, unbatched input, repeated
   calls, batch rows and saturating inputs;
4. localizes the first departure from the claimed equations: the first time
   step, layer and direction, teacher-forced from the oracle's own previous
   state where the adapter takes an h0, and which single quantity (r, z, n, the
   update, a bias, an h0 or h_n slot) explains it when substituted.

Only what an adapter exposes is used: ``Subject.instantiate`` and
``Subject.call`` (cells are unrolled by the suite, so for them direction and
layer handling is the suite's own). Nothing here raises: an adapter error
becomes a diagnosis that says so.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from conformance.cases import DTYPES, Case, CaseSpec, dtype_name
from conformance.oracle import OracleRun, gru_forward
from conformance.params import CanonicalParams, param_name
from conformance.subject import AdapterError, Instance, Result, Subject
from conformance.tolerances import TOLERANCES, Tolerance, tolerance
from conformance.variants import (
    B_HN,
    BIAS_FACTORS,
    CLAIMED,
    FORMULAS,
    GATE_NAMES,
    LENGTH_SWITCHES,
    LENGTH_TEXT,
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
    order_text,
    structures,
    variant_direction,
    variant_forward,
    variant_step,
)

BASE_NAMES: dict[CellVariant, str] = {
    PYTORCH: "the PyTorch GRU",
    RESET_BEFORE: "the reset-before variant (d2l, Keras reset_after=False, ONNX linear_before_reset=0)",
}
SHORT_NAMES: dict[CellVariant, str] = {PYTORCH: "the PyTorch GRU", RESET_BEFORE: "the reset-before variant"}

ORDER_FIELDS = ("order_w_ih", "order_w_hh", "order_b_ih", "order_b_hh")
TENSOR_NAMES = {"order_w_ih": "weight_ih", "order_w_hh": "weight_hh", "order_b_ih": "bias_ih", "order_b_hh": "bias_hh"}
SCALAR_CHOICES: dict[str, tuple[Any, ...]] = {
    "reset": RESETS,
    "b_hn": B_HN,
    "update": tuple(UPDATES),
    "bias_ih": BIAS_FACTORS,
    "bias_hh": BIAS_FACTORS,
    "fold_b_hh": (False, True),
}
SWITCH_TITLES = {
    "reset": "reset placement",
    "b_hn": "position of b_hn",
    "update": "state update",
    "gate_order": "gate order",
    "bias_ih": "bias_ih",
    "bias_hh": "bias_hh",
    "fold_b_hh": "b_hh folded into the input projection",
}
DIRECTION_NAMES = ("forward", "backward")
#: What the diagnosis looks at, said in every diagnosis.
SCOPE = ("forward values of ordinary calls in float64 or float32 (float16 and bfloat16 where claimed): "
         "the equations' convention, directions and layers, h0, layouts, unbatched, variable-length and "
         "non-contiguous input, repeated calls, batch rows and saturating inputs, at the probes' sizes; "
         "larger sizes (the size sweep, long sequences), bias=False, dropout, "
         "gradients, devices and input validation are graded by their checks only")
STANDARD_ASSEMBLY = ("the reverse direction reads the sequence from its end and its output is in input time "
                     "order, h0 and h_n slots are layer-major, layer k > 0 reads the forward half first")


@dataclass(frozen=True)
class Probe:
    """The probe cases' sizes and seed. The defaults make every mechanism visible;
    other values exist to show what the diagnosis does when one is not (H = 1,
    a zero b_hn)."""

    steps: int = 4
    batch: int = 3
    input_size: int = 2
    hidden_size: int = 3
    seed: int = 4242
    weight_scale: float = 1.5
    #: Zero every b_hn in the probe parameters (hides where b_hn sits).
    zero_b_hn: bool = False


@dataclass
class Fit:
    """How well one variant reproduces the observations."""

    variant: CellVariant
    error: float  # largest absolute error
    excess: float  # largest |got - want| - (atol + rtol |want|): <= 0 is within tolerance

    @property
    def matches(self) -> bool:
        return self.excess <= 0.0


@dataclass
class Observation:
    """One call of the implementation on a probe case, read as time-major float64."""

    spec: CaseSpec
    params: CanonicalParams
    x: np.ndarray
    h0: np.ndarray | None
    result: Result
    #: The states to fit (T, B, H) of a single-layer forward run, possibly re-read.
    states: np.ndarray | None = None


def _errors(got: np.ndarray, want: np.ndarray, tol: Tolerance, axes: Any = None) -> tuple[Any, Any]:
    """Largest absolute error and largest excess over the tolerance (inf when not finite)."""
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.nan_to_num(np.abs(got - want), nan=np.inf, posinf=np.inf)
        bound = tol.bound(np.nan_to_num(want, nan=0.0, posinf=0.0, neginf=0.0))
        return diff.max(axis=axes), (diff - bound).max(axis=axes)


def _fmt(value: float) -> str:
    if not np.isfinite(value):
        return str(value)
    return f"{value:.1g}" if value < 1e-3 else f"{value:.2g}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _order_change(order: tuple[int, int, int]) -> str:
    moved = [GATE_NAMES[g] for g in range(3) if order[g] != g]
    if len(moved) == 2:
        return f"{moved[0]} and {moved[1]} swapped"
    return f"r, z, n rotated to {order_text(order)}"


def _moved_gates(order: tuple[int, int, int]) -> str:
    return _join([GATE_NAMES[g] for g in range(3) if order[g] != g])


# --------------------------------------------------------------------------- wording


@dataclass(frozen=True)
class Deviation:
    switch: str
    text: str
    #: The intermediate quantity the change acts on.
    quantity: str


UPDATE_TEXT = {
    "complement": "the update has complement polarity, h' = (1 - z) * h + z * n (the same as "
    "negating z's weights and biases)",
    "slip": "the state update is h' = h - z + z * n (an operator-precedence slip: h * 1 - z + z * n "
    "written for h * (1 - z) + z * n)",
}
B_HN_TEXT = {
    "inside": "b_hn is inside the reset product (r * b_hn)",
    "outside": "b_hn is outside the reset product",
    "dropped": "b_hn is dropped",
}


def deviations(v: CellVariant, base: CellVariant) -> list[Deviation]:
    """What ``v`` changes relative to ``base``, in words (irrelevant switches left out)."""
    found: list[Deviation] = []
    if v.reset != base.reset:
        text = ("the reset gate is applied before the recurrent matmul, W_hn (r * h)" if v.reset == "before"
                else "the reset gate is applied after the recurrent matmul, r * (W_hn h)")
        found.append(Deviation("reset", text, "n"))
    recurrent_b_hn = v.bias_hh != 0
    if v.b_hn != base.b_hn and recurrent_b_hn:
        found.append(Deviation("b_hn", B_HN_TEXT[v.b_hn], "n"))
    if v.update != base.update:
        text = UPDATE_TEXT.get(v.update, f"the state update is {UPDATES[v.update][0]}")
        found.append(Deviation("update", text, "z (its polarity)" if v.update == "complement" else "h' (the update)"))
    relevant = {
        "order_w_ih": True, "order_w_hh": True,
        "order_b_ih": v.bias_ih != 0, "order_b_hh": v.bias_hh != 0 or v.fold_b_hh,
    }
    orders = {f: getattr(v, f) for f in ORDER_FIELDS if relevant[f] and getattr(v, f) != getattr(base, f)}
    if orders:
        if len(set(orders.values())) == 1 and len(orders) == sum(relevant.values()):
            order = next(iter(orders.values()))
            found.append(Deviation("gate_order", f"it reads the canonical gate blocks as {order_text(order)} "
                                   f"({_order_change(order)})", _moved_gates(order)))
        else:
            for order in dict.fromkeys(orders.values()):
                tensors = [TENSOR_NAMES[f] for f, o in orders.items() if o == order]
                found.append(Deviation("gate_order", f"{_join(tensors)} {'is' if len(tensors) == 1 else 'are'} "
                                       f"read as {order_text(order)} ({_order_change(order)})", _moved_gates(order)))
    for name in ("bias_ih", "bias_hh"):
        factor = getattr(v, name)
        if factor != getattr(base, name):
            text = f"{name} is ignored" if factor == 0 else f"{name} is added {'twice' if factor == 2 else f'{factor} times'}"
            found.append(Deviation(name, text, f"the gates' pre-activations ({name})"))
    if v.gates != base.gates:
        text = ("r and z use a hard sigmoid, clip(0.2 a + 0.5, 0, 1), instead of the logistic sigmoid"
                if v.gates == "hard sigmoid" else "r and z use the logistic sigmoid")
        found.append(Deviation("gates", text, "r and z"))
    if v.fold_b_hh != base.fold_b_hh:
        text = ("b_hh is counted twice: folded into the input bias (b_ih + b_hh) and added again in the "
                "recurrent projection (every gate gets 2 b_hh; b_hn sits both outside and inside the reset product)"
                if v.fold_b_hh else "b_hh is not folded into the input bias")
        found.append(Deviation("fold_b_hh", text, "the input projection (b_hh folded in)"))
    return found


def nearest_base(v: CellVariant, claimed: CellVariant) -> tuple[CellVariant, list[Deviation]]:
    """The named convention ``v`` is closest to (the claimed one on a tie) and the changes."""
    bases = [claimed] + [b for b in (PYTORCH, RESET_BEFORE) if b != claimed]
    scored = [(len(deviations(v, b)), i, b) for i, b in enumerate(bases)]
    _, _, base = min(scored)
    return base, deviations(v, base)


def describe_variant(v: CellVariant, claimed: CellVariant, *, long: bool = True) -> str:
    base, devs = nearest_base(v, claimed)
    name = (BASE_NAMES if long else SHORT_NAMES)[base]
    return name if not devs else f"{name} except that {_join([d.text for d in devs])}"


# --------------------------------------------------------------------------- cell search


class CellSearch:
    """The variant oracles against observed single-layer, forward runs."""

    def __init__(self, observations: list[tuple[np.ndarray, np.ndarray, CellBlocks, np.ndarray]],
                 tol: Tolerance, claimed: CellVariant) -> None:
        self.observations = observations  # (x, h0, blocks, got states (T, B, H))
        self.tol = tol
        self.claimed = claimed
        self.pool: dict[CellVariant, Fit] = {}
        self._complexity: dict[CellVariant, int] = {}

    def evaluate(self, v: CellVariant) -> Fit:
        v = canonical(v)
        if v not in self.pool:
            error, excess = 0.0, -np.inf
            for x, h0, blocks, got in self.observations:
                e, x_ = _errors(got, variant_direction(v, x, h0, blocks), self.tol)
                error, excess = max(error, float(e)), max(excess, float(x_))
            self.pool[v] = Fit(v, error, excess)
        return self.pool[v]

    def exhaustive(self) -> None:
        """Every formula, bias handling and gate order (the same order for all tensors)."""
        for order, f_ih, f_hh, fold in itertools.product(ORDERS, BIAS_FACTORS, BIAS_FACTORS, (False, True)):
            base = CellVariant(order_w_ih=order, order_w_hh=order, order_b_ih=order, order_b_hh=order,
                               bias_ih=f_ih, bias_hh=f_hh, fold_b_hh=fold)
            errors = np.zeros(len(FORMULAS))
            excess = np.full(len(FORMULAS), -np.inf)
            for x, h0, blocks, got in self.observations:
                states = formula_states(base, x, h0, blocks)
                e, x_ = _errors(got[None], states, self.tol, axes=(1, 2, 3))
                errors, excess = np.maximum(errors, e), np.maximum(excess, x_)
            for (reset, b_hn, update), e, x_ in zip(FORMULAS, errors, excess):
                v = canonical(CellVariant(reset, b_hn, update, order, order, order, order, f_ih, f_hh, fold))
                self.pool.setdefault(v, Fit(v, float(e), float(x_)))

    def neighbours(self, v: CellVariant) -> list[CellVariant]:
        """Variants one change away, including orders that differ per tensor."""
        found = []
        groups = [(f,) for f in ORDER_FIELDS] + [
            ("order_w_ih", "order_b_ih"), ("order_w_hh", "order_b_hh"),
            ("order_w_ih", "order_w_hh"), ("order_b_ih", "order_b_hh"),
        ]
        for group in groups:
            for order in ORDERS:
                found.append(replace(v, **{f: order for f in group}))
        for name, choices in SCALAR_CHOICES.items():
            found += [replace(v, **{name: value}) for value in choices]
        return found

    def complexity(self, v: CellVariant) -> int:
        if v not in self._complexity:
            self._complexity[v] = len(nearest_base(v, self.claimed)[1])
        return self._complexity[v]

    def key(self, fit: Fit) -> tuple[int, int, float]:
        return (0, self.complexity(fit.variant), fit.error) if fit.matches else (1, 0, fit.error)

    def best(self) -> Fit:
        return min(self.pool.values(), key=self.key)

    def run(self, rounds: int = 3) -> Fit:
        self.exhaustive()
        for _ in range(rounds):
            before = self.best()
            starts = sorted(self.pool.values(), key=self.key)[:4]
            for start in [f.variant for f in starts] + [self.claimed, PYTORCH, RESET_BEFORE]:
                for v in self.neighbours(start):
                    self.evaluate(v)
            if self.best().variant == before.variant:
                break
        return self.best()

    def switches(self, best: Fit, probe: Probe) -> dict[str, dict[str, Any]]:
        """For each switch: the value found, whether the probes determine it, and the
        nearest alternative's error (how far the next-best value is from fitting)."""
        v = best.variant
        report: dict[str, dict[str, Any]] = {}

        def value_of(u: CellVariant, name: str) -> Any:
            if name == "gate_order":
                return tuple(getattr(u, f) for f in ORDER_FIELDS)
            return getattr(u, name)

        def shown(name: str, value: Any) -> Any:
            if name == "gate_order":
                return {TENSOR_NAMES[f]: order_text(o) for f, o in zip(ORDER_FIELDS, value)}
            return value

        for name in ("reset", "b_hn", "update", "gate_order", "bias_ih", "bias_hh", "fold_b_hh"):
            mine = value_of(v, name)
            others = [f for u, f in self.pool.items() if value_of(u, name) != mine]
            also = sorted({repr(shown(name, value_of(f.variant, name))) for f in others if f.matches})
            nearest = min((f.error for f in others), default=float("inf"))
            entry: dict[str, Any] = {
                "value": shown(name, mine),
                "determined": best.matches and not also,
                "nearest_alternative_error": nearest,
            }
            if not best.matches:
                entry["note"] = "closest fit only: no variant reproduces the implementation"
            elif also:
                entry["also_fits"] = also
                entry["note"] = _undetermined_reason(name, v, probe)
            report[name] = entry
        return report


def _undetermined_reason(name: str, v: CellVariant, probe: Probe) -> str:
    if name == "reset" and probe.hidden_size == 1:
        return ("undetermined: with H = 1, r is one number per sample, so W_hn (r * h) = r * (W_hn h) "
                "and reset placement is invisible")
    if name == "b_hn" and v.bias_hh == 0:
        return "undetermined: bias_hh is ignored, so where b_hn would sit is invisible"
    if name == "b_hn" and probe.zero_b_hn:
        return "undetermined: b_hn is zero in the probe, so its position is invisible"
    if name == "gate_order" and v.bias_ih == 0:
        return "undetermined for bias_ih, which is ignored"
    return "undetermined: the probes give the same result for these values"


# --------------------------------------------------------------------------- the diagnosis


class _Diagnoser:
    def __init__(self, subject: Subject, probe: Probe) -> None:
        self.subject = subject
        self.probe = probe
        self.caps = subject.capabilities
        dtypes = subject.dtypes()
        self.dtype = "float64" if "float64" in dtypes else (dtypes[0] if dtypes else "float32")
        self.tol = tolerance(self.dtype, "sequence")
        self.step_tol = tolerance(self.dtype, "step")
        self.claimed = CLAIMED.get(subject.reset, PYTORCH)
        self.h0_capable = subject.is_cell or self.caps.h0
        self.layout = subject.layouts()[0] if subject.layouts() else False
        self.findings: list[dict[str, str]] = []
        self.probes: list[str] = []
        self.h0_honoured = self.h0_capable
        self.precision_note = ""
        self.rows_permuted = False
        #: How the implementation assembles directions and layers (standard until found otherwise).
        self.assembly: Structure = STANDARD
        self.assembly_known = False
        self._none_explained: tuple[Case, CanonicalParams, Result] | None = None
        self._repeat_evidence: tuple[Case, CanonicalParams, Result, Result] | None = None

    # Probes ------------------------------------------------------------------
    def spec(self, **changes: Any) -> CaseSpec:
        p = self.probe
        base = CaseSpec(steps=p.steps, batch=p.batch, input_size=p.input_size, hidden_size=p.hidden_size,
                        batch_first=self.layout, dtype=self.dtype, seed=p.seed, weight_scale=p.weight_scale)
        return base.with_(**changes)

    def materialize(self, spec: CaseSpec) -> tuple[Case, CanonicalParams]:
        case = spec.materialize()
        params = case.params
        if self.probe.zero_b_hn:
            hidden = spec.hidden_size
            arrays = {}
            for layer in range(spec.num_layers):
                for reverse in (False, True)[: spec.num_directions]:
                    name = param_name("bias_hh", layer, reverse)
                    b = params[name].copy()
                    b[2 * hidden:] = 0.0
                    arrays[name] = b
            params = params.replace(arrays)
        self.probes.append(repr(spec))
        return case, params

    def call(self, instance: Instance, x: np.ndarray, h0: np.ndarray | None,
             *, unbatched: bool = False) -> tuple[Result, bool]:
        """Call, and tell whether the h0 tensor handed over was changed by the call."""
        returned = self.subject.execute(instance, x, h0, unbatched=unbatched, keep_inputs=True)
        result = self.subject.read(instance, returned)
        inputs = returned.inputs
        mutated = "h0_before" in inputs and not np.array_equal(inputs["h0_before"], inputs["h0_after"],
                                                               equal_nan=True)
        return result, mutated

    def compare(self, got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
        """Errors against the fitted tolerance; once batch rows are known to come back
        permuted, the best row order is taken so that one bug is reported once."""
        error, excess = (float(v) for v in _errors(got, want, self.tol))
        if excess > 0 and self.rows_permuted and got.ndim == 3 and got.shape == want.shape:
            for perm in itertools.permutations(range(got.shape[1])):
                e, x = (float(v) for v in _errors(got, want[:, list(perm)], self.tol))
                if x < excess:
                    error, excess = e, x
        return error, excess

    def guarded(self, probe: str, step: Any, *args: Any) -> Any:
        """Run one probe after the main fit: if the adapter fails there, that is a finding
        and the rest of the diagnosis still stands."""
        try:
            return step(*args)
        except AdapterError as exc:
            self.finding("error", f"the {probe} probe failed: {exc}")
            return None

    def finding(self, kind: str, text: str, **extra: Any) -> None:
        if all(f["text"] != text for f in self.findings):
            self.findings.append({"kind": kind, "text": text, **extra})

    # The steps -----------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        start = time.perf_counter()
        main = self.main_probe()
        fit, search = self.fit_cell(main)
        self.main, self.search = main, search
        switches = search.switches(fit, self.probe)
        variant = fit.variant
        self.check_h_n(main, variant)
        structure_info, local_case = self.guarded("assembly", self.structure, variant) or (
            {"note": "not determined: the adapter failed on the probe"}, None)
        if not self.subject.is_cell:
            self.guarded("other layout", self.other_layout, variant)
            self.guarded("non-contiguous", self.non_contiguous, main)
            if getattr(self.caps, "lengths", False):
                self.guarded("variable-length", self.variable_lengths, variant)
            if self.caps.unbatched:
                self.guarded("unbatched", self.unbatched, main, variant)
        self.guarded("saturation", self.saturation, variant)
        self.guarded("half precision", self.low_precision, variant)
        divergence = None
        conforming = fit.matches and variant == self.claimed and not self.findings and not self.precision_note
        if not conforming:
            divergence = self.guarded("localization", self.localize, local_case, variant)
        return self.assemble(fit, switches, structure_info, divergence, conforming, time.perf_counter() - start)

    def main_probe(self) -> Observation:
        spec = self.spec()
        case, params = self.materialize(spec)
        subject = self.subject
        instance = subject.instantiate(case, params)
        h0 = case.h0 if self.h0_capable else None
        first, mutated = self.call(instance, case.x, h0)
        if mutated:
            self.finding("h0", "the call overwrites the caller's h0 tensor in place"
                         + (" (afterwards it holds h_n)" if self._h0_holds_h_n(instance, case, h0, first) else ""))
        self._dtype_and_shapes(first, spec)
        none_a, _ = self.call(instance, case.x, None)
        none_b, _ = self.call(instance, case.x, None)
        if not subject.is_cell and self.caps.h0:
            zeros, _ = self.call(instance, case.x, np.zeros_like(case.h0))
            if _errors(first.output, none_a.output, self.step_tol)[1] <= 0:
                self.h0_honoured = False
                self.finding("h0", "h0 is ignored: a run from a random h0 gives what a run from zeros gives")
            self._none_vs_zeros(case, params, none_a, zeros)
        self._repeat(case, params, none_a, none_b)
        x_h0 = h0 if self.h0_honoured else None
        return Observation(spec, params, case.x, x_h0, first)

    def _h0_holds_h_n(self, instance: Instance, case: Case, h0: np.ndarray | None, result: Result) -> bool:
        returned = self.subject.execute(instance, case.x, h0, keep_inputs=True)
        after = returned.inputs.get("h0_after")
        return after is not None and after.shape == result.h_n.shape and np.allclose(after, result.h_n, atol=1e-6)

    def _dtype_and_shapes(self, result: Result, spec: CaseSpec) -> None:
        got = result.output_dtype
        if got != spec.dtype:
            self.finding("dtype", f"a {spec.dtype} call returns {got}")
        for problem in result.shape_problems:
            self.finding("shape", f"read by position: {problem}")

    def _none_vs_zeros(self, case: Case, params: CanonicalParams, none: Result, zeros: Result) -> None:
        if _errors(none.output, zeros.output, self.step_tol)[1] <= 0:
            return
        self.finding("h0", "h0 = None and h0 = zeros give different results (max difference "
                     f"{_fmt(float(np.abs(none.output - zeros.output).max()))})")
        self._none_explained = (case, params, none)

    def _repeat(self, case: Case, params: CanonicalParams, first: Result, second: Result) -> None:
        if _errors(first.output, second.output, self.step_tol)[1] <= 0:
            return
        self._repeat_evidence = (case, params, first, second)
        self.finding("repeat", "two identical calls on one instance give different results (max difference "
                     f"{_fmt(float(np.abs(first.output - second.output).max()))})")

    # Cell search ---------------------------------------------------------------
    def fit_cell(self, obs: Observation) -> tuple[Fit, CellSearch]:
        hidden = obs.spec.hidden_size
        blocks = CellBlocks.of(obs.params)
        h0 = obs.h0[0] if obs.h0 is not None else np.zeros((obs.spec.batch, hidden))
        search = CellSearch([(obs.x, h0, blocks, obs.result.output)], self.tol, self.claimed)
        fit = search.run()
        if fit.matches:
            return fit, search
        # Cheap explanations first, tried with the named conventions and the closest fits.
        closest = [f.variant for f in sorted(search.pool.values(), key=lambda f: f.error)[:5]]
        candidates = list(dict.fromkeys([self.claimed, PYTORCH, RESET_BEFORE] + closest))
        for name, output in self._output_readings(obs):
            if any(_errors(output, variant_direction(v, obs.x, h0, blocks), self.tol)[1] <= 0 for v in candidates):
                self.finding("layout", f"output is {name}")
                again = CellSearch([(obs.x, h0, blocks, output)], self.tol, self.claimed)
                return again.run(), again
        if self.dtype == "float64" and fit.error < 1e-3:
            relaxed = CellSearch(search.observations, tolerance("float32", "sequence"), self.claimed)
            fit_32 = relaxed.run()
            if fit_32.matches:
                self.precision_note = (f"it matches only to float32 precision (max error {_fmt(fit_32.error)} "
                                       "for float64 inputs): it computes in float32")
                self.finding("precision", self.precision_note)
                self.tol, self.step_tol = relaxed.tol, tolerance("float32", "step")
                return fit_32, relaxed
        permuted = self._batch_permutation(obs, candidates, h0, blocks)
        if permuted is not None:
            return permuted
        return fit, search

    def _output_readings(self, obs: Observation) -> list[tuple[str, np.ndarray]]:
        """The raw output read in another layout than claimed (same numbers, other axes)."""
        if self.subject.is_cell:
            return []
        raw = obs.result.returned.output.values
        spec = obs.spec
        width = spec.num_directions * spec.hidden_size
        if raw.size != spec.steps * spec.batch * width:
            return []
        if spec.batch_first:
            return [("returned time-major (T, B, D*H) although batch_first is set",
                     raw.reshape(spec.steps, spec.batch, width))]
        return [("returned batch-major (B, T, D*H) although the input is time-major",
                 raw.reshape(spec.batch, spec.steps, width).transpose(1, 0, 2))]

    def _batch_permutation(self, obs: Observation, candidates: list[CellVariant], h0: np.ndarray,
                           blocks: CellBlocks) -> tuple[Fit, CellSearch] | None:
        """Rows of the batch returned in another order: find the order, then fit again."""
        got = obs.result.output
        for v in candidates:
            want = variant_direction(v, obs.x, h0, blocks)
            for perm in itertools.permutations(range(obs.spec.batch)):
                if list(perm) == list(range(obs.spec.batch)):
                    continue
                # Row b of the output holds sample perm[b].
                if _errors(got, want[:, list(perm)], self.tol)[1] <= 0:
                    text = ("batch rows come back permuted: output row b holds sample "
                            + ", ".join(f"{b}->{p}" for b, p in enumerate(perm)))
                    if list(perm) == list(np.argsort(-np.abs(obs.x).sum(axis=(0, 2)), kind="stable")):
                        text += " (sorted by sum |x|, largest first, and never put back)"
                    self.finding("batch", text)
                    self.rows_permuted = True
                    unpermuted = np.empty_like(got)
                    unpermuted[:, list(perm)] = got
                    again = CellSearch([(obs.x, h0, blocks, unpermuted)], self.tol, self.claimed)
                    return again.run(), again
        return None

    # h_n, layouts, unbatched ------------------------------------------------------
    def check_h_n(self, obs: Observation, variant: CellVariant) -> None:
        want = variant_forward(obs.x, obs.params, obs.h0, variant)
        if self.compare(obs.result.h_n, want.h_n)[1] <= 0:
            return
        if self.compare(obs.result.output, want.output)[1] > 0:
            return  # the output does not fit either: nothing to say about h_n alone
        self.finding("h_n", "h_n is not the final state of the run (max error "
                     f"{_fmt(float(self.compare(obs.result.h_n, want.h_n)[0]))})")

    def other_layout(self, variant: CellVariant) -> None:
        layouts = self.subject.layouts()
        for batch_first in layouts[1:]:
            # Several h_n slots (when claimed), so that an h_n with its axes swapped shows.
            known = self.assembly_known
            spec = self.spec(batch_first=batch_first, seed=self.probe.seed + 1,
                             num_layers=2 if known and self.caps.multi_layer else 1,
                             bidirectional=known and self.caps.bidirectional)
            case, params = self.materialize(spec)
            instance = self.subject.instantiate(case, params)
            h0 = case.h0 if self.h0_honoured else None
            result, _ = self.call(instance, case.x, h0)
            want = variant_forward(case.x, params, h0, variant, self.assembly)
            label = f"with batch_first={batch_first}"
            if self.compare(result.output, want.output)[1] > 0:
                obs = Observation(spec, params, case.x, h0, result)
                for name, output in self._output_readings(obs):
                    if self.compare(output, want.output)[1] <= 0:
                        self.finding("layout", f"{label}, output is {name}")
                        break
                else:
                    self.finding("layout", f"{label}, output departs from the fitted convention (max error "
                                 f"{_fmt(float(self.compare(result.output, want.output)[0]))})")
            if self.compare(result.h_n, want.h_n)[1] > 0:
                raw = result.returned.h_n.values
                slots = want.h_n.shape[0]
                if raw.size == want.h_n.size and self.compare(
                        raw.reshape(spec.batch, slots, spec.hidden_size).transpose(1, 0, 2), want.h_n)[1] <= 0:
                    self.finding("layout", f"{label}, h_n is returned (B, L*D, H) instead of (L*D, B, H): "
                                 "batch_first is applied to h_n too")
                else:
                    self.finding("layout", f"{label}, h_n departs from the fitted convention")
            self._dtype_and_shapes(result, spec)

    def unbatched(self, obs: Observation, variant: CellVariant) -> None:
        spec = obs.spec
        instance = self.subject.instantiate(spec.materialize(), obs.params)
        h0 = None if obs.h0 is None else obs.h0[:, :1]
        want = variant_forward(obs.x[:, :1], obs.params, h0, variant)
        try:
            result, _ = self.call(instance, obs.x, obs.h0, unbatched=True)
        except AdapterError as exc:
            result, problem = None, str(exc)
        else:
            if (self.compare(result.output, want.output[:, 0])[1] <= 0
                    and self.compare(result.h_n, want.h_n[:, 0])[1] <= 0):
                return
            problem = "it departs from the batched result of the same sequence"
        # nn.GRU reads (T, I) as one sequence; a common slip reads it as one step of a batch of T.
        try:
            raw = self.subject.execute(instance, obs.x, obs.h0, unbatched=True).output.values
        except AdapterError:
            raw = None
        as_batch_h0 = None if h0 is None else np.repeat(h0, spec.steps, axis=1)
        one_step = variant_forward(obs.x[:, 0][None], obs.params, as_batch_h0, variant).output[0]
        if raw is not None and raw.size == one_step.size and self.compare(raw.reshape(one_step.shape), one_step)[1] <= 0:
            self.finding("unbatched", "unbatched (T, I) input is run as one step of a batch of T, not as "
                         f"one sequence of T steps ({problem})")
        else:
            self.finding("unbatched", f"unbatched (T, I) input: {problem}")

    # Directions and layers ------------------------------------------------------
    def assembly_spec(self) -> CaseSpec:
        """Two layers and both directions where claimed (cells: always, the suite unrolls them)."""
        cell = self.subject.is_cell
        return self.spec(num_layers=2 if cell or self.caps.multi_layer else 1,
                         bidirectional=cell or self.caps.bidirectional, seed=self.probe.seed + 2)

    def structure(self, variant: CellVariant) -> tuple[dict[str, Any], tuple[Case, CanonicalParams, Result] | None]:
        caps = self.caps
        if self.subject.is_cell:
            return ({"note": "cell adapter: directions, layer chaining and h0 slots are assembled by the "
                     "suite's unroller, not by the implementation"}, None)
        bidirectional, multi = caps.bidirectional, caps.multi_layer
        if not (bidirectional or multi):
            return ({"note": "one layer, one direction: nothing to assemble"}, None)
        spec = self.assembly_spec()
        case, params = self.materialize(spec)
        instance = self.subject.instantiate(case, params)
        h0 = case.h0 if self.h0_honoured else None
        first, _ = self.call(instance, case.x, h0)
        second, _ = self.call(instance, case.x, h0)
        if _errors(first.h_n, second.h_n, self.step_tol)[1] > 0 or _errors(first.output, second.output, self.step_tol)[1] > 0:
            same = [bool(_errors(first.h_n[s], second.h_n[s], self.step_tol)[1] <= 0) for s in range(first.h_n.shape[0])]
            layers = [all(same[l * spec.num_directions:(l + 1) * spec.num_directions]) for l in range(spec.num_layers)]
            if layers[0] and not all(layers):
                self.finding("repeat", f"identical calls differ from layer {layers.index(False)} on while layer 0 "
                             "repeats exactly: something random acts between layers (dropout left in training mode?)")
            else:
                self.finding("repeat", "identical multi-layer or bidirectional calls give different results")
            return ({"note": "not determined: the implementation is not repeatable"}, (case, params, first))
        candidates = structures(bidirectional=bidirectional, multi_layer=multi, h0=h0 is not None)
        fits = []
        cache: dict[Any, np.ndarray] = {}
        for s in candidates:
            want = variant_forward(case.x, params, h0, variant, s, cache)
            e1, x1 = self.compare(first.output, want.output)
            e2, x2 = self.compare(first.h_n, want.h_n)
            fits.append((s, max(float(e1), float(e2)), max(float(x1), float(x2))))
        matching = [f for f in fits if f[2] <= 0]
        if matching:
            best = min(matching, key=lambda f: (len(f[0].differences()), f[1]))
        else:
            best = min(fits, key=lambda f: f[1])
        s, error, excess = best
        info: dict[str, Any] = {"found": s.to_json(), "matches": excess <= 0, "max_error": error,
                                "probe": repr(spec),
                                "note": ("standard: " + STANDARD_ASSEMBLY) if excess <= 0 and not s.differences()
                                else "; ".join(s.deviations_text())}
        undetermined = {}
        for name in s.to_json():
            values = sorted({getattr(f[0], name) for f in matching if getattr(f[0], name) != getattr(s, name)})
            if values:
                undetermined[name] = values
        if undetermined:
            info["undetermined"] = undetermined
        if excess <= 0:
            self.assembly, self.assembly_known = s, True
            for text in s.deviations_text():
                self.finding("structure", text)
        else:
            self.finding("structure", "the multi-layer/bidirectional run matches no known arrangement "
                         f"(closest: {', '.join(s.deviations_text()) or 'the standard one'}, max error {_fmt(error)})")
        return info, (case, params, first)

    # Saturation ---------------------------------------------------------------
    def saturation(self, variant: CellVariant) -> None:
        dtypes = self.subject.dtypes()
        dtype = "float32" if "float32" in dtypes or not dtypes else dtypes[0]
        scale = {"float32": 300.0, "float64": 5000.0}.get(dtype, 300.0)
        spec = self.spec(dtype=dtype, input_scale=scale, seed=self.probe.seed + 3, steps=3)
        case, params = self.materialize(spec)
        instance = self.subject.instantiate(case, params)
        h0 = case.h0 if self.h0_honoured else None
        result, _ = self.call(instance, case.x, h0)
        got = result.output
        if np.all(np.isfinite(got)):
            return
        bad = np.argwhere(~np.isfinite(got))
        t, b, unit = (int(i) for i in bad[np.lexsort((bad[:, 2], bad[:, 1], bad[:, 0]))][0])
        text = (f"with saturating inputs (|x| ~ {scale:g}, {dtype}) the output is not finite: "
                f"first {got[t, b, unit]} at t={t}, batch {b}, unit {unit}")
        hidden = spec.hidden_size
        if unit < hidden:  # forward half of the first layer: its state before t is the oracle's
            run = variant_forward(case.x, params, h0, variant)
            h_prev = run.states[0][0][t - 1] if t > 0 else (h0[0] if h0 is not None else np.zeros((spec.batch, hidden)))
            parts = variant_step(variant, case.x[t], h_prev, CellBlocks.of(params))
            limit = float(np.log(np.finfo(np.dtype(dtype)).max))
            pre = {"r": parts.pre_r, "z": parts.pre_z, "n": parts.pre_n}
            text += " where the pre-activations are " + ", ".join(f"{g} {pre[g][b, unit]:.4g}" for g in ("r", "z", "n"))
            nan_rows = ~np.isfinite(got[t, :, :hidden])
            tanh_exp = pre["n"] > limit / 2  # exp(2a) overflows: (inf - 1) / (inf + 1) = nan
            sig_exp = (pre["r"] > limit) | (pre["z"] > limit)  # exp(a) / (1 + exp(a)) = nan
            if np.array_equal(nan_rows, tanh_exp):
                text += (f"; explained by n: its tanh computed from exp(2a), which overflows in {dtype} "
                         f"for a > {limit / 2:.1f} (reproduces every non-finite unit at this step)")
            elif np.array_equal(nan_rows, sig_exp):
                text += (f"; explained by r or z: a sigmoid computed as exp(a) / (1 + exp(a)), which "
                         f"overflows in {dtype} for a > {limit:.1f}")
        self.finding("saturation", text)

    # Non-contiguous inputs, variable lengths ---------------------------------------
    def non_contiguous(self, obs: Observation) -> None:
        """The same values handed over as strided views (every other element of a wider
        tensor) must give the same result."""
        instance = self.subject.instantiate(obs.spec.materialize(), obs.params)
        plain = self.subject.call(instance, obs.x, obs.h0)
        viewed = self.subject.call(instance, obs.x, obs.h0, strides="strided")
        error, excess = _errors(viewed.output, plain.output, self.step_tol)
        if excess <= 0:
            return
        text = (f"a non-contiguous x or h0 (a strided view holding the same values) gives other results "
                f"(max difference {_fmt(float(error))})")
        misread = self.subject.call(instance, obs.x, obs.h0, strides="misread")
        if _errors(viewed.output, misread.output, self.step_tol)[1] <= 0:
            text += ": it reads the storage as if the tensor were contiguous"
        self.finding("input", text)

    def variable_lengths(self, variant: CellVariant) -> None:
        """A padded batch with lengths (claimed ``lengths``): which recurrences stop at each
        sample's length and whether the outputs past it are zero."""
        spec = self.spec(bidirectional=self.caps.bidirectional, seed=self.probe.seed + 5)
        case, params = self.materialize(spec)
        lengths = ([2, spec.steps, 3] + [spec.steps] * spec.batch)[: spec.batch]
        lengths = [min(n, spec.steps) for n in lengths]
        instance = self.subject.instantiate(case, params)
        h0 = case.h0 if self.h0_honoured else None
        got = self.subject.call(instance, case.x, h0, lengths=lengths)
        fits = []
        for values in itertools.product((True, False), repeat=3):
            switches = dict(zip(LENGTH_SWITCHES, values))
            if not spec.bidirectional and not switches["reverse_masked"]:
                continue
            want = lengths_forward(case.x, params, lengths, h0, variant, **switches)
            e1, x1 = self.compare(got.output, want.output)
            e2, x2 = self.compare(got.h_n, want.h_n)
            fits.append((sum(not v for v in values), max(e1, e2), max(x1, x2), switches))
        matching = [f for f in fits if f[2] <= 0]
        if matching:
            _, _, _, switches = min(matching, key=lambda f: (f[0], f[1]))
            for name, value in switches.items():
                if not value:
                    self.finding("lengths", f"with lengths {lengths}: {LENGTH_TEXT[name]}")
        else:
            _, error, _, _ = min(fits, key=lambda f: f[1])
            self.finding("lengths", f"with lengths {lengths} the output matches no known handling of a "
                         f"variable-length batch (closest: max error {_fmt(error)})")

    # Half precision -----------------------------------------------------------------
    def low_precision(self, variant: CellVariant) -> None:
        """Every claimed dtype other than the main probe's (float32, float16, bfloat16):
        the fitted convention within that dtype's tolerance, or what the output is
        instead (another gate activation, another dtype's rounding)."""
        claimed = [dtype_name(d) for d in self.caps.dtypes]
        for dtype in ("float32", "float16", "bfloat16"):
            if dtype not in claimed or dtype not in TOLERANCES or dtype == self.dtype:
                continue
            spec = self.spec(dtype=dtype, seed=self.probe.seed + 4)
            case, params = self.materialize(spec)
            instance = self.subject.instantiate(case, params)
            h0 = case.h0 if self.h0_honoured else None
            result, _ = self.call(instance, case.x, h0)
            tol = tolerance(dtype, "sequence")
            error, excess = (float(v) for v in _errors(result.output, variant_forward(case.x, params, h0, variant).output, tol))
            if excess > 0:
                hard = replace(variant, gates="hard sigmoid")
                e_hard, x_hard = _errors(result.output, variant_forward(case.x, params, h0, hard).output, tol)
                if x_hard <= 0:
                    self.finding("precision", f"in {dtype}, r and z use a hard sigmoid, clip(0.2 a + 0.5, 0, 1), "
                                 f"instead of the logistic sigmoid (max error {_fmt(float(e_hard))}; with the "
                                 f"sigmoid {_fmt(error)})")
                else:
                    text = (f"in {dtype} it departs from {describe_variant(variant, self.claimed, long=False)} "
                            f"by {_fmt(error)}, beyond the {dtype} tolerance {tol}")
                    coarse = _torch_gru_error(case, params, h0, "bfloat16") if dtype != "bfloat16" else None
                    if variant == PYTORCH and coarse and coarse / 10 <= error <= 3 * coarse:
                        # An error the size of bfloat16 rounding: the equations are right, the precision is not.
                        text += (f"; that is the size of bfloat16 rounding ({_fmt(coarse)}): {dtype} inputs are "
                                 f"computed in a coarser precision")
                    self.finding("precision", text)
                continue
            if dtype == "float16" and variant == PYTORCH:
                # Within tolerance: but is the rounding that of float16 at all?
                own, coarse = _torch_gru_error(case, params, h0, "float16"), _torch_gru_error(case, params, h0, "bfloat16")
                if own and coarse and error > 3 * own and error >= coarse / 3:
                    self.finding("precision", f"in float16 its error ({_fmt(error)}) is {error / own:.1f} times "
                                 f"torch.nn.GRU's in float16 ({_fmt(own)}), the size of bfloat16 rounding "
                                 f"({_fmt(coarse)}): float16 inputs are computed in a coarser precision")

    # Localization -----------------------------------------------------------------
    def localize(self, local: tuple[Case, CanonicalParams, Result] | None,
                 variant: CellVariant) -> dict[str, Any] | None:
        if local is None:
            case, params = self.materialize(self.assembly_spec())
            free: Result | None = None
        else:
            case, params, free = local
        spec = case.spec
        h0 = case.h0 if self.h0_honoured else None
        oracle = gru_forward(case.x, params, h0, reset=self.claimed.reset)
        found = None
        if self.h0_honoured:
            found = self._teacher_forced(case, params, oracle, variant)
        if found is None and spec.num_layers > 1:
            # One layer first: with more, a wrong layer 0 output shows only through layer 1.
            one, one_params = self.materialize(spec.with_(num_layers=1))
            instance = self.subject.instantiate(one, one_params)
            one_h0 = one.h0 if self.h0_honoured else None
            got, _ = self.call(instance, one.x, one_h0)
            one_oracle = gru_forward(one.x, one_params, one_h0, reset=self.claimed.reset)
            found = self._free_running(one, one_params, one_oracle, got, variant, one_h0)
        if found is None:
            if free is None:
                instance = self.subject.instantiate(case, params)
                free, _ = self.call(instance, case.x, h0)
            found = self._free_running(case, params, oracle, free, variant, h0)
        if found is None and self._none_explained is not None:
            none_case, none_params, none = self._none_explained
            none_oracle = gru_forward(none_case.x, none_params, None, reset=self.claimed.reset)
            found = self._free_running(none_case, none_params, none_oracle, none, variant, None)
            if found is not None:
                found["text"] = "with h0 = None: " + found["text"]
                found["path"] = "h0 = None"
        if found is None and self._repeat_evidence is not None:
            found = self._explain_repeat(variant)
        return found

    def _teacher_forced(self, case: Case, params: CanonicalParams, oracle: OracleRun,
                        variant: CellVariant) -> dict[str, Any] | None:
        spec = case.spec
        instance = self.subject.instantiate(case, params)
        dirs = spec.num_directions
        for t in range(spec.steps):
            h_prev = oracle.step_initial_state(t)
            got, _ = self.call(instance, case.x[t:t + 1], h_prev)
            want = oracle.step_state(t)
            for slot in range(want.shape[0]):
                layer, d = divmod(slot, dirs)
                if _errors(got.h_n[slot], want[slot], self.step_tol)[1] > 0:
                    layer_input = case.x[t] if layer == 0 else np.concatenate(
                        [oracle.states[layer - 1][k][t] for k in range(dirs)], axis=-1)
                    return self._divergence(
                        "teacher-forced", t, layer, d, "state", got.h_n[slot], want[slot], params,
                        layer_input, h_prev, slot, variant, want_all=want)
            half = got.output[0]
            if _errors(half, oracle.output[t], self.step_tol)[1] > 0:
                d = int(_errors(half.reshape(spec.batch, dirs, -1).transpose(1, 0, 2),
                                oracle.output[t].reshape(spec.batch, dirs, -1).transpose(1, 0, 2),
                                self.step_tol, axes=(1, 2))[1].argmax())
                hidden = spec.hidden_size
                return self._divergence("teacher-forced", t, spec.num_layers - 1, d, "output",
                                        half[:, d * hidden:(d + 1) * hidden],
                                        oracle.output[t][:, d * hidden:(d + 1) * hidden], params, None, None, None, variant)
        return None

    def _free_running(self, case: Case, params: CanonicalParams, oracle: OracleRun, got: Result,
                      variant: CellVariant, h0: np.ndarray | None) -> dict[str, Any] | None:
        spec = case.spec
        hidden, dirs, layers = spec.hidden_size, spec.num_directions, spec.num_layers
        last = layers - 1
        for d in range(dirs):
            order = range(spec.steps) if d == 0 else reversed(range(spec.steps))
            for t in order:
                g = got.output[t][:, d * hidden:(d + 1) * hidden]
                w = oracle.output[t][:, d * hidden:(d + 1) * hidden]
                if _errors(g, w, self.tol)[1] > 0:
                    layer_input, h_prev = None, None
                    if layers == 1:
                        layer_input = case.x[t]
                        prev = t - 1 if d == 0 else t + 1
                        if 0 <= prev < spec.steps:
                            h_prev = oracle.states[0][d][prev][None]
                        else:
                            h_prev = (h0[d][None] if h0 is not None else np.zeros((1, spec.batch, hidden)))
                    return self._divergence("free-running", t, last, d, "output", g, w, params, layer_input,
                                            h_prev, 0 if h_prev is not None else None, variant,
                                            states=oracle.states)
        for slot in range(got.h_n.shape[0]):
            if _errors(got.h_n[slot], oracle.h_n[slot], self.tol)[1] > 0:
                layer, d = divmod(slot, dirs)
                return self._divergence("free-running", spec.steps - 1 if d == 0 else 0, layer, d, "h_n",
                                        got.h_n[slot], oracle.h_n[slot], params, None, None, None, variant,
                                        states=oracle.states)
        return None

    def _divergence(self, mode: str, t: int, layer: int, d: int, what: str, got: np.ndarray, want: np.ndarray,
                    params: CanonicalParams, layer_input: np.ndarray | None, h_prev: np.ndarray | None,
                    slot: int | None, variant: CellVariant, *, want_all: np.ndarray | None = None,
                    states: list[list[np.ndarray]] | None = None) -> dict[str, Any]:
        diff = np.nan_to_num(np.abs(got - want), nan=np.inf)
        b, unit = (int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
        where = f"t={t}, layer {layer}, {DIRECTION_NAMES[d]} direction"
        if what == "h_n":
            where = f"h_n's layer {layer}, {DIRECTION_NAMES[d]} direction slot (its final state is at t={t})"
        quantity = {"state": "state h_t", "output": "output", "h_n": "final state"}[what]
        record: dict[str, Any] = {
            "mode": mode, "t": t, "layer": layer, "direction": DIRECTION_NAMES[d], "quantity": what,
            "batch": b, "unit": unit, "got": float(got[b, unit]), "want": float(want[b, unit]),
            "error": float(diff.max()),
        }
        explanation = None
        if layer_input is not None and h_prev is not None and slot is not None:
            explanation = self._explain_step(got, layer_input, h_prev, slot, params, layer, d, variant)
        if explanation is None and want_all is not None:
            explanation = self._explain_slot(got, want_all, slot)
        if explanation is None and states is not None:
            explanation = self._explain_elsewhere(got, states, t, layer, d)
        if explanation is None and self.findings:
            structural = [f["text"] for f in self.findings if f["kind"] in ("structure", "h0", "layout", "batch", "h_n", "repeat")]
            if structural:
                explanation = {"quantity": "assembly", "change": structural[0]}
        record["explained_by"] = explanation
        how = ("teacher-forced from the oracle's own previous state" if mode == "teacher-forced"
               else "free-running from the same start")
        text = (f"first departs at {where} ({quantity}, {how}): got {got[b, unit]:.6g}, the claimed equations give "
                f"{want[b, unit]:.6g} (batch {b}, unit {unit})")
        if explanation:
            text += f"; explained by {explanation['quantity']}: {explanation['change']}"
            if "error" in explanation:
                text += f" (substituted, max error {_fmt(explanation['error'])})"
        else:
            text += "; no single known change explains it (r, z and n are not observable through the adapter)"
        record["text"] = text
        return record

    def _explain_step(self, got: np.ndarray, layer_input: np.ndarray, h_prev: np.ndarray, slot: int,
                      params: CanonicalParams, layer: int, d: int, variant: CellVariant) -> dict[str, Any] | None:
        blocks = CellBlocks.of(params, layer, d == 1)
        h = h_prev[slot]
        singles: list[tuple[CellVariant, Deviation]] = []
        for name, choices in SCALAR_CHOICES.items():
            for value in choices:
                v = replace(self.claimed, **{name: value})
                singles += [(v, dev) for dev in deviations(v, self.claimed)[:1]]
        for order in ORDERS[1:]:
            v = self.claimed.with_order(order)
            singles += [(v, dev) for dev in deviations(v, self.claimed)[:1]]
        for v, dev in singles:
            if len(deviations(v, self.claimed)) != 1:
                continue
            e, excess = _errors(got, variant_step(v, layer_input, h, blocks).h, self.step_tol)
            if excess <= 0:
                return {"quantity": dev.quantity, "change": dev.text, "error": float(e)}
        if variant != self.claimed:
            e, excess = _errors(got, variant_step(variant, layer_input, h, blocks).h, self.step_tol)
            if excess <= 0:
                devs = deviations(variant, self.claimed)
                named = f"it computes {SHORT_NAMES[variant]}: " if variant in SHORT_NAMES else "together, "
                return {"quantity": _join(list(dict.fromkeys(dv.quantity for dv in devs))),
                        "change": named + _join([dv.text for dv in devs]), "error": float(e)}
        # The step started from another h0 slot?
        for other in range(h_prev.shape[0]):
            if other != slot and h_prev[other].shape == h.shape:
                e, excess = _errors(got, variant_step(variant, layer_input, h_prev[other], blocks).h, self.step_tol)
                if excess <= 0:
                    return {"quantity": "the initial state", "change": f"it starts from h0 slot {other} instead of "
                            f"slot {slot}", "error": float(e)}
        for perm in itertools.permutations(range(got.shape[0])):
            if list(perm) != list(range(got.shape[0])):
                want = variant_step(variant, layer_input, h, blocks).h
                e, excess = _errors(got, want[list(perm)], self.step_tol)
                if excess <= 0:
                    return {"quantity": "the batch rows", "change": "the rows come back permuted", "error": float(e)}
        return None

    def _explain_slot(self, got: np.ndarray, want_all: np.ndarray, slot: int | None) -> dict[str, Any] | None:
        for other in range(want_all.shape[0]):
            if other != slot and _errors(got, want_all[other], self.step_tol)[1] <= 0:
                return {"quantity": "the h_n slot", "change": f"slot {slot} holds the state that belongs in slot {other}"}
        return None

    def _explain_elsewhere(self, got: np.ndarray, states: list[list[np.ndarray]], t: int, layer: int,
                           d: int) -> dict[str, Any] | None:
        for l_, directions in enumerate(states):
            for d_, per_t in enumerate(directions):
                for t_ in range(per_t.shape[0]):
                    if (l_, d_, t_) != (layer, d, t) and _errors(got, per_t[t_], self.tol)[1] <= 0:
                        return {"quantity": "where the state is stored",
                                "change": f"it holds the layer {l_} {DIRECTION_NAMES[d_]} state of t={t_}"}
        return None

    def _explain_repeat(self, variant: CellVariant) -> dict[str, Any] | None:
        case, params, first, second = self._repeat_evidence
        want = variant_forward(case.x, params, first.h_n, variant)
        text = "the second of two identical calls (h0 = None) departs"
        if _errors(second.output, want.output, self.tol)[1] <= 0:
            text += "; explained by the initial state: it starts from the previous call's final states (a buffer kept between calls)"
            self.finding("repeat", "a call without h0 starts from the previous call's final states "
                         "(state kept between calls)")
            return {"mode": "repeated call", "text": text,
                    "explained_by": {"quantity": "the initial state", "change": "the previous call's final states"}}
        return {"mode": "repeated call", "text": text, "explained_by": None}

    def closest(self) -> CellVariant:
        """When nothing fits: the named convention, with at most one change, whose output
        is nearest on average (a free combination of many changes fits noise and says
        nothing); the claimed one unless another is clearly nearer."""
        obs = self.main
        h0 = obs.h0[0] if obs.h0 is not None else np.zeros((obs.spec.batch, obs.spec.hidden_size))
        blocks = CellBlocks.of(obs.params)

        def mean_error(v: CellVariant) -> float:
            with np.errstate(invalid="ignore", over="ignore"):
                diff = np.abs(variant_direction(v, obs.x, h0, blocks) - obs.result.output)
            return float(np.nan_to_num(diff, nan=np.inf).mean())

        simple = [v for v in self.search.pool if self.search.complexity(v) <= 1]
        scored = sorted((mean_error(v), i, v) for i, v in enumerate(simple))
        if not scored:
            return self.claimed
        best_error, _, best = scored[0]
        return self.claimed if mean_error(self.claimed) <= 1.1 * best_error else best

    def _first_error(self, v: CellVariant) -> str:
        """"error E at step t": where variant v first departs from the main probe's output."""
        obs = self.main
        h0 = obs.h0[0] if obs.h0 is not None else np.zeros((obs.spec.batch, obs.spec.hidden_size))
        want = variant_direction(v, obs.x, h0, CellBlocks.of(obs.params))
        for t in range(obs.spec.steps):
            error, excess = _errors(obs.result.output[t], want[t], self.tol)
            if excess > 0:
                return f"error {_fmt(float(error))} at step {t}"
        return f"max error {_fmt(float(_errors(obs.result.output, want, self.tol)[0]))}"

    # Result ---------------------------------------------------------------------
    def assemble(self, fit: Fit, switches: dict[str, Any], structure_info: dict[str, Any],
                 divergence: dict[str, Any] | None, conforming: bool, duration: float) -> dict[str, Any]:
        v = fit.variant
        base, devs = nearest_base(v, self.claimed)
        description = describe_variant(v, self.claimed)
        claimed_name = SHORT_NAMES[self.claimed]
        dtype = "float32 precision" if self.precision_note else self.dtype
        if fit.matches:
            status = "conforming" if conforming else "identified"
            summary = f"matches {description} (max error {_fmt(fit.error)}"
            summary += ", with these changes" if devs else ""
            summary += f", {dtype})"
            if not devs and base != self.claimed:
                summary += f", although it claims {claimed_name}"
        else:
            status = "unidentified"
            closest = self.closest()
            summary = (f"matches none of the known conventions (closest: "
                       f"{describe_variant(closest, self.claimed, long=False)}, {self._first_error(closest)})")
        undetermined = [SWITCH_TITLES[name] for name, s in switches.items()
                        if fit.matches and not s["determined"] and name in ("reset", "b_hn", "update", "gate_order")]
        if undetermined:
            summary += f"; undetermined: {_join(undetermined)}"
        extra = [f["text"] for f in self.findings]
        if extra:
            summary += "; " + "; ".join(extra)
        if divergence is not None:
            # Said in the summary when it adds to the fit: a path the fit did not see.
            if not fit.matches or divergence.get("path"):
                summary += f"; {divergence['text']}"
        if conforming:
            summary = "conforms in its forward values: " + summary
        details = [f"claimed: {BASE_NAMES[self.claimed]}",
                   f"fitted: {describe_variant(v, self.claimed)} (max error {_fmt(fit.error)}, "
                   f"{'within' if fit.matches else 'beyond'} the {self.dtype} sequence tolerance {self.tol})"]
        if not fit.matches:
            closest = self.closest()
            details.append(f"closest known convention: {describe_variant(closest, self.claimed)} "
                           f"({self._first_error(closest)})")
        for name, s in switches.items():
            state = "determined" if s["determined"] else s.get("note", "undetermined")
            details.append(f"{SWITCH_TITLES[name]}: {s['value']} ({state}; nearest other value off by "
                           f"{_fmt(s['nearest_alternative_error'])})")
        details.append(f"directions and layers: {structure_info.get('note', '')}")
        details += [f"finding: {f['text']}" for f in self.findings]
        if divergence is not None:
            details.append(f"first divergence: {divergence['text']}")
        details.append("probes: " + "; ".join(dict.fromkeys(self.probes)))
        details.append(f"scope: {SCOPE}")
        return {
            "status": status,
            "summary": summary,
            "claimed": BASE_NAMES[self.claimed],
            "convention": {
                "description": description,
                "matches": fit.matches,
                "base": BASE_NAMES[base],
                "deviations": [d.text for d in devs],
                "variant": v.to_json(),
                "max_error": fit.error,
                "dtype": self.dtype,
                "tolerance": self.tol.to_json(),
            },
            "switches": switches,
            "structure": structure_info,
            "findings": self.findings,
            "first_divergence": divergence,
            "details": details,
            "probes": list(dict.fromkeys(self.probes)),
            "scope": SCOPE,
            "duration": round(duration, 3),
        }


def diagnose(subject: Subject, probe: Probe | None = None) -> dict[str, Any] | None:
    """The diagnosis of a white-box subject (None for black-box adapters: nothing to read
    the convention from). Never raises: failures become a diagnosis with status "error"."""
    from conformance.isolation import WorkerLost

    if not subject.white_box:
        return None
    start = time.perf_counter()
    try:
        return _jsonable(_Diagnoser(subject, probe or Probe()).run())
    except AdapterError as exc:
        return {"status": "error", "summary": f"not diagnosed: the adapter failed on a probe: {exc}",
                "details": [str(exc)], "duration": round(time.perf_counter() - start, 3)}
    except WorkerLost as exc:
        return {"status": "error", "summary": f"not diagnosed: {str(exc).splitlines()[0]}",
                "details": [str(exc)], "duration": round(time.perf_counter() - start, 3)}
    except Exception as exc:  # noqa: BLE001 - a diagnosis must never break grading
        return {"status": "error",
                "summary": f"not diagnosed: internal error in the diagnosis: {type(exc).__name__}: {exc}",
                "details": [], "duration": round(time.perf_counter() - start, 3)}


def diagnose_isolated(subject: Subject, time_limit: float | None = None) -> dict[str, Any] | None:
    """``diagnose`` as a step of grading: bounded in time like a check, with what the
    implementation prints and the state it changes filed under "diagnosis"."""
    subject.begin_check("diagnosis", time_limit)
    try:
        return diagnose(subject)
    finally:
        subject.end_check()


def _torch_gru_error(case: Case, params: CanonicalParams, h0: np.ndarray | None, dtype: str) -> float | None:
    """The error of torch.nn.GRU computed in ``dtype`` against the float64 oracle: how large
    plain rounding in that dtype is on this case (None where torch cannot run it)."""
    spec = case.spec
    try:
        gru = torch.nn.GRU(spec.input_size, spec.hidden_size, dtype=DTYPES[dtype])
        gru.load_state_dict(params.tensors(DTYPES[dtype]))
        with torch.no_grad():
            output, _ = gru(torch.tensor(case.x, dtype=DTYPES[dtype]),
                            None if h0 is None else torch.tensor(h0, dtype=DTYPES[dtype]))
    except (RuntimeError, TypeError):
        return None
    want = gru_forward(case.x, params, h0).output
    return float(np.abs(output.to(torch.float64).numpy() - want).max())


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars unwrapped, tuples as lists, inf and nan as strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else str(float(value))
    return value


#: Why a record has no diagnosis.
BLACK_BOX_NOTE = ("not diagnosed: a black-box adapter (no load method) gives no weight access, so the "
                  "convention cannot be read from known parameters")


def diagnosis_note(subject: Subject) -> str:
    return "" if subject.white_box else BLACK_BOX_NOTE
