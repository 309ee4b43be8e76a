"""The benchmarks' statistics, accounting and plumbing. No timing is asserted anywhere: times
come from a virtual clock or are only checked for their shape; memory accounting is
checked on allocations of known size (it counts bytes, it does not time anything)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conformance import Capabilities, LayerAdapter
from conformance.reporting import bench, bench_history, bench_measure, bench_plan
from conformance.base import bench_stats
from conformance.grading import loading
from conformance.running import timing
from conformance.checks import load_all
from conformance.reporting.report import render_page
from conformance.reporting.report_bench import benchmarks_view, change_text, ratio_text
from conformance.grading.results import build_results, environment, implementation_record, read_results
from conformance.running.subject import Subject

SMALL_BIDI = bench_plan.BenchConfig(steps=5, batch=3, input_size=4, hidden_size=6, num_layers=2, bidirectional=True)
HOSTILE = "<script>alert(1)</script>"


# FLOPs ---------------------------------------------------------------------------------------
def test_flops_count_matmuls_and_elementwise_per_layer_and_direction():
    c = bench_plan.BenchConfig(steps=64, batch=32, input_size=128, hidden_size=128)
    expected = 2 * 64 * 32 * 3 * 128 * (128 + 128) + 17 * 64 * 32 * 128
    assert c.flops() == expected, f"got {c.flops()}, but should be {expected}"
    assert c.flops("forward+backward") == 3 * expected, f"got {c.flops('forward+backward')}, but should be 3x forward"
    # Layer 1 of a bidirectional stack reads 2H inputs; both directions count.
    h = 6
    layer0 = 2 * 5 * 3 * 3 * h * (4 + h) + 17 * 5 * 3 * h
    layer1 = 2 * 5 * 3 * 3 * h * (2 * h + h) + 17 * 5 * 3 * h
    assert SMALL_BIDI.flops() == 2 * (layer0 + layer1), f"got {SMALL_BIDI.flops()}, but should be {2 * (layer0 + layer1)}"
    assert c.matmul_shape() == (64 * 32, 256, 384), f"got {c.matmul_shape()}"


# Statistics ------------------------------------------------------------------------------------
def test_median_interval_takes_the_order_statistics_of_its_confidence():
    values = list(range(1, 16))  # n = 15: P(Bin(15, 1/2) <= 3) = 0.0176, so ranks 4 and 12 (96.5%)
    got = bench_stats.median_interval(values[::-1])
    assert (got.median, got.low, got.high) == (8, 4, 12), f"got {got}, but should be median 8 in [4, 12]"
    assert got.coverage == pytest.approx(1 - 2 * 576 / 2 ** 15), f"got coverage {got.coverage}"
    few = bench_stats.median_interval([3.0, 1.0, 2.0, 5.0, 4.0])  # n = 5 cannot reach 95%: [min, max]
    assert (few.low, few.high) == (1.0, 5.0) and few.coverage == pytest.approx(1 - 2 / 32), f"got {few}"
    one = bench_stats.median_interval([2.5])
    assert (one.median, one.low, one.high) == (2.5, 2.5, 2.5), f"got {one}"
    with pytest.raises(ValueError, match="no samples"):
        bench_stats.median_interval([])


def test_median_interval_covers_the_true_median_about_as_often_as_it_says():
    rng = np.random.default_rng(0)
    trials = [bench_stats.median_interval(rng.lognormal(0.0, 0.2, 15)) for _ in range(2000)]
    covered = np.mean([t.low <= 1.0 <= t.high for t in trials])  # the lognormal's median is 1
    assert 0.95 <= covered <= 0.98, f"got coverage {covered:.3f}, but should be about {trials[0].coverage:.3f}"


def test_a_ratio_reads_slower_faster_or_no_measurable_difference():
    verdict = bench_stats.ratio_verdict
    assert verdict(bench_stats.Interval(1.02, 0.97, 1.05, 0.95, 15)) == "no measurable difference"
    assert verdict(bench_stats.Interval(1.30, 1.20, 1.40, 0.95, 15)) == "slower"
    assert verdict(bench_stats.Interval(0.70, 0.60, 0.80, 0.95, 15)) == "faster"
    row = {"ratio": {"median": 1.02, "low": 0.97, "high": 1.05}}
    assert ratio_text(row).startswith("no measurable difference"), f"got {ratio_text(row)!r}"
    row = {"ratio": {"median": 1.3, "low": 1.2, "high": 1.4}}
    assert ratio_text(row) == "1.30\u00d7 [1.20, 1.40]", f"got {ratio_text(row)!r}"


def test_change_between_runs_is_found_and_no_change_is_not():
    rng = np.random.default_rng(1)
    old = rng.lognormal(0.0, 0.05, 15)
    slower = bench_stats.change_interval(old, 1.5 * rng.lognormal(0.0, 0.05, 15))
    assert slower.low > 1.3 and slower.median == pytest.approx(1.5, rel=0.05), f"got {slower}"
    same = bench_stats.change_interval(old, rng.lognormal(0.0, 0.05, 15))
    assert same.contains(1.0), f"got {same}, but two draws of one distribution should hold 1"
    again = bench_stats.change_interval(old, 1.5 * old)
    assert again == bench_stats.change_interval(old, 1.5 * old), "the bootstrap should be reproducible"


def test_growth_exponents_fit_a_power_law_and_show_a_cliff():
    sizes = [16, 128, 512, 2048]
    assert bench_stats.growth_exponent(sizes, [s ** 2 * 3e-9 for s in sizes]) == pytest.approx(2.0)
    assert bench_stats.growth_exponent(sizes, [s * 1e-6 for s in sizes]) == pytest.approx(1.0)
    assert bench_stats.growth_exponent([8], [1.0]) is None, "one point has no slope"
    cliff = [1.0, 8.0, 32.0, 1024.0]  # linear, then 8x more per step past the last tile
    local = bench_stats.local_exponents(sizes, cliff)
    assert local[:2] == [pytest.approx(1.0), pytest.approx(1.0)] and local[2] == pytest.approx(2.5), f"got {local}"


# The timing loop, on a virtual clock -------------------------------------------------------------
class VirtualClock:
    """A clock that only the calls advance: each call costs exactly its stated time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.log: list[str] = []

    def read(self) -> float:
        return self.now

    def call(self, name: str, cost: float):
        def run() -> None:
            self.now += cost
            self.log.append(name)
        return run


