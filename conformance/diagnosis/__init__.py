"""Diagnosis: which GRU an implementation computes, and where a wrong one departs.

Pass/fail says *that* an implementation disagrees with the equations; the
diagnosis says *what it computes instead*, in words. For a white-box adapter it
runs the implementation on probe cases built so that every mechanism changes the
output (H >= 2, I != H, B >= 3, random weights per gate, b_hn away from zero, a
non-uniform h0), and

* fits the variant oracles of ``conformance.model.variants`` (reset placement, where b_hn
  sits, update polarity and known slips, the gate-block order, bias vectors ignored,
  doubled or folded, gates without an input or recurrent term, missing biases, a
  candidate without the reset gate) and says for every switch whether the probes
  determine it ("undetermined", never guessed);
* when nothing fits, asks which parameter blocks act at all and says "unidentified"
  with that evidence rather than naming a convention that does not explain it;
* runs the registered probes: directions and layers, h0 = None, repeated calls,
  layouts, unbatched, variable-length and non-contiguous input, saturation, the other
  claimed dtypes;
* localizes the first departure from the claimed equations and the single quantity
  that explains it, and leads its summary with it.

The package, one concern a module:

=================  ===========================================================
``context``        the probe sizes and the state every probe shares
``registry``       ``@probe(id, title=, requires=, after=)``: how probes register
``switches``       every switch of a cell variant, described once
``names``          the named conventions and a variant's description
``fitting``        the search over variants, and what to do when nothing fits
``terms``          which parameter blocks act (the structural probe of a cell)
``structure``      how directions and layers are assembled (registered probe)
``calls``          repeated calls, h0 = None, h_n (registered probes)
``inputs``         layouts, non-contiguous, lengths, unbatched (registered probes)
``numerics``       saturation and the other claimed dtypes (registered probes)
``localization``   the first departure and what explains it
``wording``        the JSON record and its summary
``pipeline``       the order: observe, fit, probes, localize, word
=================  ===========================================================

Only what an adapter exposes is used: ``Subject.instantiate`` and ``Subject.call``
(cells are unrolled by the suite, so for them direction and layer handling is the
suite's own). Nothing here raises: an adapter error becomes a diagnosis that says so.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

# The probe modules register their probes on import, in this order.
from conformance.diagnosis import call_probes, structure, inputs, numerics  # noqa: F401,I001
from conformance.diagnosis import pipeline
from conformance.diagnosis.context import Probe
from conformance.diagnosis.probe_registry import PROBES, probe
from conformance.running.subject import AdapterError, CheckRecord, Subject

__all__ = ["BLACK_BOX_NOTE", "PROBES", "Probe", "diagnose", "diagnose_isolated", "diagnosis_note", "probe"]

#: Why a record has no diagnosis.
BLACK_BOX_NOTE = ("not diagnosed: a black-box adapter (no load method) gives no weight access, so the "
                  "convention cannot be read from known parameters")


def diagnose(subject: Subject, probe: Probe | None = None) -> dict[str, Any] | None:
    """The diagnosis of a white-box subject (None for black-box adapters: nothing to read
    the convention from). Never raises: failures become a diagnosis with status "error"."""
    from conformance.running.isolation import WorkerLost

    if not subject.white_box or unsupported(subject):
        return None
    start = time.perf_counter()
    try:
        return _jsonable(pipeline.run(subject, probe or Probe()))
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
    finally:
        subject.checkpoint()  # what the probes changed in the process is put back (and noted)


def diagnose_isolated(subject: Subject, time_limit: float | None = None) -> dict[str, Any] | None:
    """``diagnose`` as a step of grading: bounded in time like a check, with what the
    implementation prints and the state it changes filed under "diagnosis"."""
    subject.begin_check(CheckRecord("diagnosis"), time_limit)
    try:
        return diagnose(subject)
    finally:
        subject.end_check()


def unsupported(subject: Subject) -> str:
    """Why the probes cannot read this implementation ("" when they can): they need both
    results, a state per layer and direction, one direction available and biases."""
    return unsupported_claims(subject.capabilities)


def unsupported_claims(caps: Any) -> str:
    """``unsupported`` from the capabilities alone (an object with their fields)."""
    reasons = [why for claimed, why in (
        (caps.returns != "both", f"it returns only its {'output sequence' if caps.returns == 'output' else 'final state'}"),
        (caps.h0_shared, "it takes one shared initial state"),
        (not caps.unidirectional, "it runs bidirectional only"),
        (not caps.biases, "it has no biases"),
    ) if claimed]
    if not reasons:
        return ""
    return ("not diagnosed: the probes read both results, a state per layer and direction, one direction and "
            "the biases, but " + "; ".join(reasons) + " (its checks grade it)")


def diagnosis_note(subject: Subject) -> str:
    if not subject.white_box:
        return BLACK_BOX_NOTE
    return unsupported(subject)


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
