"""Measuring implementations through their workers: requests to ``conformance.running.timing``
(in the implementation's process), the figures read back without trust, and the rows
of the benchmarks section they make.

Every figure comes from the implementation's own process, so each is checked
(positive finite times, the same rounds for every contender, a clock fine enough,
byte counts) and a bad one makes the measurement "not measured" with the reason;
none of them ever decides a verdict.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from conformance.reporting.bench_plan import AXES, CONFIGS, MODES, BenchConfig, Plan, Rounds, fitted, unsupported
from conformance.base.bench_stats import growth_exponent, local_exponents, median_interval, ratio_verdict

#: A clock advancing in coarser steps than this cannot time a block of calls.
COARSE_CLOCK_SECONDS = 1e-4


# Reading what a worker sent ------------------------------------------------------------
class MalformedFigures(Exception):
    """A worker's answer does not hold the figures asked for."""


def _positive_list(value: Any, what: str) -> list[float]:
    if not isinstance(value, list) or not value:
        raise MalformedFigures(f"{what}: not a list of timings")
    numbers = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise MalformedFigures(f"{what}: {v!r} is not a positive time")
        numbers.append(float(v))
    return numbers


def read_times(answer: dict[str, Any], contenders: list[str]) -> dict[str, list[float]]:
    """Per contender, the time of one call in each round (the same number of rounds each)."""
    seconds = answer.get("per_call")
    if not isinstance(seconds, dict):
        raise MalformedFigures("no timings")
    step = answer.get("clock_step")
    if isinstance(step, (int, float)) and step > COARSE_CLOCK_SECONDS:
        raise MalformedFigures(f"the worker's clock advances in steps of {step * 1e3:.2f} ms, too coarse to time "
                               f"calls (a CPU-time limit makes Linux count CPU time at scheduler ticks only)")
    times = {name: _positive_list(seconds.get(name), name) for name in contenders}
    if len({len(v) for v in times.values()}) != 1:
        raise MalformedFigures("contenders timed over different numbers of rounds")
    return times


