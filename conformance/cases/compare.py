"""Comparisons that fail with a message a person can act on:
"got X, but should be Y [call]", the worst element, the error and the tolerance."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.cases.generated import CaseSpec
from conformance.base.tolerances import Tolerance


class NotReturned:
    """A result the implementation does not return, as it claims (``Capabilities.returns``):
    any part of it is itself, and a comparison with it is not made."""

    shape: tuple[int, ...] = ()

    def __getitem__(self, index: Any) -> "NotReturned":
        return self

    def __repr__(self) -> str:
        return "NOT_RETURNED"


NOT_RETURNED = NotReturned()


def returned(*values: Any) -> list[Any]:
    """The values that were returned (those that are not ``NOT_RETURNED``)."""
    return [v for v in values if not isinstance(v, NotReturned)]


class CheckFailure(AssertionError):
    """A check's statement does not hold. Carries the case and the measured error."""

    def __init__(
        self,
        message: str,
        *,
        case: CaseSpec | None = None,
        max_error: float | None = None,
        tolerance: Tolerance | None = None,
    ) -> None:
        if case is not None:
            message = f"{message}\n  case: {case!r}"
        super().__init__(message)
        self.case = case
        self.max_error = max_error
        self.tolerance = tolerance


def _index_names(what: str, shape: tuple[int, ...]) -> tuple[str, ...]:
    if what.startswith("h_n"):
        return ("layer*dir", "b", "unit")[-len(shape):] if len(shape) <= 3 else tuple(f"i{k}" for k in range(len(shape)))
    names = ("t", "b", "unit")
    return names[-len(shape):] if len(shape) <= 3 else tuple(f"i{k}" for k in range(len(shape)))


def _fmt_pair(got: float, want: float) -> str:
    """'got X, but should be Y' with enough digits that X and Y visibly differ."""
    for digits in range(6, 18):
        a, b = f"{got:.{digits}g}", f"{want:.{digits}g}"
        if a != b:
            break
    return f"{a}, but should be {b}"


def max_abs_error(got: np.ndarray, want: np.ndarray) -> float:
    if got.size == 0:
        return 0.0
    diff = np.abs(got - want)
    if not np.all(np.isfinite(diff)):
        return float("inf")
    return float(diff.max())


def assert_close(
    got: np.ndarray | NotReturned,
    want: np.ndarray | NotReturned,
    tol: Tolerance,
    *,
    what: str,
    call: str,
    case: CaseSpec | None = None,
    should: str = "",
) -> float:
    """Raise ``CheckFailure`` unless |got - want| <= atol + rtol*|want| everywhere.
    Returns the largest absolute error (for the report's error-vs-tolerance table).

    ``got`` (or ``want``) ``NOT_RETURNED``: a result the implementation does not return, as
    it claims (``Capabilities.returns``); nothing is compared."""
    if isinstance(got, NotReturned) or isinstance(want, NotReturned):
        return 0.0
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise CheckFailure(
            f"{what} has shape {got.shape}, but should have shape {want.shape} [{call}]", case=case
        )
    error = max_abs_error(got, want)
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(got - want) <= tol.bound(want))
    if bad.any():
        excess = np.where(bad, np.nan_to_num(np.abs(got - want), nan=np.inf) - tol.bound(want), -np.inf)
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), got.shape))
        where = ", ".join(f"{n}={i}" for n, i in zip(_index_names(what, got.shape), index))
        reason = f" ({should})" if should else ""
        raise CheckFailure(
            f"{what}[{where}]: got {_fmt_pair(got[index], want[index])}{reason}; "
            f"max abs error {error:.3g} > tolerance {tol} [{call}]",
            case=case,
            max_error=error,
            tolerance=tol,
        )
    return error


class Blocked(Exception):
    """Raised by a check that finds, while running, that what it sees is another check's
    failure (its message starts "blocked by <check id>"): reported "blocked", not "fail"."""

    def __init__(self, message: str, *, case: CaseSpec | None = None) -> None:
        super().__init__(message)
        self.case = case


class NotApplicable(BaseException):
    """Raised when the implementation turns out, while the check runs, not to have what the
    check needs (a training mode, conversion after construction): the check is "not
    applicable" with this reason. A BaseException, so that hypothesis stops at once instead of
    shrinking it as a failure."""


def assert_results_close(got: Any, want: Any, tol: Tolerance, *, what: str, case: CaseSpec | None = None,
                         should: str = "") -> float:
    """``assert_close`` on both results of a call read (``output``, then ``h_n``), each named
    "output (``what``)" and "h_n (``what``)"; returns the larger error."""
    error = assert_close(got.output, want.output, tol, what=f"output ({what})", call=got.call, case=case,
                         should=should)
    return max(error, assert_close(got.h_n, want.h_n, tol, what=f"h_n ({what})", call=got.call, case=case,
                                   should=should))


def fail(message: str, *, call: str = "", case: CaseSpec | None = None, **extra: Any) -> None:
    """Raise a ``CheckFailure`` with the call appended."""
    raise CheckFailure(f"{message} [{call}]" if call else message, case=case, **extra)
