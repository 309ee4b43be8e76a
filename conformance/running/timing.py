"""Timing and memory of one built implementation, measured inside its own process.

The ``measure`` request (``conformance.running.executor``) runs here, in the
implementation's worker: the timing loop, ``nn.GRU`` built from the same canonical
parameters and a plain matmul of the same size all run in this process on the
same inputs, so only the figures cross the process boundary and nothing of the
boundary (encoding, pipes, the grader) is inside a timed region.

Time: the contenders run in alternating rounds (the rounds cycle through every
order, so each runs first and follows each other one equally often); each round
times a block of calls of each, the block long enough for the clock
(``block_seconds``; the warm-up call sets how many calls that is), and records the
time per call. After ``min_rounds`` the rounds stop once the implementation's
ratio to nn.GRU is known within ``target`` or the wall-time budget is spent. The
grader reads the ratios round by round (``conformance.reporting.bench_measure``). The default
clock is the process's CPU time: on a shared machine it leaves out the time the
process waited for a core, which wall time would charge to whichever contender was
running; each answer carries the clock's measured step (a CPU-time limit makes
Linux advance it only at scheduler ticks). Garbage collection is off inside the
rounds (as in ``timeit``). On CUDA, wall time after a synchronize.

Memory: the peak of what one call allocates on top of what existed before it
(inputs, parameters and what earlier calls built), from torch's CPU allocator as
its profiler reports every allocation and free, plus the peak of Python's and
NumPy's own allocations (``tracemalloc``, which does not see torch's allocator); on
CUDA, torch's peak-memory statistics.
"""

from __future__ import annotations

import gc
import itertools
import time
import tracemalloc
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch

from conformance.base.bench_stats import median_interval
from conformance.base.params import CanonicalParams

MODES = ("forward", "forward+backward")
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


# The contenders -------------------------------------------------------------------------
def _unroll(adapter: Any, cells: dict[tuple[int, int], Any], x: torch.Tensor, h0: torch.Tensor,
            layers: int, directions: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A cell unrolled as a user would: no per-step bookkeeping, so the cell is what is timed."""
    inputs, finals = x, []
    for layer in range(layers):
        halves = []
        for d in range(directions):
            h = h0[layer * directions + d]
            order = range(x.shape[0] - 1, -1, -1) if d else range(x.shape[0])
            outs: list[Any] = [None] * x.shape[0]
            for t in order:
                h = adapter.step(cells[(layer, d)], inputs[t], h)
                outs[t] = h
            halves.append(torch.stack(outs))
            finals.append(h)
        inputs = torch.cat(halves, dim=-1) if directions > 1 else halves[0]
    return inputs, torch.stack(finals)


def _modules(objects: list[Any]) -> list[torch.nn.Module]:
    return [o for o in objects if isinstance(o, torch.nn.Module)]


def _timed(call: Callable[[], Any], mode: str, leaves: list[torch.Tensor | None],
           modules: list[torch.nn.Module]) -> Callable[[], Any]:
    """``call`` as one forward (no autograd) or one forward+backward of the sum of what it
    returns, gradients set to None before each (as ``zero_grad`` does in a training step)."""
    if mode == "forward":
        def forward() -> Any:
            with torch.no_grad():
                return call()
        return forward
    inputs = [t for t in leaves if t is not None]
    for t in inputs:
        t.requires_grad_(True)

    def forward_backward() -> Any:
        for t in inputs:
            t.grad = None
        for m in modules:
            m.zero_grad(set_to_none=True)
        returned = call()
        values = returned if isinstance(returned, (tuple, list)) else (returned,)
        loss = sum(v.sum() for v in values if isinstance(v, torch.Tensor) and v.requires_grad)
        if isinstance(loss, torch.Tensor):
            loss.backward()
        return returned
    return forward_backward


def implementation_call(executor: Any, built: Any, request: dict[str, Any], mode: str) -> Callable[[], Any]:
    """The implementation on the request's inputs, in its own layout and dtype."""
    x, h0 = executor.prepare(built, request)
    config = built.config
    adapter = executor.adapter
    if executor.is_cell:
        if h0 is None:
            h0 = torch.zeros(config.num_layers * config.num_directions, x.shape[1], config.hidden_size,
                             dtype=x.dtype, device=x.device)
        layers, directions = config.num_layers, config.num_directions
        cells = built.cells
        return _timed(lambda: _unroll(adapter, cells, x, h0, layers, directions), mode, [x, h0],
                      _modules(list(cells.values())))
    if h0 is not None and executor.caps.h0_shared:
        h0 = h0[0]
    impl = built.impl
    return _timed(lambda: adapter.run(impl, x, h0), mode, [x, h0], _modules([impl]))


#: The references built, by the instance they belong to (a few at most): their parameters
#: (hundreds of MB at production sizes) cross the boundary once per instance, not per request.
_references: OrderedDict[int, tuple[Any, torch.nn.Module]] = OrderedDict()
KEPT_REFERENCES = 4


def reference_call(request: dict[str, Any], built: Any, mode: str) -> Callable[[], Any]:
    """``torch.nn.GRU`` with the canonical parameters the request carries (or an earlier
    request about the same instance carried), time-major, from the request's h0."""
    from conformance.model.reference import torch_gru

    config = built.config
    given = request.get("reference")
    if given is not None:
        meta = given["param_meta"]
        params = CanonicalParams(given["params"], input_size=int(meta["input_size"]),
                                 hidden_size=int(meta["hidden_size"]), num_layers=int(meta["num_layers"]),
                                 bidirectional=bool(meta["bidirectional"]), bias=bool(meta.get("bias", True)))
        # In eval mode, as the torch-gru adapter builds it, so that the control is nn.GRU
        # against itself to the last flag (dropout is 0: train mode would change only what
        # a multi-layer GRU keeps for its backward pass).
        _references[id(built)] = (built, torch_gru(params, config.dtype).to(config.device).eval())
        while len(_references) > KEPT_REFERENCES:
            _references.popitem(last=False)
    kept = _references.get(id(built))
    if kept is None or kept[0] is not built:
        raise ValueError("no reference parameters for this instance: the first measure request carries them")
    gru = kept[1]
    x = torch.tensor(request["x"], dtype=config.dtype, device=config.device)
    h0 = None if request.get("h0") is None else torch.tensor(request["h0"], dtype=config.dtype,
                                                                device=config.device)
    return _timed(lambda: gru(x, h0), mode, [x, h0], [gru])


def matmul_call(shape: list[int], config: Any) -> Callable[[], Any]:
    """(M, K) @ (K, N) in the configuration's dtype: the yardstick of efficiency."""
    m, k, n = (int(v) for v in shape)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=generator).to(config.dtype).to(config.device)
    b = torch.randn(k, n, generator=generator).to(config.dtype).to(config.device)
    return lambda: torch.mm(a, b)