def read_peaks(answer: dict[str, Any], contenders: list[str]) -> dict[str, dict[str, int]]:
    """Per contender, {"torch", "python", "total"} bytes."""
    peaks = answer.get("peak")
    if not isinstance(peaks, dict):
        raise MalformedFigures("no memory figures")
    read: dict[str, dict[str, int]] = {}
    for name in contenders:
        entry = peaks.get(name)
        if not isinstance(entry, dict):
            raise MalformedFigures(f"{name}: no memory figures")
        values = {}
        for key in ("torch", "python"):
            v = entry.get(key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise MalformedFigures(f"{name}: {key} peak {v!r} is not a byte count")
            values[key] = v
        read[name] = {**values, "total": values["torch"] + values["python"]}
    return read


# Measuring one implementation ---------------------------------------------------------
def reference_parameters(case: Any) -> dict[str, Any]:
    """The case's canonical parameters as a measure request carries them for nn.GRU."""
    params = case.params
    return {"params": dict(params.items()),
            "param_meta": {"input_size": params.input_size, "hidden_size": params.hidden_size,
                           "num_layers": params.num_layers, "bidirectional": params.bidirectional,
                           "bias": params.bias}}


@dataclass
class Measurer:
    """One implementation's measurements, through its worker (``Subject.measure``)."""

    subject: Any
    plan: Plan
    _instances: dict[BenchConfig, tuple[Any, Any]] = field(default_factory=dict)
    _reference_sent: set[int] = field(default_factory=set)

    def _case(self, config: BenchConfig) -> tuple[Any, Any]:
        """The case and built instance for ``config`` (built once, with its first request)."""
        spec = fitted(self.subject, config)
        if spec not in self._instances:
            self._instances.clear()  # one instance at a time: large ones hold hundreds of MB
            case = spec.materialize()
            self._instances[spec] = (case, self.subject.instantiate(case))
        return self._instances[spec]

    def _request(self, config: BenchConfig, **request: Any) -> dict[str, Any]:
        from conformance.running.isolation import WorkerLost

        case, instance = self._case(config)
        if instance.handle not in self._reference_sent:  # nn.GRU's parameters go once per instance
            request["reference"] = reference_parameters(case)
        try:
            answer = self.subject.measure(instance, case.x, case.h0, **request)
        except WorkerLost:
            self._instances.clear()  # built in a process that is gone: the next request builds anew
            raise
        self._reference_sent.add(instance.handle)
        return answer

    def time(self, config: BenchConfig, mode: str, contenders: list[str], rounds: Rounds) -> dict[str, list[float]]:
        answer = self._request(config, what="time", mode=mode, contenders=contenders, clock=self.plan.clock,
                               matmul=list(config.matmul_shape()), **rounds.request())
        return read_times(answer, contenders)

    def cpu_seconds(self) -> float | None:
        """The CPU time the implementation's process has used so far (None if it cannot say)."""
        config = next(iter(self._instances), None) or next(iter(self.plan.configs.values()))
        try:
            value = self._request(config, what="usage").get("cpu_seconds")
        except measurement_failures():
            return None
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0 else None

    def memory(self, config: BenchConfig, mode: str, contenders: list[str]) -> dict[str, dict[str, int]]:
        """Peaks of one call each; no warm-up call: each is measured right after calls of the
        same instance (its timing), or as a fresh instance's first call in that mode."""
        answer = self._request(config, what="memory", mode=mode, contenders=contenders, warmup=0)
        return read_peaks(answer, contenders)


def paired_row(impl: str, config_name: str, config: BenchConfig, mode: str,
               times: dict[str, list[float]]) -> dict[str, Any]:
    """A timed row: the implementation's time per call, the ratio to nn.GRU round by round
    with its interval, GFLOP/s, and efficiency against the matmul of the same size."""
    own, ref = times["implementation"], times["reference"]
    ratios = [a / b for a, b in zip(own, ref)]
    interval = median_interval(ratios)
    seconds = float(median(own))
    row: dict[str, Any] = {
        "impl": impl, "config": config_name, "mode": mode, "seconds": seconds,
        "reference_seconds": float(median(ref)), "ratio": interval.to_json(), "verdict": ratio_verdict(interval),
        "gflops": config.flops(mode) / seconds / 1e9, "rounds": len(ratios),
        "samples": {"ratio": ratios, "seconds": own, "reference_seconds": ref},
    }
    return row


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def failure_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


# The run --------------------------------------------------------------------------------
@dataclass
class Run:
    """Everything one run measured, filled in as it goes."""

    plan: Plan
    rows: list[dict[str, Any]] = field(default_factory=list)
    growth: list[dict[str, Any]] = field(default_factory=list)
    reference_growth: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    boundary: dict[str, Any] = field(default_factory=dict)
    workers: dict[str, float] = field(default_factory=dict)
    #: Wall seconds each implementation took, start-up included, and its process's CPU seconds.
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    #: Per configuration, the matmul of the same size: per-call seconds of each round.
    matmul: dict[str, list[float]] = field(default_factory=dict)

    def skip(self, impl: str, what: str, mode: str, reason: str) -> None:
        self.skipped.append({"impl": impl, "config": what, "mode": mode, "reason": reason})
        print(f"  {impl}: {what} {mode}: not measured: {reason}", file=sys.stderr, flush=True)

    @classmethod
    def merged(cls, plan: Plan, runs: list["Run"]) -> "Run":
        """One run from the runs of single implementations, in their order."""
        whole = cls(plan)
        for part in runs:
            whole.rows += part.rows
            whole.growth += part.growth
            whole.skipped += part.skipped
            whole.reference_growth = part.reference_growth or whole.reference_growth
            whole.boundary = part.boundary or whole.boundary
            for mine, theirs in ((whole.workers, part.workers), (whole.seconds, part.seconds),
                                 (whole.cpu_seconds, part.cpu_seconds), (whole.matmul, part.matmul)):
                mine.update(theirs)
        return whole


def measurement_failures() -> tuple[type[BaseException], ...]:
    from conformance.running.isolation import LoadFailed, WorkerLost
    from conformance.running.subject import AdapterError

    return (AdapterError, LoadFailed, WorkerLost, MalformedFigures)


def measure_configs(run: Run, measurer: Measurer) -> None:
    subject = measurer.subject
    for name, config in run.plan.configs.items():
        for mode in MODES:
            reason = unsupported(subject, config, mode)
            if reason:
                run.skip(subject.id, name, mode, reason)
                continue
            try:
                row = paired_row(subject.id, name, config, mode,
                                 measurer.time(config, mode, ["implementation", "reference"], run.plan.rounds))
                peaks = measurer.memory(config, mode, ["implementation", "reference"])
            except measurement_failures() as exc:
                run.skip(subject.id, name, mode, failure_text(exc))
                continue
            row["memory"], row["reference_memory"] = peaks["implementation"], peaks["reference"]
            ref_total = peaks["reference"]["total"]
            row["memory_ratio"] = peaks["implementation"]["total"] / ref_total if ref_total else None
            run.rows.append(row)
            print(f"  {subject.id:<24} {name:<22} {mode:<17} {_ratio_text(row)}", flush=True)


def measure_matmuls(run: Run, measurer: Measurer) -> None:
    """The matmul of each configuration's size, alone, in rounds (the yardstick of efficiency)."""
    for name, config in run.plan.configs.items():
        try:
            run.matmul[name] = measurer.time(config, "forward", ["matmul"], run.plan.rounds)["matmul"]
        except measurement_failures() as exc:
            run.skip(measurer.subject.id, f"{name} matmul", "forward", failure_text(exc))


def measure_growth(run: Run, measurer: Measurer, with_reference_memory: bool) -> None:
    """Time (forward, paired with nn.GRU) and memory at every point of every axis."""
    plan, subject = run.plan, measurer.subject
    reason = unsupported(subject, plan.growth_base, "forward")
    if reason:
        run.skip(subject.id, "growth", "forward", reason)
        return
    memory_modes = [m for m in plan.growth_memory_modes if not unsupported(subject, plan.growth_base, m)]
    entry: dict[str, Any] = {"impl": subject.id, "axes": {}}
    reference_axes: dict[str, Any] = {}
    for axis, values in plan.growth_axes.items():
        curve: dict[str, Any] = {"values": [], "seconds": [], "reference_seconds": [], "ratio": [],
                                 "memory": {m: [] for m in memory_modes}}
        reference_memory: dict[str, list[int]] = {m: [] for m in memory_modes}
        for value in values:
            config = plan.growth_base.with_(**{axis: value})
            try:
                times = measurer.time(config, "forward", ["implementation", "reference"], plan.growth_rounds)
                contenders = ["implementation", "reference"] if with_reference_memory else ["implementation"]
                peaks = {m: measurer.memory(config, m, contenders) for m in memory_modes}
            except measurement_failures() as exc:
                run.skip(subject.id, f"growth {AXES[axis]}={value}", "forward", failure_text(exc))
                break
            ratios = [a / b for a, b in zip(times["implementation"], times["reference"])]
            curve["values"].append(value)
            curve["seconds"].append(median(times["implementation"]))
            curve["reference_seconds"].append(median(times["reference"]))
            curve["ratio"].append(median_interval(ratios).to_json())
            for m in memory_modes:
                curve["memory"][m].append(peaks[m]["implementation"]["total"])
                if with_reference_memory:
                    reference_memory[m].append(peaks[m]["reference"]["total"])
        curve["exponents"] = _exponents(curve["values"], curve["seconds"], curve["memory"])
        curve["exponents"]["reference time"] = growth_exponent(curve["values"], curve["reference_seconds"])
        curve["local_time_exponents"] = local_exponents(curve["values"], curve["seconds"])
        entry["axes"][axis] = curve
        if with_reference_memory:
            reference_axes[axis] = {"values": curve["values"], "memory": reference_memory,
                                    "exponents": _exponents(curve["values"], None, reference_memory)}
        print(f"  {subject.id:<24} growth in {AXES[axis]:<3} time ~ {AXES[axis]}^{_fmt(curve['exponents']['time'])}"
              f" (nn.GRU ^{_fmt(curve['exponents']['reference time'])})", flush=True)
    run.growth.append(entry)
    if with_reference_memory:
        run.reference_growth = {"measured_in": subject.id, "axes": reference_axes}


def _exponents(values: list[int], seconds: list[float] | None, memory: dict[str, list[int]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if seconds is not None:
        found["time"] = growth_exponent(values, seconds)
    for mode, peaks in memory.items():
        found[f"memory {mode}"] = growth_exponent(values, peaks)
    return found


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ratio_text(row: dict[str, Any]) -> str:
    r = row["ratio"]
    text = f"{r['median']:.3f}x [{r['low']:.3f}, {r['high']:.3f}]"
    if row["verdict"] == "no measurable difference":
        text += " no measurable difference"
    return f"{row['seconds'] * 1e3:9.3f} ms  {text}"


# The boundary: is the worker's own timing what an in-process timing gives? ------------------
def measure_boundary(measurer: Measurer, config_name: str = "small", pairs: int = 15) -> dict[str, Any]:
    """nn.GRU on ``config`` timed inside the worker and inside this process, alternately,
    pair by pair (the same timing code, the same clock); and one call's round trip through
    the worker (request, call, answer), which a timing taken here would include."""
    from conformance.running import timing

    config = measurer.plan.configs.get(config_name) or CONFIGS[config_name]
    case, instance = measurer._case(config)
    here = SimpleNamespace(config=case.config)
    local = timing.reference_call({"reference": reference_parameters(case), "x": case.x, "h0": case.h0}, here,
                                  "forward")
    block = measurer.plan.rounds.block_seconds
    one_round = {"min_rounds": 1, "max_rounds": 1, "budget_seconds": 0.0, "block_seconds": block}
    worker_s, local_s, worker_wall, round_trips = [], [], [], []
    for _ in range(pairs):
        answer = measurer._request(config, what="time", mode="forward", contenders=["reference"],
                                   clock=measurer.plan.clock, **one_round)
        worker_s += read_times(answer, ["reference"])["reference"]
        worker_wall += _positive_list((answer.get("per_call_wall") or {}).get("reference"), "wall")
        in_process = timing.interleaved({"reference": local}, clock=measurer.plan.clock, **one_round)
        local_s += in_process["per_call"]["reference"]
        start = time.perf_counter()
        measurer.subject.call(instance, case.x, case.h0)
        round_trips.append(time.perf_counter() - start)
    interval = median_interval([w / h for w, h in zip(worker_s, local_s)])
    return {"config": config_name, "impl": measurer.subject.id, "clock": measurer.plan.clock,
            "worker_seconds": median(worker_s), "in_process_seconds": median(local_s),
            "ratio": interval.to_json(), "verdict": ratio_verdict(interval),
            "worker_wall_seconds": median(worker_wall), "round_trip_wall_seconds": median(round_trips)}
