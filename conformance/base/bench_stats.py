"""The statistics of the benchmarks: medians with distribution-free intervals, the
change between two runs, growth exponents. Plain numbers in, plain numbers out.

* A paired ratio (implementation time / ``nn.GRU`` time, one value per round) is
  summarised by its median and the confidence interval of the median from order
  statistics: the k-th smallest and k-th largest of n values bound the median with
  probability 1 - 2 P(Bin(n, 1/2) < k), whatever the distribution. No resampling,
  so the same samples always give the same interval.
* A change between two runs (the median of the new samples over the median of the
  old ones) gets a percentile bootstrap interval with a fixed seed: the two runs'
  rounds are not paired with each other.
* A growth exponent is the least-squares slope of log(cost) against log(size).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Confidence of every interval the benchmarks report.
CONFIDENCE = 0.95
#: Resamples of the bootstrap (a change between runs) and its seed.
BOOTSTRAP_RESAMPLES = 4000
BOOTSTRAP_SEED = 20240601


@dataclass(frozen=True)
class Interval:
    """A median with its confidence interval; ``coverage`` is the interval's actual
    confidence (order statistics give discrete levels: at least ``CONFIDENCE`` when
    n >= 6, below it for fewer samples, where the interval is [min, max])."""

    median: float
    low: float
    high: float
    coverage: float
    n: int

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def to_json(self) -> dict[str, float | int]:
        return {"median": self.median, "low": self.low, "high": self.high, "coverage": self.coverage, "n": self.n}


def _binomial_cdf(k: int, n: int) -> float:
    """P(Bin(n, 1/2) <= k)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """The median of ``values`` and its distribution-free confidence interval
    [x_(k), x_(n+1-k)], k the largest rank whose two tails hold at most 1 - confidence."""
    data = sorted(float(v) for v in values)
    n = len(data)
    if n == 0:
        raise ValueError("no samples: a median needs at least one value")
    k = 1
    while k < (n + 1) // 2 and 2 * _binomial_cdf(k, n) <= 1 - confidence:
        k += 1
    return Interval(float(np.median(data)), data[k - 1], data[n - k], 1 - 2 * _binomial_cdf(k - 1, n), n)


def ratio_verdict(interval: Interval) -> str:
    """"slower", "faster" or "no measurable difference" (the interval holds 1)."""
    if interval.contains(1.0):
        return "no measurable difference"
    return "slower" if interval.low > 1.0 else "faster"


def change_interval(old: Sequence[float], new: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """median(new) / median(old) with a percentile bootstrap interval (fixed seed)."""
    before, after = np.asarray(old, dtype=float), np.asarray(new, dtype=float)
    if before.size == 0 or after.size == 0:
        raise ValueError("a change needs samples from both runs")
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    resampled_old = np.median(rng.choice(before, (BOOTSTRAP_RESAMPLES, before.size)), axis=1)
    resampled_new = np.median(rng.choice(after, (BOOTSTRAP_RESAMPLES, after.size)), axis=1)
    ratios = resampled_new / resampled_old
    tail = (1 - confidence) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return Interval(float(np.median(after) / np.median(before)), float(low), float(high), confidence,
                    int(min(before.size, after.size)))


def growth_exponent(sizes: Sequence[float], costs: Sequence[float]) -> float | None:
    """The slope of log(cost) against log(size): cost ~ size ** exponent. None without
    two distinct sizes with positive costs."""
    points = [(math.log(s), math.log(c)) for s, c in zip(sizes, costs)
              if s and c and s > 0 and c > 0 and math.isfinite(c)]
    if len({x for x, _ in points}) < 2:
        return None
    xs, ys = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    slope = np.polyfit(xs, ys, 1)[0]
    return float(slope)


def local_exponents(sizes: Sequence[float], costs: Sequence[float]) -> list[float | None]:
    """The exponent between each pair of neighbouring points (a cliff shows as one
    segment much steeper than the others)."""
    slopes: list[float | None] = []
    for (s0, c0), (s1, c1) in zip(zip(sizes, costs), list(zip(sizes, costs))[1:]):
        ok = all(v and v > 0 and math.isfinite(v) for v in (s0, c0, s1, c1)) and s1 != s0
        slopes.append(math.log(c1 / c0) / math.log(s1 / s0) if ok else None)
    return slopes