def test_interleaved_rounds_alternate_and_time_each_call(monkeypatch):
    clock = VirtualClock()
    monkeypatch.setitem(timing.CLOCKS, "virtual", clock.read)
    calls = {"implementation": clock.call("implementation", 2e-3), "reference": clock.call("reference", 1e-3)}
    got = timing.interleaved(calls, max_rounds=6, min_rounds=6, budget_seconds=1e9, block_seconds=4e-3,
                             clock="virtual")
    assert got["calls_per_block"] == {"implementation": 2, "reference": 4}, f"got {got['calls_per_block']}"
    assert got["per_call"]["implementation"] == [pytest.approx(2e-3)] * 6, f"got {got['per_call']}"
    assert got["per_call"]["reference"] == [pytest.approx(1e-3)] * 6
    timed = clock.log[2:]  # after one warm-up call of each
    firsts = [timed[i * 6] for i in range(6)]  # a round is 2 + 4 calls
    assert firsts == ["implementation", "reference"] * 3, f"got the rounds' first contenders {firsts}"


def test_interleaved_stops_once_the_ratio_is_precise(monkeypatch):
    clock = VirtualClock()
    monkeypatch.setitem(timing.CLOCKS, "virtual", clock.read)
    calls = {"implementation": clock.call("implementation", 3e-3), "reference": clock.call("reference", 1e-3)}
    precise = timing.interleaved(calls, max_rounds=40, min_rounds=5, budget_seconds=1e9, block_seconds=0,
                                 target=0.02, clock="virtual")
    assert len(precise["per_call"]["implementation"]) == 5, "an exact ratio is precise at the minimum rounds"
    unbounded = timing.interleaved(calls, max_rounds=7, min_rounds=5, budget_seconds=1e9, block_seconds=0,
                                   clock="virtual")
    assert len(unbounded["per_call"]["reference"]) == 7, "without a target, rounds run to max_rounds"


