"""Prints about 20 KB on every call (debug output left in): correct numbers."""

import sys

from _gru import HonestGRU


class Adapter(HonestGRU):
    def run(self, gru, x, h0):
        print(f"FLOOD x={tuple(x.shape)} " + "#" * 10_000)
        print("FLOOD on stderr " + "#" * 10_000, file=sys.stderr)
        return gru(x, h0)
