"""What the benchmarks measure: the configurations, how many rounds, the growth sweeps,
and which implementation can run which configuration.

FLOPs counted, per layer and direction (I_l = I for layer 0, D*H above)::

    matmuls      2 * T * B * 3H * (I_l + H)
    elementwise  17 * T * B * H   (6 bias adds, 3 gate adds, r * (W_hn h + b_hn),
                                   3 activations counted as one FLOP each, 4 for the update)

forward+backward is counted as 3x the forward. The matmul of the same size is
(T*B, I+H) @ (I+H, 3H): the first layer's matmul FLOPs as one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.base.bench_stats import CONFIDENCE
from conformance.cases.generated import CaseSpec

MODES = ("forward", "forward+backward")
ELEMENTWISE_FLOPS_PER_UNIT = 17
#: The benchmark configuration fields of the results JSON (the rest of a case is fixed).
CONFIG_FIELDS = ("steps", "batch", "input_size", "hidden_size", "num_layers", "bidirectional", "dtype", "device")
#: The growth axes and their letters.
AXES = {"steps": "T", "batch": "B", "hidden_size": "H"}


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
    "T32-B16-H128-2L-bidi": BenchConfig(steps=32, batch=16, input_size=128, hidden_size=128,
                                        num_layers=2, bidirectional=True),
}


@dataclass(frozen=True)
class Rounds:
    """How long a paired measurement runs: at least ``min_rounds`` rounds, then until the
    ratio's interval is within ``target`` of its median (relative half-width; 0: no
    target), ``budget_seconds`` of wall time have passed, or ``max_rounds`` are done.
    Each block of calls lasts about ``block_seconds`` (0: one call)."""

    min_rounds: int
    max_rounds: int
    budget_seconds: float
    block_seconds: float
    target: float = 0.0

    def request(self) -> dict[str, Any]:
        return {"min_rounds": self.min_rounds, "max_rounds": self.max_rounds, "target": self.target,
                "budget_seconds": self.budget_seconds, "block_seconds": self.block_seconds}


@dataclass(frozen=True)
class Plan:
    """Everything one run measures."""

    name: str
    configs: dict[str, BenchConfig]
    rounds: Rounds
    growth_base: BenchConfig
    growth_axes: dict[str, tuple[int, ...]]
    growth_rounds: Rounds
    growth_memory_modes: tuple[str, ...]
    clock: str = "cpu"
    threads: int = 1
    #: Pairs of the boundary measurement (nn.GRU timed in the worker and in this process).
    boundary_pairs: int = 15

    def describe(self) -> dict[str, Any]:
        return {"plan": self.name, "clock": self.clock, "threads": self.threads, "confidence": CONFIDENCE,
                "rounds": vars(self.rounds), "growth_rounds": vars(self.growth_rounds)}


PLANS: dict[str, Plan] = {
    # About 9 to 20 s of CPU an implementation (start-up included) on this project's 2-core machine.
    "full": Plan(
        name="full", configs=CONFIGS, rounds=Rounds(9, 81, 4.0, 0.005, target=0.02),
        growth_base=BenchConfig(steps=64, batch=8, input_size=64, hidden_size=128),
        growth_axes={"steps": (16, 128, 512, 2048), "batch": (4, 16, 64, 256), "hidden_size": (32, 128, 512, 1024)},
        growth_rounds=Rounds(2, 2, 0.0, 0.0), growth_memory_modes=MODES),
    # The inner loop: one configuration, a smaller sweep, fewer rounds.
    "quick": Plan(
        name="quick", configs={"T64-B32-H128": CONFIGS["T64-B32-H128"]}, rounds=Rounds(7, 31, 1.0, 0.005, target=0.03),
        growth_base=BenchConfig(steps=64, batch=8, input_size=64, hidden_size=64),
        growth_axes={"steps": (16, 64, 256, 1024), "batch": (2, 8, 32, 128), "hidden_size": (32, 64, 256, 512)},
        growth_rounds=Rounds(1, 1, 0.0, 0.0), growth_memory_modes=("forward",)),
}


# What can run what --------------------------------------------------------------
def unsupported(subject: Any, config: BenchConfig, mode: str) -> str | None:
    """Why ``subject`` cannot be timed on ``config`` in ``mode``, or None."""
    caps = subject.capabilities
    if config.dtype not in subject.dtypes((config.dtype,)):
        return f"does not claim {config.dtype}"
    if config.device not in caps.devices:
        return f"does not claim device {config.device}"
    if not subject.is_cell:
        if config.bidirectional and not caps.bidirectional:
            return "does not claim bidirectional"
        if not config.bidirectional and not caps.unidirectional:
            return "does not claim one direction"
        if config.num_layers > 1 and not caps.multi_layer:
            return "does not claim multiple layers"
        if not subject.layouts():
            return "claims neither time-major nor batch-first input"
    if mode == "forward+backward" and not caps.autograd:
        return "does not claim autograd"
    return None


def fitted(subject: Any, config: BenchConfig) -> BenchConfig:
    """The configuration in a layout and with an h0 the implementation claims."""
    caps = subject.capabilities
    batch_first = not subject.is_cell and not caps.time_major
    with_h0 = subject.is_cell or caps.h0
    return config.with_(batch_first=batch_first, with_h0=with_h0, h0_shared=with_h0 and caps.h0_shared)
