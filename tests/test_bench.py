"""The benchmarks' arithmetic and plumbing (no timing is asserted anywhere)."""

from __future__ import annotations

import json

import pytest
import torch

from conformance import Capabilities, LayerAdapter, bench, loading
from conformance.catalogue import load_all
from conformance.results import build_results, environment, implementation_record, read_benchmarks, read_results
from conformance.subject import Subject

SMALL_BIDI = bench.BenchConfig(steps=5, batch=3, input_size=4, hidden_size=6, num_layers=2, bidirectional=True)


def test_flops_count_matmuls_and_elementwise_per_layer_and_direction():
    c = bench.BenchConfig(steps=64, batch=32, input_size=128, hidden_size=128)
    expected = 2 * 64 * 32 * 3 * 128 * (128 + 128) + 17 * 64 * 32 * 128
    assert c.flops() == expected, f"got {c.flops()}, but should be {expected}"
    assert c.flops("forward+backward") == 3 * expected, f"got {c.flops('forward+backward')}, but should be 3x forward"
    # Layer 1 of a bidirectional stack reads 2H inputs; both directions count.
    h = 6
    layer0 = 2 * 5 * 3 * 3 * h * (4 + h) + 17 * 5 * 3 * h
    layer1 = 2 * 5 * 3 * 3 * h * (2 * h + h) + 17 * 5 * 3 * h
    assert SMALL_BIDI.flops() == 2 * (layer0 + layer1), f"got {SMALL_BIDI.flops()}, but should be {2 * (layer0 + layer1)}"
    assert c.matmul_shape() == (64 * 32, 256, 384), f"got {c.matmul_shape()}"


@pytest.mark.parametrize("impl", ["torch-gru", "torch-grucell", "doc002-gru"])
def test_runners_compute_what_the_reference_computes(impl):
    """A timed run is the real computation: same output as nn.GRU on the same case."""
    subject = loading.load_subject(impl)
    got = bench.subject_runner(subject, SMALL_BIDI, "forward")()
    want = bench.reference_runner(SMALL_BIDI, "forward")()
    got = got[0] if isinstance(got, tuple) else got
    want = want[0] if isinstance(want, tuple) else want
    assert got.shape == want.shape, f"got output shape {tuple(got.shape)}, but should be {tuple(want.shape)}"
    err = (got - want).abs().max().item()
    assert err < 1e-5, f"got max difference {err} from nn.GRU, but should be < 1e-5 [{impl} forward]"


def test_forward_backward_runner_computes_gradients():
    run = bench.subject_runner(loading.load_subject("torch-gru"), SMALL_BIDI, "forward+backward")
    output = run()
    assert output.requires_grad, "got an output without autograd history, but forward+backward should track it"


class BatchFirstOnly(LayerAdapter):
    """One batch-first layer, float32, no autograd claim."""

    capabilities = Capabilities(time_major=False, batch_first=True)

    def build(self, config):
        return torch.nn.GRU(config.input_size, config.hidden_size, batch_first=True)

    def run(self, gru, x, h0):
        return gru(x, h0)


def test_unsupported_names_the_missing_claim():
    layer = Subject("batch-first-only", BatchFirstOnly())
    assert bench.unsupported(layer, bench.CONFIGS["T64-B32-H128"], "forward") is None
    assert bench.unsupported(layer, SMALL_BIDI, "forward") == "does not claim bidirectional"
    assert bench.unsupported(layer, bench.CONFIGS["small"], "forward+backward") == "does not claim autograd"
    assert bench.unsupported(layer, bench.BenchConfig(2, 2, 2, 2, dtype="float64"), "forward") == "does not claim float64"
    cell = loading.load_subject("doc000-cell")  # the suite unrolls cells: any stack runs
    assert bench.unsupported(cell, SMALL_BIDI, "forward") is None
    output = bench.subject_runner(layer, bench.CONFIGS["small"], "forward")()[0]
    assert output.shape == (4, 8, 16), f"got {tuple(output.shape)}, but a batch-first run should give (B, T, H)"