def test_a_coarse_clock_is_seen(monkeypatch):
    ticks = iter(range(10 ** 9))
    coarse = lambda: next(ticks) // 10 * 4e-3  # noqa: E731 - advances 4 ms every 10 reads
    assert timing.clock_step(coarse) == pytest.approx(4e-3)
    assert timing.clock_step(lambda: 1.0, seconds=0.01) is None, "a clock that never moves has no step"
    step = timing.clock_step(timing.CLOCKS["cpu"])
    assert step is not None and step < bench_measure.COARSE_CLOCK_SECONDS, (
        f"got a CPU clock step of {step} s in this process, but Linux keeps it precise without a CPU-time limit")
    answer = {"per_call": {"implementation": [1e-3], "reference": [1e-3]}, "clock_step": 4e-3}
    with pytest.raises(bench_measure.MalformedFigures, match="too coarse"):
        bench_measure.read_times(answer, ["implementation", "reference"])


# Memory accounting on allocations of known size -----------------------------------------------------
def test_peak_memory_counts_known_allocations_exactly():
    got = timing.host_peaks(lambda: torch.empty(1_000_000))
    assert got["torch"] == 4_000_000, f"got {got}, but a float32 tensor of 1e6 elements is 4,000,000 bytes"

    def freed_then_larger() -> torch.Tensor:
        first = torch.empty(1_000_000)
        del first
        return torch.empty(250_000, dtype=torch.float64) + torch.empty(250_000, dtype=torch.float64)
    got = timing.host_peaks(freed_then_larger)
    assert got["torch"] == 6_000_000, f"got {got}, but the peak is 3 live 2 MB tensors, not the sum of all"
    kept = torch.empty(10_000_000)  # allocated before: not counted
    got = timing.host_peaks(lambda: kept.add_(1))
    assert got["torch"] < 100, f"got {got}, but an in-place update allocates nothing of the tensor's 40 MB"
    got = timing.host_peaks(lambda: np.ones(1_000_000))
    assert got["python"] >= 8_000_000 and got["torch"] == 0, f"got {got}: NumPy's 8 MB must be seen by tracemalloc"


def test_peak_memory_of_a_gru_is_at_least_its_output():
    gru, x = torch.nn.GRU(16, 32), torch.randn(20, 4, 16)
    forward = timing._timed(lambda: gru(x), "forward", [x], [gru])
    got = timing.peak_memory(forward, torch.device("cpu"), warmup=1)
    output = 20 * 4 * 32 * 4
    assert got["torch"] >= output, f"got {got}, but the output alone is {output} bytes"
    both = timing._timed(lambda: gru(x), "forward+backward", [x], [gru])
    trained = timing.peak_memory(both, torch.device("cpu"), warmup=1)
    assert trained["torch"] > got["torch"], f"got {trained} with backward against {got}: activations are kept"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_peak_counts_a_known_allocation():
    got = timing.cuda_peak(lambda: torch.empty(1_000_000, device="cuda"))
    assert got >= 4_000_000, f"got {got}, but a float32 tensor of 1e6 elements is 4,000,000 bytes"


# What a worker sends, read without trust ----------------------------------------------------------------
@pytest.mark.parametrize("bad", [[-1.0], [float("nan")], [True], ["1"], [], None])
def test_malformed_timings_are_refused(bad):
    with pytest.raises(bench_measure.MalformedFigures):
        bench_measure.read_times({"per_call": {"implementation": bad, "reference": [1e-3]}}, ["implementation", "reference"])


