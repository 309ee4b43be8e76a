"""Speed of every implementation against torch.nn.GRU and a plain matmul, in one run.

Nothing here asserts a timing: the numbers go to the JSON (``--benchmark-json``)
that ``python -m conformance.bench`` turns into the report's benchmarks section.
"""

from __future__ import annotations

import pytest

from conformance import bench

from .conftest import describe, load_error, skip

CONFIG_NAMES = list(bench.CONFIGS)


@pytest.mark.parametrize("config_name", CONFIG_NAMES)
def test_matmul(benchmark, config_name):
    describe(benchmark, "matmul", config_name, "forward")
    benchmark(bench.matmul_runner(bench.CONFIGS[config_name]))


@pytest.mark.parametrize("mode", bench.MODES)
@pytest.mark.parametrize("config_name", CONFIG_NAMES)
def test_reference(benchmark, config_name, mode):
    describe(benchmark, "reference", config_name, mode, bench.REFERENCE)
    benchmark(bench.reference_runner(bench.CONFIGS[config_name], mode))


def test_implementation(benchmark, bench_subject, config_name, mode):
    impl = bench_subject.id
    reason = load_error(bench_subject) or bench.unsupported(bench_subject, bench.CONFIGS[config_name], mode)
    if reason:
        skip(impl, config_name, mode, reason)
    try:
        run = bench.subject_runner(bench_subject, bench.CONFIGS[config_name], mode)
        run()  # fails here, untimed, if the implementation cannot run this configuration
    except Exception as exc:  # noqa: BLE001 - a broken implementation is reported, not benchmarked
        skip(impl, config_name, mode, f"raised {type(exc).__name__}: {str(exc)[:200]}")
    describe(benchmark, "implementation", config_name, mode, impl)
    benchmark(run)