def raw_entry(kind: str, config: str, mode: str, median: float, impl: str = "") -> dict:
    return {"extra_info": {"kind": kind, "impl": impl, "config": config, "mode": mode,
                           "config_spec": bench.CONFIGS[config].describe()},
            "stats": {"median": median, "min": median * 0.9, "mean": median * 1.1, "stddev": 0.0, "rounds": 5}}


def test_summary_gives_ratios_and_efficiency():
    config = bench.CONFIGS["T64-B32-H128"]
    matmul_s = config.describe()["matmul"]["flops"] / 100e9  # a 100 GFLOP/s matmul
    gru_s = config.flops() / 25e9  # the reference reaches 25 GFLOP/s
    raw = {"benchmarks": [
        raw_entry("matmul", "T64-B32-H128", "forward", matmul_s),
        raw_entry("reference", "T64-B32-H128", "forward", gru_s, bench.REFERENCE),
        raw_entry("implementation", "T64-B32-H128", "forward", 2 * gru_s, "slow-cell"),
        raw_entry("implementation", "T64-B32-H128", "forward+backward", 0.5, "no-reference"),
        {"extra_info": {}, "stats": {}},  # someone else's benchmark: ignored
    ], "gru_conformance": {"environment": {"torch": "x"}, "skipped": [{"impl": "a", "config": "small",
                                                                        "mode": "forward", "reason": "r"}]}}
    section = bench.summarise(raw)
    rows = {(r["impl"], r["mode"]): r for r in section["results"]}
    assert section["schema"] == bench.SCHEMA and section["skipped"][0]["reason"] == "r"
    assert section["configs"]["T64-B32-H128"]["matmul"]["gflops"] == pytest.approx(100)
    ref, slow = rows[(bench.REFERENCE, "forward")], rows[("slow-cell", "forward")]
    assert ref["ratio"] == pytest.approx(1.0) and ref["efficiency"] == pytest.approx(0.25), f"got {ref}"
    assert slow["ratio"] == pytest.approx(2.0), f"got ratio {slow['ratio']}, but should be 2.0 (twice the reference's time)"
    assert slow["gflops"] == pytest.approx(12.5) and slow["efficiency"] == pytest.approx(0.125), f"got {slow}"
    assert rows[("no-reference", "forward+backward")]["ratio"] is None, "got a ratio without a reference timing"
    assert [r["impl"] for r in section["results"]][0] == bench.REFERENCE, "got the reference not listed first"


def test_command_writes_the_section_and_attaches_it(tmp_path, capsys):
    config = bench.CONFIGS["small"]
    raw = {"benchmarks": [raw_entry("matmul", "small", "forward", 1e-5),
                          raw_entry("reference", "small", "forward", 1e-4, bench.REFERENCE)]}
    (tmp_path / "raw.json").write_text(json.dumps(raw))
    results = tmp_path / "results.json"
    data = build_results([implementation_record("x")], load_all(), environment("grade"))
    results.write_text(json.dumps(data))
    code = bench.main([str(tmp_path / "raw.json"), "-o", str(tmp_path / "b.json"), "--results", str(results),
                       "--html", str(tmp_path / "index.html")])
    assert code == 0, f"got exit code {code} [{capsys.readouterr()}]"
    section = read_benchmarks(tmp_path / "b.json")
    assert read_results(results)["benchmarks"] == section, "got results.json without the benchmarks section"
    assert section["configs"]["small"]["steps"] == config.steps
    (tmp_path / "empty.json").write_text('{"benchmarks": []}')
    assert bench.main([str(tmp_path / "empty.json"), "-o", str(tmp_path / "c.json")]) == 2
    with pytest.raises(ValueError, match="not a benchmarks file"):
        read_benchmarks(results)


def test_matmul_runner_multiplies():
    a = bench.matmul_runner(bench.BenchConfig(2, 3, 4, 5))()
    assert a.shape == (6, 15), f"got {tuple(a.shape)}, but should be (6, 15)"
    assert a.dtype == torch.float32