def test_timings_of_different_lengths_and_bad_peaks_are_refused():
    with pytest.raises(bench_measure.MalformedFigures, match="different numbers"):
        bench_measure.read_times({"per_call": {"implementation": [1e-3], "reference": [1e-3, 1e-3]}},
                         ["implementation", "reference"])
    for bad in ({"torch": -1, "python": 0}, {"torch": 1.5, "python": 0}, {"torch": 1}, "x"):
        with pytest.raises(bench_measure.MalformedFigures):
            bench_measure.read_peaks({"peak": {"implementation": bad}}, ["implementation"])
    got = bench_measure.read_peaks({"peak": {"implementation": {"torch": 100, "python": 20}}}, ["implementation"])
    assert got["implementation"]["total"] == 120, f"got {got}"


# Running implementations ---------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", ["torch-gru", "torch-grucell", "doc002-gru"])
def test_the_timed_call_computes_what_the_reference_computes(impl):
    """A timed call is the real computation: the implementation's output equals nn.GRU's."""
    subject = loading.load_subject(impl)
    config = bench_plan.fitted(subject, SMALL_BIDI)
    case = config.materialize()
    instance = subject.instantiate(case)
    subject.call(instance, case.x, case.h0)  # built
    executor = subject.backend.executor
    built = executor.instances[instance.handle]
    request = {"x": case.x, "h0": case.h0, "reference": bench_measure.reference_parameters(case)}
    got = timing.implementation_call(executor, built, request, "forward")()
    want = timing.reference_call(request, built, "forward")()
    got_output = got[0].transpose(0, 1) if config.batch_first else got[0]
    err = (got_output - want[0]).abs().max().item()
    assert err < 1e-5, f"got max difference {err} from nn.GRU, but should be < 1e-5 [{impl} forward]"


class BatchFirstOnly(LayerAdapter):
    """One batch-first layer, float32, no autograd claim."""

    capabilities = Capabilities(time_major=False, batch_first=True)

    def build(self, config):
        return torch.nn.GRU(config.input_size, config.hidden_size, batch_first=True)

    def run(self, gru, x, h0):
        return gru(x, h0)


def test_unsupported_names_the_missing_claim():
    layer = Subject("batch-first-only", BatchFirstOnly())
    assert bench_plan.unsupported(layer, bench_plan.CONFIGS["T64-B32-H128"], "forward") is None
    assert bench_plan.unsupported(layer, SMALL_BIDI, "forward") == "does not claim bidirectional"
    assert bench_plan.unsupported(layer, bench_plan.CONFIGS["small"], "forward+backward") == "does not claim autograd"
    assert bench_plan.unsupported(layer, bench_plan.BenchConfig(2, 2, 2, 2, dtype="float64"), "forward") == "does not claim float64"
    assert bench_plan.unsupported(layer, bench_plan.BenchConfig(2, 2, 2, 2, device="cuda"), "forward") == (
        "does not claim device cuda")
    cell = loading.load_subject("doc000-cell")  # the suite unrolls cells: any stack runs
    assert bench_plan.unsupported(cell, SMALL_BIDI, "forward") is None
    assert bench_plan.fitted(layer, SMALL_BIDI).batch_first, "a batch-first-only layer should get batch-first input"


TINY = bench_plan.Plan(
    name="tiny", configs={"small": bench_plan.BenchConfig(steps=3, batch=2, input_size=3, hidden_size=4)},
    rounds=bench_plan.Rounds(3, 3, 0.0, 0.0), growth_base=bench_plan.BenchConfig(steps=3, batch=2, input_size=3, hidden_size=4),
    growth_axes={"steps": (2, 4)}, growth_rounds=bench_plan.Rounds(1, 1, 0.0, 0.0), growth_memory_modes=bench_plan.MODES,
    boundary_pairs=3)


