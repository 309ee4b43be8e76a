"""Benchmarks of the graded implementations against ``nn.GRU`` on the same machine.

``tox -e bench`` runs ``benchmarks/`` under pytest-benchmark (one process, no
xdist: pytest-benchmark switches itself off under xdist), then
``python -m conformance.bench RAW -o reports/benchmarks.json`` turns
pytest-benchmark's JSON into the ``benchmarks`` section below, attaches it to
``reports/results.json`` when that file exists and re-renders the HTML report.
``python -m conformance report results.json --benchmarks reports/benchmarks.json``
attaches it to any other (merged) results.

Every implementation that can run a configuration is timed, forward and, where
it claims autograd, forward+backward, together with a plain ``torch.nn.GRU``
(the reference) and a plain matmul, all in the same run. Each timing is
reported as a ratio to the reference's and as an efficiency: achieved GFLOP/s
over what a plain float32 matmul of the same size reaches on this machine. A
timing is never an assertion.

FLOPs counted, per layer and direction (I_l = I for layer 0, D*H above)::

    matmuls      2 * T * B * 3H * (I_l + H)
    elementwise  17 * T * B * H   (6 bias adds, 3 gate adds, r * (W_hn h + b_hn),
                                   3 activations counted as one FLOP each, 4 for the update)

forward+backward is counted as 3x the forward (the backward pass is two
matmuls per forward matmul). The matmul of the same size is
(T*B, I+H) @ (I+H, 3H): the GRU's first layer's matmul FLOPs as one call.

The ``benchmarks`` section (top level of the results JSON; also the content of
``reports/benchmarks.json``), schema ``gru-conformance-benchmarks/1``::

    {
      "schema": "gru-conformance-benchmarks/1",
      "reference": "torch.nn.GRU",
      "statistic": "median",
      "environment": {"torch", "numpy", "python", "platform", "machine", "cpu",
                      "torch_threads", "date", "pytest_benchmark"},
      "configs": {"<config>": {"steps", "batch", "input_size", "hidden_size",
                               "num_layers", "bidirectional", "dtype",
                               "flops": {"forward", "forward+backward"},
                               "matmul": {"shape": [M, K, N], "flops", "seconds", "gflops"}}},
      "results": [{"impl", "config", "mode" ("forward" | "forward+backward"),
                   "seconds" (median), "min_s", "mean_s", "stddev_s", "rounds",
                   "gflops", "ratio" (seconds / reference seconds; 2.0 = twice as slow),
                   "efficiency" (gflops / matmul gflops; 1.0 = matmul speed)}],
      "skipped": [{"impl", "config", "mode", "reason"}]
    }

The reference's own rows have ``"impl": "torch.nn.GRU"`` and ratio 1.0. A row's
``ratio``, ``gflops`` or ``efficiency`` is null when its reference or matmul
timing is missing.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from conformance.cases import DTYPES, CaseSpec
from conformance.reference import torch_gru
from conformance.results import BENCHMARKS_SCHEMA as SCHEMA

REFERENCE = "torch.nn.GRU"
MODES = ("forward", "forward+backward")
ELEMENTWISE_FLOPS_PER_UNIT = 17


#: The benchmark configuration fields of the results JSON (the rest of a case is fixed).
CONFIG_FIELDS = ("steps", "batch", "input_size", "hidden_size", "num_layers", "bidirectional", "dtype")


@dataclass(frozen=True)
class BenchConfig(CaseSpec):
    """One timed configuration: a case like the checks' (same generator, one fixed seed),
    with the FLOPs that time stands for."""

    seed: int = 20240601

    def layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.num_directions * self.hidden_size

    def flops(self, mode: str = "forward") -> int:
        t, b, h = self.steps, self.batch, self.hidden_size
        total = 0
        for layer in range(self.num_layers):
            per_direction = 2 * t * b * 3 * h * (self.layer_input_size(layer) + h) + ELEMENTWISE_FLOPS_PER_UNIT * t * b * h
            total += self.num_directions * per_direction
        return total * (3 if mode == "forward+backward" else 1)

    def matmul_shape(self) -> tuple[int, int, int]:
        return (self.steps * self.batch, self.input_size + self.hidden_size, 3 * self.hidden_size)

    def describe(self) -> dict[str, Any]:
        """The configuration as the benchmarks JSON holds it."""
        m, k, n = self.matmul_shape()
        return {**{name: getattr(self, name) for name in CONFIG_FIELDS},
                "flops": {mode: self.flops(mode) for mode in MODES},
                "matmul": {"shape": [m, k, n], "flops": 2 * m * k * n}}


CONFIGS: dict[str, BenchConfig] = {
    "small": BenchConfig(steps=8, batch=4, input_size=16, hidden_size=16),
    "T64-B32-H128": BenchConfig(steps=64, batch=32, input_size=128, hidden_size=128),
    "T64-B32-H128-2L-bidi": BenchConfig(steps=64, batch=32, input_size=128, hidden_size=128,
                                        num_layers=2, bidirectional=True),
}


# What can run what --------------------------------------------------------------
def unsupported(subject: Any, config: BenchConfig, mode: str) -> str | None:
    """Why ``subject`` cannot be timed on ``config`` in ``mode``, or None."""
    caps = subject.capabilities
    if config.dtype not in subject.dtypes((config.dtype,)):
        return f"does not claim {config.dtype}"
    if not subject.is_cell:
        if config.bidirectional and not caps.bidirectional:
            return "does not claim bidirectional"
        if config.num_layers > 1 and not caps.multi_layer:
            return "does not claim multiple layers"
        if not subject.layouts():
            return "claims neither time-major nor batch-first input"
    if mode == "forward+backward" and not caps.autograd:
        return "does not claim autograd"
    return None


def _step_loop(adapter: Any, cells: dict[tuple[int, int], Any], x: Any, h0: Any, layers: int, directions: int):
    """A cell unrolled as a user would: no per-step bookkeeping, so the cell is what is timed."""
    inputs, finals = x, []
    for layer in range(layers):
        halves = []
        for d in range(directions):
            h = h0[layer * directions + d]
            order = range(x.shape[0] - 1, -1, -1) if d else range(x.shape[0])
            outs = [None] * x.shape[0]
            for t in order:
                h = adapter.step(cells[(layer, d)], inputs[t], h)
                outs[t] = h
            halves.append(torch.stack(outs))
            finals.append(h)
        inputs = torch.cat(halves, dim=-1) if directions > 1 else halves[0]
    return inputs, torch.stack(finals)


def _case(config: BenchConfig, batch_first: bool = False, with_h0: bool = True) -> Any:
    return config.with_(batch_first=batch_first, with_h0=with_h0).materialize()


def _timed(call: Callable[[], tuple[Any, Any]], mode: str, x: Any) -> Callable[[], Any]:
    if mode == "forward":
        def forward() -> Any:
            with torch.no_grad():
                return call()
        return forward

    x.requires_grad_(True)

    def forward_backward() -> Any:
        x.grad = None
        output, h_n = call()
        (output.sum() + h_n.sum()).backward()
        return output
    return forward_backward


def subject_runner(subject: Any, config: BenchConfig, mode: str) -> Callable[[], Any]:
    """A no-argument callable running ``subject`` (graded in this process) once on
    ``config`` (inputs built beforehand).

    White-box adapters get the same parameters as the reference; cells are
    unrolled by a plain loop. Raises what the implementation raises."""
    caps = subject.capabilities
    batch_first = not subject.is_cell and not caps.time_major
    with_h0 = subject.is_cell or caps.h0
    case = _case(config, batch_first, with_h0)
    instance = subject.instantiate(case)
    subject.call(instance, case.x, case.h0)  # built (and checked to run) untimed
    # Timed in this process, without the request channel (a benchmark is not a verdict).
    executor = subject.backend.executor
    built = executor.instances[instance.handle]
    x, h0 = executor.prepare(built, {"x": case.x, "h0": case.h0})
    adapter = executor.adapter
    if subject.is_cell:
        if h0 is None:
            h0 = torch.zeros(config.num_layers * config.num_directions, config.batch, config.hidden_size)
        call = lambda: _step_loop(adapter, built.cells, x, h0,  # noqa: E731
                                  config.num_layers, config.num_directions)
    else:
        call = lambda: adapter.run(built.impl, x, h0)  # noqa: E731
    return _timed(call, mode, x)


def reference_runner(config: BenchConfig, mode: str) -> Callable[[], Any]:
    """``torch.nn.GRU`` on the same case (time-major, with h0)."""
    case = _case(config)
    dtype = DTYPES[config.dtype]
    gru = torch_gru(case.params, dtype)
    x = torch.tensor(case.x, dtype=dtype)
    h0 = torch.tensor(case.h0, dtype=dtype)
    return _timed(lambda: gru(x, h0), mode, x)


def matmul_runner(config: BenchConfig) -> Callable[[], Any]:

    m, k, n = config.matmul_shape()
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=gen, dtype=DTYPES[config.dtype])
    b = torch.randn(k, n, generator=gen, dtype=DTYPES[config.dtype])
    return lambda: torch.mm(a, b)


# Summarising pytest-benchmark's JSON -------------------------------------------------
def environment() -> dict[str, Any]:
    import numpy
    try:
        from importlib.metadata import version

        pb = version("pytest-benchmark")
    except Exception:  # noqa: BLE001 - informative only
        pb = ""
    return {
        "torch": torch.__version__, "numpy": numpy.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "machine": platform.machine(), "cpu": _cpu_name(),
        "torch_threads": torch.get_num_threads(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "pytest_benchmark": pb,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    """pytest-benchmark's JSON (with this suite's ``extra_info``) -> the ``benchmarks`` section."""
    extra = raw.get("gru_conformance", {})
    configs: dict[str, dict[str, Any]] = {}
    timings: list[dict[str, Any]] = []
    for bench in raw.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        if "kind" not in info:
            continue  # not one of this suite's benchmarks
        name = info["config"]
        configs.setdefault(name, dict(info["config_spec"]))
        stats = bench["stats"]
        if info["kind"] == "matmul":
            flops = configs[name]["matmul"]["flops"]
            configs[name]["matmul"].update(seconds=stats["median"], gflops=flops / stats["median"] / 1e9)
            continue
        timings.append({
            "impl": REFERENCE if info["kind"] == "reference" else info["impl"],
            "config": name, "mode": info["mode"], "seconds": stats["median"], "min_s": stats["min"],
            "mean_s": stats["mean"], "stddev_s": stats["stddev"], "rounds": stats["rounds"],
        })
    reference = {(t["config"], t["mode"]): t["seconds"] for t in timings if t["impl"] == REFERENCE}
    for t in timings:
        spec = configs[t["config"]]
        t["gflops"] = spec["flops"][t["mode"]] / t["seconds"] / 1e9 if t["seconds"] > 0 else None
        ref = reference.get((t["config"], t["mode"]))
        t["ratio"] = t["seconds"] / ref if ref else None
        peak = spec["matmul"].get("gflops")
        t["efficiency"] = t["gflops"] / peak if peak and t["gflops"] is not None else None
    order = {name: i for i, name in enumerate(CONFIGS)}
    timings.sort(key=lambda t: (order.get(t["config"], len(order)), t["config"], MODES.index(t["mode"]),
                                t["impl"] != REFERENCE, t["impl"]))
    return {
        "schema": SCHEMA, "reference": REFERENCE, "statistic": "median",
        "environment": extra.get("environment") or {},
        "configs": dict(sorted(configs.items(), key=lambda kv: order.get(kv[0], len(order)))),
        "results": timings,
        "skipped": extra.get("skipped", []),
    }


def table(section: dict[str, Any]) -> str:
    """Plain-text table of a benchmarks section (printed by the command)."""
    lines = [f"{'config':<22} {'mode':<17} {'implementation':<22} {'median':>10} {'x nn.GRU':>9} {'GFLOP/s':>8} {'eff.':>6}"]
    for t in section["results"]:
        ratio = f"{t['ratio']:.2f}" if t["ratio"] is not None else "-"
        gflops = f"{t['gflops']:.2f}" if t["gflops"] is not None else "-"
        eff = f"{t['efficiency']:.0%}" if t["efficiency"] is not None else "-"
        lines.append(f"{t['config']:<22} {t['mode']:<17} {t['impl']:<22} {t['seconds'] * 1e3:>8.3f}ms {ratio:>9} {gflops:>8} {eff:>6}")
    for name, spec in section["configs"].items():
        mm = spec["matmul"]
        if mm.get("gflops"):
            lines.append(f"matmul {name}: {'x'.join(map(str, mm['shape']))} float32 at {mm['gflops']:.1f} GFLOP/s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.bench",
                                     description="Summarise pytest-benchmark JSON into the report's benchmarks section.")
    parser.add_argument("raw", help="pytest-benchmark JSON (--benchmark-json) of a benchmarks/ run")
    parser.add_argument("-o", "--output", default="reports/benchmarks.json", help="benchmarks JSON to write")
    parser.add_argument("--results", default="reports/results.json",
                        help="results JSON to attach the section to, if it exists (then the HTML is re-rendered)")
    parser.add_argument("--html", default="reports/index.html", help="HTML report path")
    args = parser.parse_args(argv)
    try:
        raw = json.loads(Path(args.raw).read_text())
    except (OSError, ValueError) as exc:
        print(f"bench: cannot read {args.raw}: {exc}", file=sys.stderr)
        return 2
    section = summarise(raw)
    if not section["results"]:
        print(f"bench: {args.raw} holds no GRU benchmarks (was it written by 'pytest benchmarks'?)", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(section, indent=1) + "\n")
    print(table(section))
    print(f"benchmarks: {out}")
    results = Path(args.results)
    if results.is_file():
        from conformance.merging import render
        from conformance.results import read_results, write_results

        data = read_results(results)
        data["benchmarks"] = section
        write_results(data, results)
        html = render(data, Path(args.html))
        print(f"attached to {results}" + (f"; report: {html}" if html else ""))
    else:
        print(f"no {results} yet: grade first, then "
              f"python -m conformance report {results} --benchmarks {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
