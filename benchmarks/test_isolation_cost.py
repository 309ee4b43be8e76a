"""What isolation costs: starting an implementation's worker (until its hello, the
adapter imported), and one call's round trip through the worker against the same
call in this process (``--no-isolation``). ``tox -e bench`` prints them with the
other timings; the README quotes them. Nothing is asserted about the numbers.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.cases.generated import CaseSpec
from conformance.grading.loading import load_subject, resolve, worker_for
from conformance.running.sandbox import Sandbox

#: A small case, as the checks draw them: the round trip is what is measured.
CASE = CaseSpec(steps=4, batch=3, input_size=3, hidden_size=4, num_layers=2, bidirectional=True, seed=1)


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox.detect()


def test_worker_start(benchmark: Any, sandbox: Sandbox) -> None:
    """From launching the worker to its answer: torch imported, the adapter loaded."""
    benchmark.group = "isolation"
    benchmark.extra_info.update(what="worker start-up", sandbox=sandbox.tool or "none")
    target = resolve("torch-gru")

    def start() -> None:
        worker = worker_for(target, sandbox)
        try:
            worker.request({"op": "describe"})
        finally:
            worker.close()

    benchmark.pedantic(start, rounds=3, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("where", ["in-process", "worker"])
def test_call_round_trip(benchmark: Any, sandbox: Sandbox, where: str) -> None:
    """One call of nn.GRU on a small case, read back as float64 arrays."""
    benchmark.group = "isolation"
    benchmark.extra_info.update(what=f"one call, {where}", sandbox=sandbox.tool or "none")
    subject = load_subject("torch-gru", isolation=sandbox if where == "worker" else None)
    case = CASE.materialize()
    try:
        instance = subject.instantiate(case)
        benchmark(subject.call, instance, case.x, case.h0)
    finally:
        subject.close()