def _check_section(data: dict[str, Any], impls: list[str]) -> None:
    measured = {(r["impl"], r["config"], r["mode"]) for r in data["results"]}
    for impl in impls:
        for mode in bench_plan.MODES:
            assert (impl, "small", mode) in measured, f"got no {impl} {mode} row, but it claims both modes"
    assert (bench.REFERENCE, "small", "forward") in measured, "got no pooled nn.GRU row"
    for row in data["results"]:
        if row.get("role") == "reference":
            continue
        assert len(row["samples"]["ratio"]) == row["rounds"] == 3, f"got {row['rounds']} rounds, but the plan says 3"
        assert row["memory"]["total"] > 0 and row["reference_memory"]["total"] > 0, f"got no memory in {row}"
        assert row["verdict"] in ("slower", "faster", "no measurable difference")
    assert [c["mode"] for c in data["control"]["rows"]] == list(bench_plan.MODES), f"got {data['control']}"
    growth = {g["impl"]: g for g in data["growth"]["implementations"]}
    assert set(growth) == set(impls), f"got growth for {set(growth)}"
    for axis, values in TINY.growth_axes.items():
        curve = growth[bench.CONTROL]["axes"][axis]
        assert curve["values"] == list(values) and len(curve["memory"]["forward+backward"]) == len(values)
        assert curve["exponents"]["time"] is not None
    assert data["growth"]["reference"]["measured_in"] == bench.CONTROL
    assert data["configs"]["small"]["matmul"]["gflops"] > 0, "got no matmul timing for the efficiency"


def test_a_run_in_this_process_measures_everything_the_plan_names():
    data = bench.run_plan(TINY, ["torch-grucell"], isolated=False)
    _check_section(data, [bench.CONTROL, "torch-grucell"])
    assert data["boundary"]["in_process_seconds"] > 0 and data["boundary"]["round_trip_wall_seconds"] > 0
    page = render_page({**_results(), "benchmarks": data})  # as the command attaches it, before any JSON
    assert "How cost grows" in page and 'id="bench-control"' in page, "the report should show growth and control"
    assert "T: 2, 4)" in page, "the growth paragraph should list the sizes of its sweep"


@pytest.mark.slow
def test_a_run_through_the_workers_measures_inside_them():
    """The way tox -e bench runs: each implementation in its worker (sandboxed where it works)."""
    data = bench.run_plan(TINY, ["doc000-cell"], isolated=True, jobs=2)
    _check_section(data, [bench.CONTROL, "doc000-cell"])
    assert data["environment"]["isolation"]["mode"] in ("sandbox", "process"), f"got {data['environment']}"


def test_a_failing_implementation_is_reported_and_the_others_measured(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\nfrom conformance import LayerAdapter\n"
                      "class Broken(LayerAdapter):\n"
                      "    def build(self, config):\n        return torch.nn.GRU(config.input_size, config.hidden_size)\n"
                      "    def run(self, gru, x, h0):\n        raise RuntimeError('kernel exploded')\n")
    data = bench.run_plan(TINY, [f"{broken}:Broken", "nope:Missing"], isolated=False, growth=False)
    reasons = [s["reason"] for s in data["skipped"]]
    assert any("kernel exploded" in r for r in reasons), f"got {reasons}, but the adapter's error should be named"
    assert any("could not be loaded" in r for r in reasons), f"got {reasons}"
    assert any(r["impl"] == bench.CONTROL for r in data["results"]), "the control should still be measured"


# The control ---------------------------------------------------------------------------------------------
def _control_row(median: float, low: float, high: float) -> dict[str, Any]:
    return {"impl": bench.CONTROL, "config": "small", "mode": "forward",
            "ratio": {"median": median, "low": low, "high": high}}


@pytest.mark.parametrize(("median", "low", "high", "ok"), [
    (1.01, 0.98, 1.03, True), (1.04, 0.99, 1.09, True), (1.06, 0.99, 1.10, False), (1.03, 1.01, 1.05, False),
    (0.96, 0.94, 0.99, False)])
