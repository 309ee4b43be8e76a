"""Whole-command timings under pytest-benchmark: what ``adapt`` costs, what isolation costs.

The GRU benchmarks themselves (paired ratios, memory, growth) are
``python -m conformance.reporting.bench run``, which ``tox -e bench`` runs first: their timing
loop runs inside each implementation's worker process, where pytest-benchmark's
fixture cannot reach. Run without xdist: pytest-benchmark does not time anything
under it. ``GRU_BENCH_THREADS`` sets torch's threads here (default 1).
"""

from __future__ import annotations

import os

import torch

#: One thread unless GRU_BENCH_THREADS says otherwise: on a machine whose cores are
#: shared, an OpenMP pool of several threads waits for busy cores.
torch.set_num_threads(int(os.environ.get("GRU_BENCH_THREADS", "1")))
