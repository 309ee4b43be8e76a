"""What every probe shares: the probe sizes, the subject, the fitted convention so far,
the findings, and the ways to build probe cases, call the implementation and compare.

A probe reads and writes only this context (``Context``), so probes do not depend
on each other's code, only on what the pipeline (``conformance.diagnosis.pipeline``)
has put here before them: the main observation and the fitted convention.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.cases.generated import Case, CaseSpec
from conformance.base.params import CanonicalParams
from conformance.running.subject import AdapterError, Instance, Result, Subject
from conformance.base.tolerances import Tolerance, tolerance
from conformance.model.variants import CLAIMED, PYTORCH, STANDARD, CellVariant, Structure

DIRECTION_NAMES = ("forward", "backward")


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
class Observation:
    """One call of the implementation on a probe case, read as time-major float64."""

    spec: CaseSpec
    params: CanonicalParams
    x: np.ndarray
    h0: np.ndarray | None
    result: Result


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
class Context:
    """The state of one diagnosis, shared by its probes."""

    subject: Subject
    probe: Probe
    findings: list[dict[str, Any]] = field(default_factory=list)
    #: repr of every probe case, in order (shown in the details).
    probes: list[str] = field(default_factory=list)
    #: The main probe's observation and the fit (set by the pipeline before the probes run).
    main: Observation | None = None
    fit: Fit | None = None
    #: Evidence of which terms act, when nothing fitted (``conformance.diagnosis.terms``).
    evidence: dict[str, Any] | None = None
    precision_note: str = ""
    #: The precision the fit holds at when it is coarser than the dtype's ("float32 precision").
    precision_label: str = ""
    rows_permuted: bool = False
    h0_honoured: bool = True
    #: How directions and layers are assembled (standard until the assembly probe says otherwise).
    assembly: Structure = STANDARD
    assembly_known: bool = False
    structure_info: dict[str, Any] = field(default_factory=dict)
    #: A multi-layer or bidirectional run the localization can reuse: (case, params, result).
    local_run: tuple[Case, CanonicalParams, Result] | None = None
    #: Evidence kept for the localization: a run with h0 = None that differs from h0 = zeros,
    #: and two repeated calls that differ.
    none_run: tuple[Case, CanonicalParams, Result] | None = None
    #: (case, params, first, second, h0): two identical calls that differ.
    repeat_runs: tuple[Any, ...] | None = None
    #: The main probe's instance and its call without h0 (None when that call failed).
    main_instance: Instance | None = None
    main_none: Result | None = None

    def __post_init__(self) -> None:
        subject = self.subject
        self.caps = subject.capabilities
        dtypes = subject.dtypes()
        self.dtype = "float64" if "float64" in dtypes else (dtypes[0] if dtypes else "float32")
        self.tol: Tolerance = tolerance(self.dtype, "sequence", self.caps.precision)
        self.step_tol: Tolerance = tolerance(self.dtype, "step", self.caps.precision)
        if self.caps.precision and self.dtype == "float32":
            self.precision_label = f"float32 inputs, {self.caps.precision} precision claimed"
        self.claimed: CellVariant = CLAIMED.get(subject.reset, PYTORCH)
        self.h0_capable = subject.is_cell or self.caps.h0
        self.h0_honoured = self.h0_capable
        self.layout = subject.layouts()[0] if subject.layouts() else False

    @property
    def variant(self) -> CellVariant:
        """The fitted convention (the claimed one before the fit)."""
        return self.fit.variant if self.fit is not None else self.claimed

    # Probe cases ---------------------------------------------------------------
    def spec(self, **changes: Any) -> CaseSpec:
        p = self.probe
        base = CaseSpec(steps=p.steps, batch=p.batch, input_size=p.input_size, hidden_size=p.hidden_size,
                        batch_first=self.layout, dtype=self.dtype, seed=p.seed, weight_scale=p.weight_scale)
        return base.with_(**changes)

    def materialize(self, spec: CaseSpec) -> tuple[Case, CanonicalParams]:
        case = spec.materialize()
        params = case.params
        if self.probe.zero_b_hn:
            params = params.without_b_hn()
        self.probes.append(repr(spec))
        return case, params

    def h0_of(self, case: Case) -> np.ndarray | None:
        """The h0 to hand over: the case's, where the implementation takes and honours one."""
        return case.h0 if self.h0_honoured else None

    # Calls ---------------------------------------------------------------------
    def call(self, instance: Instance, x: np.ndarray, h0: np.ndarray | None,
             *, unbatched: bool = False) -> tuple[Result, bool]:
        """Call, and tell whether the h0 tensor handed over was changed by the call."""
        returned = self.subject.execute(instance, x, h0, unbatched=unbatched, keep_inputs=True)
        result = self.subject.read(instance, returned)
        inputs = returned.inputs
        mutated = "h0_before" in inputs and not np.array_equal(inputs["h0_before"], inputs["h0_after"],
                                                               equal_nan=True)
        return result, mutated

    def run(self, case: Case, params: CanonicalParams, h0: np.ndarray | None) -> Result:
        """Build, load ``params`` and call once."""
        instance = self.subject.instantiate(case, params)
        return self.call(instance, case.x, h0)[0]

    # Comparing -------------------------------------------------------------------
    def compare(self, got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
        """Errors against the fitted tolerance; once batch rows are known to come back
        permuted, the best row order is taken so that one bug is reported once."""
        error, excess = (float(v) for v in errors(got, want, self.tol))
        if excess > 0 and self.rows_permuted and got.ndim == 3 and got.shape == want.shape:
            for perm in itertools.permutations(range(got.shape[1])):
                e, x = (float(v) for v in errors(got, want[:, list(perm)], self.tol))
                if x < excess:
                    error, excess = e, x
        return error, excess

    def matches(self, got: np.ndarray, want: np.ndarray, tol: Tolerance | None = None) -> bool:
        return bool(errors(got, want, tol or self.step_tol)[1] <= 0)

    # Findings ---------------------------------------------------------------------
    def finding(self, kind: str, text: str, **extra: Any) -> None:
        if all(f["text"] != text for f in self.findings):
            self.findings.append({"kind": kind, "text": text, **extra})

    def guarded(self, name: str, step: Any, *args: Any) -> Any:
        """Run one probe after the main fit: if the adapter fails there, that is a finding
        and the rest of the diagnosis still stands."""
        try:
            return step(*args)
        except AdapterError as exc:
            self.finding("error", f"the {name} probe failed: {exc}")
            return None


def errors(got: np.ndarray, want: np.ndarray, tol: Tolerance, axes: Any = None) -> tuple[Any, Any]:
    """Largest absolute error and largest excess over the tolerance (inf when not finite)."""
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.nan_to_num(np.abs(got - want), nan=np.inf, posinf=np.inf)
        bound = tol.bound(np.nan_to_num(want, nan=0.0, posinf=0.0, neginf=0.0))
        return diff.max(axis=axes), (diff - bound).max(axis=axes)


def fmt(value: float) -> str:
    """An error for reading: one or two significant digits."""
    if not np.isfinite(value):
        return str(value)
    return f"{value:.1g}" if value < 1e-3 else f"{value:.2g}"


def join(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