def test_the_control_holds_within_five_percent_with_one_inside(median, low, high, ok):
    check = bench.control_check([_control_row(median, low, high)])
    assert check["ok"] is ok, f"got {check}, but {median} [{low}, {high}] should {'hold' if ok else 'miss'}"
    assert bench.control_status({"control": check}) == (0 if ok else bench.CONTROL_MISSED)
    assert bench.control_check([])["ok"] is False, "a run without the control cannot say it held"


# History --------------------------------------------------------------------------------------------------
def _run(ratios: list[float], torch_version: str = "2.13.0", memory: int = 1000) -> dict[str, Any]:
    return {"schema": bench.SCHEMA, "environment": {"torch": torch_version, "commit": "abc1234", "date": "d"},
            "method": {"clock": "cpu", "plan": "full"},
            "results": [{"impl": "my-gru", "config": "small", "mode": "forward", "samples": {"ratio": ratios},
                         "memory": {"total": memory}},
                        {"impl": bench.REFERENCE, "role": "reference", "config": "small", "mode": "forward",
                         "samples": {"seconds": [1e-3] * len(ratios)}, "memory": {"total": memory}}]}


def test_runs_are_saved_numbered_and_compared(tmp_path):
    rng = np.random.default_rng(2)
    first = _run(list(rng.lognormal(0.2, 0.03, 15)))
    args = argparse.Namespace(storage=str(tmp_path), compare="latest", no_save=False)
    said = bench_history.compare_and_save(first, args)
    assert "no comparison" in said and "comparison" not in first, f"got {said!r} for the first run"
    second = _run(list(1.4 * rng.lognormal(0.2, 0.03, 15)), torch_version="2.14.0", memory=2000)
    bench_history.compare_and_save(second, args)
    names = [p.name for p in bench_history.saved_runs(tmp_path)]
    assert [n[:5] for n in names] == ["0001_", "0002_"] and "abc1234" in names[0], f"got {names}"
    compared = second["comparison"]
    assert compared["against"]["run"] == Path(names[0]).stem
    assert "torch 2.13.0 -> 2.14.0" in compared["differences"], f"got {compared['differences']}"
    change = {c["impl"]: c for c in compared["changes"]}
    assert change["my-gru"]["verdict"] == "slower" and change["my-gru"]["change"]["median"] == pytest.approx(1.4, 0.05)
    assert change[bench.REFERENCE]["what"] == "seconds" and change[bench.REFERENCE]["verdict"] == "no measurable change"
    assert change["my-gru"]["memory"] == {"old": 1000, "new": 2000}
    assert change_text(change["my-gru"]).endswith("slower"), f"got {change_text(change['my-gru'])!r}"
    assert "comparison" not in json.loads((tmp_path / names[1]).read_text()), "a saved run holds no comparison"
    _, loaded = bench_history.load("1", tmp_path)
    assert loaded["results"][0]["samples"] == first["results"][0]["samples"]
    with pytest.raises(ValueError, match="no saved benchmark run"):
        bench_history.load("7", tmp_path)
    out = tmp_path / "compared.json"
    code = bench_history.compare_command(argparse.Namespace(old="1", new="2", storage=str(tmp_path), output=str(out)))
    assert code == 0 and json.loads(out.read_text())["comparison"]["changes"], "compare should write the changes"


# The report ------------------------------------------------------------------------------------------------
def _results() -> dict[str, Any]:
    return json.loads(json.dumps(build_results([implementation_record("x")], load_all(), environment("grade")),
                                 default=str))


