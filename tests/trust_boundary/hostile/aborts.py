"""Calls abort() (as a failed C++ assertion would) on unbatched input. Correct otherwise."""

import os

from _gru import HonestGRU


class Adapter(HonestGRU):
    def run(self, gru, x, h0):
        if x.dim() == 2:
            os.abort()
        return gru(x, h0)
