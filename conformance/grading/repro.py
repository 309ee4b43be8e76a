"""Reproducing one reported case outside the suite.

Every failure in the HTML report comes with a snippet that calls
``reproduce``: it loads the implementation through its adapter, rebuilds the
generated case from its spec (sizes, dtype, seed...), runs it, and prints how
far the result is from the float64 oracle (for the variant the adapter claims)
and from ``torch.nn.GRU`` in float64, where the first difference appears
(time step, batch element, unit) and the largest state magnitude. It runs the
implementation in this process, so a debugger can step into it.

    >>> from conformance.grading.repro import reproduce
    >>> reproduce("doc000-cell", {"steps": 1, "batch": 1, "input_size": 1, "hidden_size": 1,
    ...                           "with_h0": False}, check_id="equations.step")  # doctest: +SKIP

``conformance.reporting.snippets`` writes that call as copy-pasteable Python for the report.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported only when a case is reproduced
    from conformance.cases.generated import CaseSpec
    from conformance.running.subject import Subject


@dataclass
class Divergence:
    """Where a result first leaves the tolerance: the earliest time step, then
    the batch element and unit with the largest excess at that step."""

    what: str  # "output" or "h_n"
    index: dict[str, int]
    got: float
    want: float

    def __str__(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.index.items())
        return f"{self.what}[{where}]: got {self.got:.6g}, but should be {self.want:.6g}"


@dataclass
class Reproduction:
    """What ``reproduce`` found for one implementation and case."""

    impl: str
    spec: Any
    check_id: str | None = None
    statement: str = ""
    description: str = ""
    reset: str = "after"
    white_box: bool = False
    #: The whole-sequence tolerance of the case's dtype (atol, rtol).
    tolerance: Any = None
    #: Largest |got - want| against the oracle of the claimed variant (white-box only).
    error_vs_oracle: float | None = None
    #: Largest |got - want| against torch.nn.GRU in float64 (white-box only).
    error_vs_torch: float | None = None
    #: Where the result first exceeds the tolerance against the oracle.
    first_divergence: Divergence | None = None
    #: One step at a time from the oracle's own previous state (teacher forcing).
    step_errors: list[float] = field(default_factory=list)
    #: Largest |h| in output and h_n: a GRU keeps it <= 1 when |h0| <= 1.
    max_abs_state: float | None = None
    shape_problems: list[str] = field(default_factory=list)
    #: What the case asks for that the adapter does not claim (its result means little then).
    unclaimed: list[str] = field(default_factory=list)
    #: What the adapter raised, if it did.
    error: str = ""

    @property
    def diverges(self) -> bool:
        return self.first_divergence is not None

    def __str__(self) -> str:
        lines = [self.description, f"case: {self.spec!r}"]
        if self.check_id:
            lines.append(f"check: {self.check_id}" + (f": {self.statement}" if self.statement else ""))
        lines += [f"warning: the case asks for {u}, which the adapter does not claim" for u in self.unclaimed]
        if self.error:
            lines.append(f"the adapter failed: {self.error}")
            return "\n".join(lines)
        lines += [f"shape problem: {p}" for p in self.shape_problems]
        if self.white_box:
            verdict = "exceeds" if self.error_vs_oracle is None or not self.error_vs_oracle <= self._bound() else "within"
            lines.append(f"max abs error vs the oracle (reset {self.reset}): {_e(self.error_vs_oracle)} "
                         f"({verdict} tolerance {self.tolerance})")
            note = ""
            if self.reset != "after":
                note = " (nn.GRU computes the reset-after variant; this implementation claims reset-before)"
            lines.append(f"max abs error vs torch.nn.GRU (float64): {_e(self.error_vs_torch)}{note}")
            if self.step_errors:
                steps = ", ".join(f"t={t}: {_e(e)}" for t, e in enumerate(self.step_errors))
                lines.append(f"error of each single step (from the oracle's previous state): {steps}")
            lines.append(f"first divergence: {self.first_divergence}" if self.first_divergence
                         else "first divergence: none (within tolerance everywhere)")
        else:
            lines.append("black-box adapter: the implementation keeps its own weights, so there is "
                         "no oracle to compare with; its own outputs are shown")
        lines.append(f"largest |h|: {_e(self.max_abs_state)} (a GRU keeps |h| <= 1 when |h0| <= 1)")
        return "\n".join(lines)

    def _bound(self) -> float:
        return self.tolerance.atol + self.tolerance.rtol if self.tolerance is not None else 0.0


def _e(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3e}"


def _spec(case: Any) -> "CaseSpec":
    from conformance.cases.generated import CaseSpec

    if isinstance(case, CaseSpec):
        return case
    if not isinstance(case, dict):
        raise TypeError(f"case is a {type(case).__name__}, but should be a CaseSpec or a dict of its fields")
    names = {f.name for f in dataclasses.fields(CaseSpec)}
    unknown = sorted(set(case) - names)
    if unknown:
        raise ValueError(f"case has unknown fields {unknown}, but CaseSpec has only {sorted(names)}")
    return CaseSpec(**case)


def _unclaimed(subject: "Subject", spec: "CaseSpec") -> list[str]:
    caps = subject.capabilities
    found = []
    if spec.batch_first not in subject.layouts():
        found.append(f"batch_first={spec.batch_first}")
    if spec.dtype not in subject.dtypes(("float64", "float32", "float16", "bfloat16")):
        found.append(f"dtype {spec.dtype}")
    if not subject.is_cell:
        if spec.bidirectional and not caps.bidirectional:
            found.append("bidirectional")
        if spec.num_layers > 1 and not caps.multi_layer:
            found.append(f"num_layers={spec.num_layers}")
        if spec.with_h0 and not caps.h0:
            found.append("an initial state h0")
    return found


def _registry_id(name: str) -> str | None:
    """The registry id of ``module:Class`` when it is a registered adapter (the report's
    snippets name adapters by ``module:Class``, which works for unregistered ones too)."""
    from conformance.grading.loading import registry

    return next((e.id for e in registry() if e.adapter == name), None)


def _first_divergence(got: Any, want: Any, tol: Any, what: str, names: tuple[str, ...]) -> Divergence | None:
    import numpy as np

    with np.errstate(invalid="ignore"):
        diff = np.nan_to_num(np.abs(got - want), nan=np.inf)
        excess = diff - tol.bound(want)
    bad = excess > 0
    if not bad.any():
        return None
    first = int(np.argmax(bad.reshape(bad.shape[0], -1).any(axis=1)))  # earliest leading index
    row = np.where(bad[first], excess[first], -np.inf)
    rest = np.unravel_index(int(np.argmax(row)), row.shape)
    index = (first, *(int(i) for i in rest))
    return Divergence(what, dict(zip(names, index)), float(got[index]), float(want[index]))


def reproduce(
    impl: "str | Subject",
    case: "CaseSpec | dict[str, Any]",
    check_id: str | None = None,
    *,
    show: bool = True,
) -> Reproduction:
    """Rebuild ``case`` for ``impl`` (registry id, entry-point name, ``module:Class``
    or ``path/to/file.py:Class``), run it through the adapter and compare it with
    the oracle and ``torch.nn.GRU``. Prints the findings (unless ``show=False``)
    and returns them."""
    import numpy as np

    from conformance.cases.catalogue import CHECKS
    from conformance.checks import load_all
    from conformance.cases.compare import max_abs_error
    from conformance.grading.loading import load_subject
    from conformance.model.reference import torch_reference
    from conformance.running.subject import AdapterError, Subject
    from conformance.base.tolerances import tolerance

    subject = impl if isinstance(impl, Subject) else load_subject(impl)
    if isinstance(impl, str) and subject.id != impl:
        subject.id = _registry_id(impl) or subject.id
    spec = _spec(case)
    statement = ""
    if check_id is not None:
        load_all()
        if check_id in CHECKS:
            statement = CHECKS[check_id].statement
    claim = "white-box" if subject.white_box else "black-box"
    found = Reproduction(
        impl=subject.id, spec=spec, check_id=check_id, statement=statement, reset=subject.reset,
        white_box=subject.white_box, tolerance=tolerance(spec.dtype, "sequence", subject.capabilities.precision),
        description=f"{subject.id} ({subject.name}, {subject.kind} adapter, claims reset {subject.reset}, {claim})",
    )
    found.unclaimed = _unclaimed(subject, spec)
    materialized = spec.materialize()
    try:
        instance = subject.instantiate(materialized)
        result = subject.call(instance, materialized.x, materialized.h0)
        found.shape_problems = list(result.shape_problems)
        found.max_abs_state = float(max(np.abs(result.output).max(initial=0.0), np.abs(result.h_n).max(initial=0.0)))
        if subject.white_box:
            oracle = materialized.oracle(subject.reset)
            found.error_vs_oracle = max(max_abs_error(result.output, oracle.output),
                                        max_abs_error(result.h_n, oracle.h_n))
            found.first_divergence = (
                _first_divergence(result.output, oracle.output, found.tolerance, "output", ("t", "b", "unit"))
                or _first_divergence(result.h_n, oracle.h_n, found.tolerance, "h_n", ("layer*dir", "b", "unit"))
            )
            want_output, want_h_n = torch_reference(materialized)
            found.error_vs_torch = max(max_abs_error(result.output, want_output),
                                       max_abs_error(result.h_n, want_h_n))
            if subject.is_cell or subject.capabilities.h0:
                for t in range(spec.steps):
                    h_prev, want_output, want_h_n = oracle.teacher_forced(t)
                    got = subject.call(instance, materialized.x[t : t + 1], h_prev)
                    found.step_errors.append(max(max_abs_error(got.output, want_output),
                                                 max_abs_error(got.h_n, want_h_n)))
    except AdapterError as exc:
        found.error = str(exc)
    if show:
        print(found)
    return found