def _section(impl: str = HOSTILE) -> dict[str, Any]:
    rows = [{"impl": bench.REFERENCE, "role": "reference", "config": "small", "mode": "forward", "seconds": 1e-4,
             "gflops": 1.0, "efficiency": 0.2, "memory": {"total": 1000}},
            {"impl": impl, "config": "small", "mode": "forward", "seconds": 2e-4, "reference_seconds": 1e-4,
             "ratio": {"median": 2.0, "low": 1.9, "high": 2.1}, "rounds": 15, "memory": {"total": 3000},
             "memory_ratio": 3.0, "gflops": 0.5, "efficiency": 0.1},
            {"impl": bench.CONTROL, "config": "small", "mode": "forward", "seconds": 1e-4,
             "ratio": {"median": 1.01, "low": 0.98, "high": 1.03}, "rounds": 15, "memory": {"total": 1000}}]
    curve = {"values": [16, 128], "seconds": [1e-3, 8e-3], "reference_seconds": [1e-3, 8e-3],
             "memory": {"forward": [100, 800]}, "exponents": {"time": 1.0, "reference time": 1.0}}
    return {"schema": bench.SCHEMA, "reference": bench.REFERENCE,
            "method": {"clock": "cpu", "confidence": 0.95, "rounds": {"min_rounds": 9, "max_rounds": 41},
                       "memory": "peak bytes"},
            "environment": {"torch": "2.13.0", "isolation": {"summary": HOSTILE}},
            "configs": {"small": {"steps": 8, "matmul": {"shape": [32, 32, 48], "gflops": 5.0}}},
            "results": rows, "control": bench.control_check(rows),
            "growth": {"base": {"steps": 64}, "axes": {"steps": [16, 128]}, "memory_modes": ["forward"],
                       "implementations": [{"impl": impl, "axes": {"steps": curve}}],
                       "reference": {"measured_in": impl, "axes": {"steps": curve}}},
            "boundary": {"config": "small", "worker_seconds": 1e-4, "in_process_seconds": 1e-4,
                         "ratio": {"median": 1.0, "low": 0.97, "high": 1.02}, "round_trip_wall_seconds": 2e-3},
            "comparison": {"against": {"run": HOSTILE}, "differences": [HOSTILE],
                           "changes": [{"impl": impl, "config": "small", "mode": "forward", "what": "ratio",
                                        "change": {"median": 1.2, "low": 1.1, "high": 1.3}}]},
            "skipped": [{"impl": impl, "config": "small", "mode": "forward+backward", "reason": HOSTILE}]}


def test_the_report_shows_intervals_memory_growth_and_changes():
    view = benchmarks_view(_section("my-gru"))
    rows = {r["impl"]: r for r in view["configs"][0]["rows"]}
    assert rows["my-gru"]["ratio"] == "2.00\u00d7 [1.90, 2.10]" and rows["my-gru"]["memory"] == "3 kB"
    assert rows[bench.CONTROL]["ratio"].startswith("no measurable difference"), f"got {rows[bench.CONTROL]}"
    assert rows["my-gru"]["change"] == "+20% [+10%, +30%] slower", f"got {rows['my-gru']['change']!r}"
    assert view["control"]["ok"] and view["growth"]["rows"][0]["cells"][0]["time"] == "1.00"
    assert view["configs"][0]["chart"].startswith("<svg") and view["growth"]["figure"].startswith("<svg")


def test_benchmark_text_from_a_results_file_stays_text():
    page = render_page({**_results(), "benchmarks": _section()})
    section = page[page.index('<section id="benchmarks">'):]
    section = section[:section.index("</section>")]
    assert HOSTILE not in section, "got raw markup from the results in the page, but it should be escaped"
    assert section.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5, "names, reasons and runs should show as text"
    for svg in section.split("<svg")[1:]:
        assert "alert" not in svg.split("</svg>")[0], "got results text drawn into a plot, but lines carry numbers"


def test_an_unknown_section_is_shown_as_it_is():
    page = render_page({**_results(), "benchmarks": {"schema": "something/9", "note": "kept"}})
    assert "kept" in page and "How cost grows" not in page


def test_attach_adds_the_section_to_results_and_renders(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_results()))
    said = bench.attach(_section("my-gru"), results, tmp_path / "index.html")
    assert "attached" in said and read_results(results)["benchmarks"]["schema"] == bench.SCHEMA
    assert "my-gru" in (tmp_path / "index.html").read_text()
    alone = bench.attach(_section("my-gru"), tmp_path / "none.json", tmp_path / "alone.html")
    assert "benchmarks alone" in alone and not (tmp_path / "none.json").exists(), f"got {alone!r}"
    assert "my-gru" in (tmp_path / "alone.html").read_text(), "a fresh clone's report should show the benchmarks"


