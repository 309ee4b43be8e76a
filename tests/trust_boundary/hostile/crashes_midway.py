"""Ends its own process (os._exit(3)) when it is given a non-contiguous x: a crash in the
middle of one check (inputs.non-contiguous runs a contiguous call first). Correct otherwise."""

import os

from _gru import HonestGRU


class Adapter(HonestGRU):
    def run(self, gru, x, h0):
        if not x.is_contiguous():
            os._exit(3)
        return gru(x, h0)
