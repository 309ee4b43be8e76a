"""Reads address 0 (a segmentation fault in C) when h0's dtype differs from x's (the
inputs.wrong-dtype check). Correct otherwise."""

import ctypes

from _gru import HonestGRU


class Adapter(HonestGRU):
    def run(self, gru, x, h0):
        if h0 is not None and h0.dtype != x.dtype:
            ctypes.string_at(0)
        return gru(x, h0)
