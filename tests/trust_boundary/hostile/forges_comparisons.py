"""A wrong GRU (r and z swapped) that, on import, replaces the suite's comparison with one
that always agrees."""

import conformance.cases.compare as compare

from _gru import SwappedGRU

compare.assert_close = lambda *args, **kwargs: 0.0


class Adapter(SwappedGRU):
    pass
