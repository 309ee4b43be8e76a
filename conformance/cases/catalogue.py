"""Check metadata: every check has a stable id, a one-line statement and a
reference to the equation or identity it verifies, so reports, filters and the
self-tests all read the same catalogue.

A check is a test function in ``conformance/checks/<family>.py`` decorated
with ``@check(...)``. ``requires`` names what the implementation must claim for
the check to apply; ``depends_on`` names checks whose failure makes this one
"blocked" (reported once, at the root, not as a flood of follow-on failures).

A check stated the same way for every value of an axis (a dtype, a device) is
declared once with ``@check_over(axis, variants, ...)``: the catalogue expands it
into one check per value (``precision.float32``, ``devices.cuda``), each with its
own id, requirements and test function, as PyTorch's OpInfo instantiates a test
per device and dtype.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from hypothesis import given, is_hypothesis_test
from hypothesis import strategies as st

from conformance.cases.generated import DTYPES
from conformance.base.devices import DEVICES, cross_device_requirement, device_requirement

FAMILIES: dict[str, str] = {
    "contract": "Contract: shapes, dtypes, purity and determinism of a call",
    "equations": "Equations (white-box): the implementation against the float64 oracle and nn.GRU",
    "sequence": "Sequence properties (black-box): stepping, splitting, h0 and batch independence",
    "bounds": "Bounds (black-box): states stay in [-1, 1] and finite",
    "directions": "Directions and layers: final states, reverse direction",
    "calls": "Call patterns: parameters reloaded, other sizes on one instance, results kept past the next call, "
             "autograd modes, training mode and its dropout, conversion",
    "precision": "Precisions: float64, float32, float16 and bfloat16 against the float64 oracle",
    "gradients": "Gradients: backward pass against the float64 oracle's, nn.GRU's and finite differences, "
                 "under the calls training makes",
    "varlen": "Variable-length batches: PackedSequence or explicit lengths",
    "inputs": "Unusual inputs: non-contiguous, every layout, all-zero steps, batch of one, wrong shape or dtype",
    "devices": "Devices: CPU, CUDA and MPS, and the same results on each",
    "process": "Process: what a call leaves behind in the process that runs it",
}

#: Human explanation of each requirement, used for "not applicable" verdicts.
REQUIREMENTS: dict[str, str] = {
    "white_box": "the adapter does not load canonical parameters (no load method), so the "
    "implementation's own weights are unknown",
    "layer": "a cell adapter: the suite unrolls cells itself, so this layer property "
    "holds by construction and says nothing about the cell",
    "h0": "the implementation takes no initial state",
    "bidirectional": "the implementation does not claim bidirectional",
    "multi_layer": "the implementation does not claim multiple layers",
    "dropout": "the implementation does not claim nn.GRU's dropout",
    "unbatched": "the implementation does not claim unbatched (T, I) input",
    "reset_after": "the implementation claims the reset-before variant, which nn.GRU does not compute",
    # The dtype axis: a check in one dtype needs that dtype claimed.
    **{dtype: f"the implementation does not claim {dtype}" for dtype in DTYPES},
    "autograd": "the implementation does not claim autograd support",
    "parameter_grads": "the adapter has no grads method, so the implementation's parameter "
    "gradients cannot be read in canonical layout",
    "lengths": "the implementation does not claim variable-length input (PackedSequence or lengths)",
    "unidirectional": "the implementation claims bidirectional only, and this check needs a single direction",
    "h0_full": "the implementation takes one shared initial state, and this check hands it a state per "
    "layer and direction (its own h_n fed back)",
    "per_slot_h0": "the implementation takes one shared initial state and is bidirectional only, so no case "
    "has a single state slot to hand it the oracle's own state",
    "output": "the implementation returns only its final state, and this check reads the output sequence",
    "h_n": "the implementation returns only its output sequence, and this check reads the final state",
    "two_dtypes": "the implementation claims a single dtype, so there is no other claimed dtype to convert it to",
    "cpu": "the implementation does not claim the cpu device",
    "cuda": "the implementation does not claim the cuda device, or no CUDA device is present",
    "mps": "the implementation does not claim the mps device, or no MPS device is present",
    "cross_device": "fewer than two claimed devices are present",
}

#: Requirements whose reason depends on the machine as well as the claims:
#: requirement -> function(subject) giving the reason it is unmet, or None.
DYNAMIC_REQUIREMENTS: dict[str, Callable[[Any], str | None]] = {}


def _register_device_requirements() -> None:
    # The device axis: a check on one device needs it claimed and present.
    for device in DEVICES:
        DYNAMIC_REQUIREMENTS[device] = device_requirement(device)
    DYNAMIC_REQUIREMENTS["cross_device"] = cross_device_requirement


_register_device_requirements()

#: Check severities: a failed "warning" check is reported (status "warn") but does
#: not make the implementation nonconformant.
SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class Check:
    id: str
    family: str
    title: str
    statement: str
    reference: str
    requires: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    #: Which tolerance kind applies ("step", "sequence", "self"), if any.
    tolerance: str | None = None
    #: "error" (a failure makes the implementation nonconformant) or "warning".
    severity: str = "error"
    #: A size-sweep check (``conformance.cases.sizes``): each example is several larger cases,
    #: so it runs a share of the profile's examples.
    sweep: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


CHECKS: dict[str, Check] = {}
CHECK_FUNCTIONS: dict[str, Callable[..., Any]] = {}


def check(
    id: str,
    *,
    title: str,
    statement: str,
    reference: str,
    requires: tuple[str, ...] = (),
    depends_on: tuple[str, ...] = (),
    tolerance: str | None = None,
    severity: str = "error",
    sweep: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach metadata to a check function and register it in the catalogue."""
    meta = _checked(Check(id, id.split(".", 1)[0], title, statement, reference, tuple(requires),
                          tuple(depends_on), tolerance, severity, sweep))

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        return _register(meta, fn)

    return decorate


