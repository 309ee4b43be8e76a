"""Process: what a call leaves behind in the process that runs it.

An implementation runs in a worker process of its own, and around every
request (build, load, call, backward) the suite snapshots torch's and the
process's global state and puts it back afterwards
(``conformance.running.process_state``), so no other check, and no other
implementation, ever sees a change. This family reports the changes
themselves: a GRU that turns grad mode off, reseeds torch, changes the
default dtype or replaces ``torch.tanh`` for the whole process breaks every
computation that runs after it in a real program.
"""

from __future__ import annotations

from conformance.cases.generated import CaseSpec
from conformance.cases.catalogue import check
from conformance.cases.compare import fail
from conformance.running.grads import implementation_gradients, loss_weights


def _exercise(subject) -> None:
    """One build, load, call (and backward, where claimed) of a small case, so that the
    check sees every kind of request even when it runs alone (``-k process``)."""
    caps = subject.capabilities
    spec = CaseSpec(steps=3, batch=3, input_size=2, hidden_size=3, num_layers=2 if caps.multi_layer else 1,
                    bidirectional=caps.bidirectional, batch_first=subject.layouts()[0],
                    dtype=(subject.dtypes() or ["float32"])[0], seed=7, with_h0=subject.is_cell or caps.h0)
    spec = subject.fitted(spec)
    subject.note_case(spec)
    case = spec.materialize()
    instance = subject.instantiate(case)
    subject.call(instance, case.x, case.h0)
    if caps.autograd and spec.dtype in ("float32", "float64"):
        implementation_gradients(subject, subject.instantiate(case), case, loss_weights(subject, spec),
                                 with_h0=subject.is_cell or caps.h0)


@check(
    "process.global-state",
    title="Leaves process-wide state alone",
    statement="no request (import, build, load, call, backward) changes process-wide state: torch's grad "
    "and inference mode, default dtype and device, random generators' seeds, thread count, anomaly "
    "detection, deterministic algorithms, autocast and backend flags; NumPy's error handling, the working "
    "directory, environment variables, import path, warning filters and signal handlers; no function of "
    "torch, NumPy or the suite replaced or removed, nor hidden by a new attribute; no thread, child process or exit "
    "handler of its own left behind (new attributes that replace nothing, and a library's own threads and "
    "helper processes, are noted, not failed)",
    reference="nn.GRU changes no global state; every change is put back after the request that made it, "
    "so only this check sees it",
)
def test_leaves_process_state_alone(subject):
    from conformance.running.subject import AdapterError

    try:
        _exercise(subject)
    except AdapterError:
        pass  # the adapter's failures are other checks' findings; the state is this one's
    subject.checkpoint()
    notes = _grouped([c for c in subject.state_changes if c.get("note")])
    if notes:
        subject.record("note", "changes nothing another computation sees: " + "; ".join(notes))
    changes = _grouped([c for c in subject.state_changes if not c.get("note")])
    if changes:
        fail("changed process-wide state, but should leave it as it found it: " + "; ".join(changes)
             + " [the grading never ran in that process; each change was undone after the request that made it, or "
             "the process replaced before the next check]")


def _grouped(changes: list[dict]) -> list[str]:
    """Each change once, with the checks during which it was seen."""
    seen: dict[str, list[str]] = {}
    for change in changes:
        where = seen.setdefault(change["text"], [])
        if change["check"] and change["check"] not in where:
            where.append(change["check"])
    lines = []
    for text, where in seen.items():
        shown = ", ".join(where[:4]) + (f" and {len(where) - 4} more" if len(where) > 4 else "")
        lines.append(f"{text} (seen during {shown})" if where else text)
    return lines