# Time -----------------------------------------------------------------------------------
def _synchronizer(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return torch.cuda.synchronize
    return lambda: None


def clock_step(read: Callable[[], float], advances: int = 5, seconds: float = 0.25) -> float | None:
    """The smallest advance of ``read`` among the first ``advances`` seen while spinning
    (for at most ``seconds`` of wall time): nanoseconds for a precise clock. Linux advances
    a process's CPU clock only at scheduler ticks (milliseconds) while a CPU-time limit
    (RLIMIT_CPU) is set. None when it did not advance at all (the process got no CPU)."""
    end = time.perf_counter() + seconds
    last, steps = read(), []
    while len(steps) < advances and time.perf_counter() < end:
        now = read()
        if now != last:
            steps.append(now - last)
            last = now
    return min(steps) if steps else None


def _orders(names: list[str]) -> list[tuple[str, ...]]:
    """The orders the rounds cycle through: every permutation, so each contender runs first
    and follows each other one equally often (AB, BA for two)."""
    return list(itertools.permutations(names))


def precise_enough(seconds: dict[str, list[float]], target: float) -> bool:
    """The implementation's ratio to the reference has an interval within ``target``
    (relative half-width) of its median."""
    own, ref = seconds.get("implementation"), seconds.get("reference")
    if not target or not own or not ref:
        return False
    interval = median_interval([a / b for a, b in zip(own, ref)])
    return (interval.high - interval.low) / 2 <= target * interval.median


def interleaved(calls: dict[str, Callable[[], Any]], *, max_rounds: int, min_rounds: int,
                budget_seconds: float, block_seconds: float, target: float = 0.0, clock: str = "cpu",
                sync: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Time every call in alternating rounds: per round and call, the time of one call
    (the block's time over its calls). After ``min_rounds``, stops as soon as the
    implementation's ratio to the reference is known within ``target`` (relative
    half-width of its interval; 0: never), or ``budget_seconds`` of wall time have passed;
    after ``max_rounds`` in any case."""
    read = CLOCKS[clock]
    repeats: dict[str, int] = {}
    for name, call in calls.items():
        start = read()
        call()  # warm-up (lazily built state, first-touch allocations), timed for the calibration:
        sync()  # calls per block, so that a block lasts about block_seconds
        once = max(read() - start, 1e-9)
        repeats[name] = max(1, min(10_000, round(block_seconds / once)))
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    wall: dict[str, list[float]] = {name: [] for name in calls}
    orders = _orders(list(calls))
    collecting = gc.isenabled()
    gc.disable()
    began = time.perf_counter()
    try:
        for round_index in range(max_rounds):
            for name in orders[round_index % len(orders)]:
                call, count = calls[name], repeats[name]
                wall_start, start = time.perf_counter(), read()
                for _ in range(count):
                    call()
                sync()
                seconds[name].append((read() - start) / count)
                wall[name].append((time.perf_counter() - wall_start) / count)
            if round_index + 1 >= min_rounds and (time.perf_counter() - began >= budget_seconds
                                                   or precise_enough(seconds, target)):
                break
    finally:
        if collecting:
            gc.enable()
    return {"clock": clock, "clock_step": clock_step(read), "calls_per_block": repeats, "per_call": seconds,
            "per_call_wall": wall}


# Memory ---------------------------------------------------------------------------------
def _allocator_peak(events: list[tuple[int, int]]) -> int:
    """The highest running total of (time, +allocated / -freed bytes) events."""
    running = peak = 0
    for _, change in sorted(events):
        running += change
        peak = max(peak, running)
    return peak


def _allocator_events(call: Callable[[], Any]) -> list[tuple[int, int]]:
    """(time, +allocated / -freed bytes) of every allocation torch's CPU allocator made and
    freed during ``call``. The profiler's low-level switches (torch.autograd's, as
    ``torch.profiler.profile`` uses them) with only the user scope recorded: allocations are
    reported by the allocator itself, so no operator needs recording, which would slow a
    Python loop of small operations several times over and build an event per operator."""
    from torch._C._profiler import _ExperimentalConfig, RecordScope
    from torch.autograd import (ProfilerActivity, ProfilerConfig, ProfilerState, _disable_profiler,
                                _enable_profiler, _prepare_profiler)

    config = ProfilerConfig(ProfilerState.KINETO, False, True, False, False, False, _ExperimentalConfig())
    activities = {ProfilerActivity.CPU}
    _prepare_profiler(config, activities)
    _enable_profiler(config, activities, {RecordScope.USER_SCOPE})
    try:
        call()
    finally:
        result = _disable_profiler()
    cpu = torch.autograd.DeviceType.CPU
    return [(e.start_ns(), int(e.nbytes())) for e in result.events()
            if e.name() == "[memory]" and e.device_type() == cpu]


def host_peaks(call: Callable[[], Any]) -> dict[str, int]:
    """Bytes: the peaks of what one ``call`` allocates beyond what was allocated before it,
    through torch's CPU allocator ("torch") and through Python's and NumPy's ("python":
    tracemalloc, which torch's allocator bypasses, so nothing is counted twice)."""
    tracing = tracemalloc.is_tracing()
    python = base = 0

    def traced() -> None:
        nonlocal python, base
        if not tracing:
            tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base, _ = tracemalloc.get_traced_memory()
            call()
            _, python = tracemalloc.get_traced_memory()
        finally:
            if not tracing:
                tracemalloc.stop()

    events = _allocator_events(traced)
    return {"torch": _allocator_peak(events), "python": max(0, python - base)}


def cuda_peak(call: Callable[[], Any]) -> int:
    """Bytes: the peak of torch's CUDA allocations during ``call`` beyond those before it."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    call()
    torch.cuda.synchronize()
    return max(0, torch.cuda.max_memory_allocated() - base)


def peak_memory(call: Callable[[], Any], device: torch.device, warmup: int = 1) -> dict[str, int]:
    """The peaks of one call after ``warmup`` calls: {"torch": bytes, "python": bytes},
    "torch" from the device's own allocator (on CUDA, host memory is not counted)."""
    for _ in range(warmup):
        call()
    if device.type == "cuda":
        return {"torch": cuda_peak(call), "python": 0}
    return host_peaks(call)


# The request ------------------------------------------------------------------------------
def measure(executor: Any, built: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Answer a ``measure`` request: the requested contenders ("implementation",
    "reference", "matmul") timed in alternating rounds (``what``: "time") or each one's
    peak memory (``what``: "memory")."""
    if request.get("what") == "usage":  # this process's CPU time so far: the run's cost on a quiet machine
        return {"cpu_seconds": time.process_time()}
    config = built.config
    mode = request.get("mode", "forward")
    if mode not in MODES:
        return {"ok": False, "error": f"unknown mode {mode!r}", "where": "protocol"}
    device = torch.device(config.device)
    makers: dict[str, Callable[[], Callable[[], Any]]] = {
        "implementation": lambda: implementation_call(executor, built, request, mode),
        "reference": lambda: reference_call(request, built, mode),
        "matmul": lambda: matmul_call(request["matmul"], config),
    }
    wanted = [name for name in request.get("contenders", ["implementation"]) if name in makers]
    calls = {name: makers[name]() for name in wanted}
    if request.get("what", "time") == "memory":
        warmup = int(request.get("warmup", 1))
        return {"peak": {name: peak_memory(call, device, warmup) for name, call in calls.items()}}
    clock = "wall" if device.type == "cuda" else str(request.get("clock", "cpu"))
    if clock not in CLOCKS:
        return {"ok": False, "error": f"unknown clock {clock!r}", "where": "protocol"}
    return interleaved(calls, max_rounds=int(request.get("max_rounds", 15)),
                       min_rounds=int(request.get("min_rounds", 9)),
                       budget_seconds=float(request.get("budget_seconds", 1.0)),
                       block_seconds=float(request.get("block_seconds", 0.01)),
                       target=float(request.get("target", 0.0)), clock=clock,
                       sync=_synchronizer(device))


__all__ = ["MODES", "interleaved", "measure", "peak_memory"]
