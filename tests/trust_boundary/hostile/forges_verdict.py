"""A wrong GRU (r and z swapped) that, on import, replaces the suite's verdict function."""

import conformance.grading.results as results

from _gru import SwappedGRU

results.overall_verdict = lambda *args, **kwargs: "conformant-pytorch"


class Adapter(SwappedGRU):
    pass