def _checked(meta: Check) -> Check:
    """``meta``, once its family, requirements and severity are known ones."""
    if meta.family not in FAMILIES:
        raise ValueError(f"unknown family {meta.family!r} in check id {meta.id!r}")
    for requirement in meta.requires:
        if requirement not in REQUIREMENTS:
            raise ValueError(f"unknown requirement {requirement!r} in check {meta.id!r}")
    if meta.severity not in SEVERITIES:
        raise ValueError(f"unknown severity {meta.severity!r} in check {meta.id!r}")
    return meta


def _register(meta: Check, fn: Callable[..., Any]) -> Callable[..., Any]:
    # A check module imported twice (by the catalogue and by pytest) registers the same
    # functions again; another function under a taken id is a mistake.
    if meta.id in CHECKS and CHECK_FUNCTIONS[meta.id].__qualname__ != fn.__qualname__:
        raise ValueError(f"duplicate check id {meta.id!r}")
    if is_hypothesis_test(fn):
        # The engine runs each check as given(data=st.data()) of its body (engine.seeded_run).
        drawn = set(inspect.signature(fn.hypothesis.inner_test).parameters) - set(inspect.signature(fn).parameters)
        if drawn != {"data"}:
            raise ValueError(f"check {meta.id!r} draws {sorted(drawn)}, but a check should draw ['data'] only "
                             f"(@given(data=st.data()))")
    fn.conformance_check = meta  # type: ignore[attr-defined]
    CHECKS[meta.id] = meta
    CHECK_FUNCTIONS[meta.id] = fn
    return fn


@dataclass(frozen=True)
class AxisCheck:
    """One check declared over an axis, expanded: ``tests`` holds its test function for
    each value, by name, for the declaring module to bind (``globals().update(...tests)``)
    so that pytest collects them as it would hand-written ones."""

    tests: dict[str, Callable[..., Any]]


