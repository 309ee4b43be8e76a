"""Parametrizes the benchmarks over implementations, configurations and modes.

``pytest benchmarks [--impl NAME ...]`` (``--impl`` as for grading; default:
every registered implementation; ``GRU_BENCH_THREADS`` sets torch's threads, default 1). Run without xdist: pytest-benchmark does
not time anything under it. ``tox -e bench`` is the documented entry point.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch

from conformance import bench, loading
from conformance.subject import Subject

#: One thread unless GRU_BENCH_THREADS says otherwise: on a machine whose cores are
#: shared, an OpenMP pool of several threads waits for busy cores and turns a
#: microsecond matmul into milliseconds, so multi-threaded timings measure the
#: neighbours. The matmul reference runs with the same threads as the GRUs.
torch.set_num_threads(int(os.environ.get("GRU_BENCH_THREADS", "1")))

#: Combinations that were not timed, with the reason (written into the JSON).
SKIPPED: list[dict[str, str]] = []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bench_subject" not in metafunc.fixturenames:
        return
    names = metafunc.config.getoption("impl", default=[]) or []
    cases, ids = [], []
    for item in loading.load_subjects(names):
        for config_name in bench.CONFIGS:
            for mode in bench.MODES:
                cases.append((item, config_name, mode))
                ids.append(f"{item.id}-{config_name}-{mode}")
    metafunc.parametrize(("bench_subject", "config_name", "mode"), cases, ids=ids)


def skip(impl: str, config_name: str, mode: str, reason: str) -> None:
    SKIPPED.append({"impl": impl, "config": config_name, "mode": mode, "reason": reason})
    pytest.skip(reason)


def describe(benchmark: Any, kind: str, config_name: str, mode: str, impl: str = "") -> None:
    benchmark.group = f"{config_name} {mode}"
    benchmark.extra_info.update(kind=kind, impl=impl, config=config_name, mode=mode,
                                config_spec=bench.CONFIGS[config_name].describe())


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict) -> None:
    output_json["gru_conformance"] = {"environment": bench.environment(), "skipped": SKIPPED}


def load_error(item: Any) -> str | None:
    return None if isinstance(item, Subject) else f"could not be loaded: {item.error}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group by configuration and mode, reference and matmul first: the timings a
    ratio divides are taken seconds apart, not minutes, so drifting load on a
    shared machine moves both alike."""
    configs, kinds = list(bench.CONFIGS), ["test_matmul", "test_reference", "test_implementation"]

    def key(item: pytest.Item) -> tuple[int, int, int]:
        params = getattr(item, "callspec", None)
        params = params.params if params is not None else {}
        config = params.get("config_name")
        mode = params.get("mode", bench.MODES[0])
        name = getattr(item, "originalname", item.name)
        return (configs.index(config) if config in configs else len(configs),
                bench.MODES.index(mode) if mode in bench.MODES else 0,
                kinds.index(name) if name in kinds else len(kinds))

    items.sort(key=key)  # stable: the implementations keep their registry order