def test_an_interval_never_shows_as_nan():
    assert ratio_text({"ratio": {"median": math.nan, "low": 1, "high": 2}}) == "\u2014"
    assert change_text({"change": "x"}) == "\u2014"


@pytest.mark.slow
@pytest.mark.xdist_group("browser")
def test_the_benchmark_section_in_a_browser(tmp_path):
    """A real run's section, rendered and opened in headless Chromium: nothing loads or
    fails, every plot has a size, no table overflows the page, the control is on screen.
    The screenshot is saved to reports/report-benchmarks.png for a person to look at."""
    from tests.what_users_read.test_browser import REPORTS, Browser, find_chromium

    plan = bench_plan.Plan(**{**vars(TINY), "growth_axes": {"steps": (2, 4), "batch": (2, 3), "hidden_size": (4, 5)}})
    data = bench.run_plan(plan, ["torch-grucell", "doc000-cell"], isolated=False)
    html = tmp_path / "index.html"
    html.write_text(render_page({**_results(), "benchmarks": json.loads(json.dumps(data))}))
    browser = Browser(find_chromium())
    try:
        browser.open(html, width=1400)
        problems = browser.problems(html.resolve().as_uri())
        assert not problems, f"got {problems}, but should be no console error and no request [{html}]"
        plots = browser.evaluate("[...document.querySelectorAll('#benchmarks svg.plot')]"
                                 ".map(s => [s.getBoundingClientRect().width, s.getBoundingClientRect().height])")
        assert len(plots) == 2 and all(w > 300 and h > 80 for w, h in plots), (
            f"got plots of {plots} px, but the ratio chart and the growth plot should show [{html}]")
        overflowing = browser.evaluate("[...document.querySelectorAll('#benchmarks .table-wrap')]"
                                       ".filter(t => t.scrollWidth > t.clientWidth + 1).length")
        assert overflowing == 0, f"got {overflowing} benchmark tables wider than the page at 1400 px [{html}]"
        control = browser.evaluate("document.getElementById('bench-control').innerText")
        assert "torch-gru" in control and "small forward" in control, f"got control text {control!r}"
        box = browser.evaluate("(() => { const r = document.getElementById('benchmarks').getBoundingClientRect();"
                               " return {x: 0, y: r.top + scrollY, width: document.documentElement.scrollWidth,"
                               " height: Math.min(r.height, 4000)}; })()")
        shot = browser.screenshot(REPORTS / "report-benchmarks.png", box)
        assert shot.stat().st_size > 10_000, f"got a {shot.stat().st_size}-byte screenshot, but should show the section"
    finally:
        browser.close()


def test_the_control_intervals_are_family_wise():
    """Six control rows at 95% each would all hold 1 only 74% of the time for a perfect
    control: each is taken at 1 - 0.05 / 6 instead."""
    rng = np.random.default_rng(3)
    rows = [{"impl": bench.CONTROL, "config": f"c{i}", "mode": "forward",
             "samples": {"ratio": list(rng.lognormal(0.0, 0.05, 31))}, "ratio": {}} for i in range(6)]
    check = bench.control_check(rows)
    assert check["confidence_each"] == pytest.approx(1 - 0.05 / 6), f"got {check['confidence_each']}"
    for row, checked in zip(rows, check["rows"]):
        plain = bench_stats.median_interval(row["samples"]["ratio"])
        assert checked["low"] <= plain.low and checked["high"] >= plain.high, (
            f"got {checked}, but a family-wise interval should hold the 95% one {plain}")
    passed = np.mean([bench.control_check([{**r, "samples": {"ratio": list(rng.lognormal(0.0, 0.05, 31))}}
                                           for r in rows])["ok"] for _ in range(300)])
    assert passed >= 0.9, f"got a perfect control passing {passed:.0%} of runs, but should be about 95%"
