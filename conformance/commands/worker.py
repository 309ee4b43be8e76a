"""An implementation's worker process: ``python -m conformance.commands.worker SPEC``.

Started by the grader (``conformance.running.isolation``), usually inside the sandbox
(``conformance.running.sandbox``). It imports the adapter named by ``SPEC``
(``module:Class`` or ``path/to/file.py:Class``), then answers requests
(``conformance.running.executor``) on its standard input and output, which it keeps
for the protocol alone: whatever the implementation prints, from Python or C,
goes to file descriptors 1 and 2, which point at the grader's capture pipe.

The first message it sends is its hello: the adapter's declarations, or why
the adapter could not be loaded. The process ends when its input closes.
"""

from __future__ import annotations

import argparse
import os
import sys


#: The global generators' seed in every worker.
WORKER_SEED = 20240601


def _take_channel() -> tuple[object, object]:
    """Keep stdin/stdout for the protocol; point fd 0 at /dev/null and fd 1 at fd 2
    (the capture pipe), so nothing the implementation prints can reach the protocol."""
    channel_in = os.fdopen(os.dup(0), "rb")
    channel_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return channel_in, channel_out


def main(argv: list[str] | None = None) -> int:
    channel_in, channel_out = _take_channel()
    parser = argparse.ArgumentParser(prog="python -m conformance.commands.worker")
    parser.add_argument("spec", help="module:Class or path/to/file.py:Class")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's own choice)")
    args = parser.parse_args(argv)

    import torch

    from conformance.running import wire
    from conformance.running.executor import Executor, describe
    from conformance.running.process_state import StateGuard

    if args.threads:
        torch.set_num_threads(args.threads)
    # Reproducible grading: an implementation that draws from the global generators
    # draws the same numbers in every run.
    import random

    import numpy

    torch.manual_seed(WORKER_SEED)
    numpy.random.seed(WORKER_SEED)
    random.seed(WORKER_SEED)
    # The suite's own grading modules are imported first (a few milliseconds), so that one
    # of their functions replaced by the implementation is found by identity and put back.
    import conformance.cases.catalogue  # noqa: F401
    import conformance.cases.compare  # noqa: F401
    import conformance.model.oracle  # noqa: F401
    import conformance.grading.results  # noqa: F401
    import conformance.running.subject  # noqa: F401

    # The state before the implementation's module is imported is the pristine one, so
    # what the import itself changes (a replaced function, a reseed) is seen and undone.
    guard = StateGuard()
    before = guard.snapshot()
    from conformance.grading.loading import AdapterLoadError, load_adapter

    try:
        adapter = load_adapter(args.spec)
    except AdapterLoadError as exc:
        hello = {"ok": False, "load_error": str(exc)}
    else:
        changes = guard.restore(before, deep=True)
        hello = {"ok": True, "info": describe(adapter), "pid": os.getpid()}
        if changes:
            # Loading is the import, and for a class graded without an adapter a trial build and call.
            hello["state"] = [{**c.to_json(), "text": f"while loading: {c.text()}"} for c in changes]
    sys.stdout.flush()
    sys.stderr.flush()
    wire.write_message(channel_out, hello)  # type: ignore[arg-type]
    if not hello["ok"]:
        os._exit(0)
    executor = Executor(adapter, guard=guard)
    while True:
        try:
            request = wire.read_message(channel_in)  # type: ignore[arg-type]
        except wire.WireError:
            # The grader closed the channel (or is gone). End without running exit
            # handlers: the implementation may have registered some.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        answer = executor.handle(request)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            wire.write_message(channel_out, answer)  # type: ignore[arg-type]
        except wire.WireError as exc:
            # Something the adapter returned cannot go on the wire: say so instead.
            wire.write_message(channel_out, {"ok": False, "error": f"the answer cannot be sent: {exc}",
                                             "where": "protocol"})  # type: ignore[arg-type]
        except (BrokenPipeError, OSError):
            os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