def check_over(
    axis: str,
    variants: Mapping[str, Mapping[str, Any]],
    *,
    id: str,
    test: str,
    **shared: Any,
) -> Callable[[Callable[..., Any]], AxisCheck]:
    """Declare one check over ``axis``: one catalogue entry and one test function per value.

    The decorated body is ``body(subject, data, <axis>=value)``, ``data`` being hypothesis'
    ``st.data()``. ``id``, ``test`` (the test function's name) and the strings of ``shared``
    (``@check``'s other fields) name the value as ``{<axis>}``; ``variants`` maps each value
    to the fields it states itself (a title, a statement, what it depends on). E.g.
    ``check_over("dtype", {"float32": {...}}, id="precision.{dtype}", requires=("{dtype}",), ...)``.
    The test functions carry the names ``test`` gives them, so hypothesis reports a
    failing case under that name and pytest's node ids name the value."""

    def decorate(body: Callable[..., Any]) -> AxisCheck:
        tests: dict[str, Callable[..., Any]] = {}
        for value, own in variants.items():
            fields = {name: _with_value(given_value, axis, value) for name, given_value in shared.items()}
            check_id = _with_value(id, axis, value)
            meta = _checked(Check(check_id, check_id.split(".", 1)[0], **(fields | dict(own))))
            name = _with_value(test, axis, value)
            tests[name] = _register(meta, _test_function(body, name, {axis: value}))
        return AxisCheck(tests)

    return decorate


def _with_value(field: Any, axis: str, value: str) -> Any:
    """A declaration's field with ``{axis}`` replaced by ``value`` in its strings."""
    if isinstance(field, str):
        return field.replace("{" + axis + "}", value)
    if isinstance(field, tuple):
        return tuple(_with_value(item, axis, value) for item in field)
    return field


def _test_function(body: Callable[..., Any], name: str, bound: dict[str, Any]) -> Callable[..., Any]:
    """``body`` with the axis value bound, as a hypothesis test named ``name`` taking
    ``subject`` (what the plugin parametrizes) and drawing ``data``."""

    def run(subject: Any, data: Any) -> None:
        body(subject, data, **bound)

    run.__name__ = run.__qualname__ = name
    run.__module__ = body.__module__
    run.__doc__ = body.__doc__
    return given(data=st.data())(run)


def check_of(fn: Any) -> Check | None:
    return getattr(fn, "conformance_check", None)


def unmet_requirement(meta: Check, subject: Any) -> str | None:
    """The reason ``meta`` does not apply to ``subject``, or None if it applies."""
    caps = subject.capabilities
    have = {
        "white_box": subject.white_box,
        "layer": not subject.is_cell,
        "h0": subject.is_cell or caps.h0,
        "bidirectional": caps.bidirectional,
        "multi_layer": caps.multi_layer,
        "dropout": caps.dropout,
        "unbatched": caps.unbatched,
        "reset_after": subject.reset == "after",
        **{dtype: dtype in subject.dtypes((dtype,)) for dtype in DTYPES},
        "autograd": caps.autograd,
        "parameter_grads": subject.has_grads,
        "lengths": caps.lengths,
        "unidirectional": caps.unidirectional,
        "h0_full": not caps.h0_shared,
        "per_slot_h0": not caps.h0_shared or caps.unidirectional,
        "output": caps.returns != "state",
        "h_n": caps.returns != "output",
        "two_dtypes": len(subject.dtypes(tuple(DTYPES))) >= 2,
    }
    for requirement in meta.requires:
        if requirement in DYNAMIC_REQUIREMENTS:
            reason = DYNAMIC_REQUIREMENTS[requirement](subject)
            if reason:
                return reason
        elif not have[requirement]:
            return REQUIREMENTS[requirement]
    return None


def ordered_ids() -> list[str]:
    """Check ids in family order then definition order: dependencies come first."""
    families = list(FAMILIES)
    return sorted(CHECKS, key=lambda cid: (families.index(CHECKS[cid].family), list(CHECKS).index(cid)))
