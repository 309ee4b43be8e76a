"""Never returns when it is given a non-contiguous x (a deadlock in a kernel, say); the
per-check time limit stops it. Correct otherwise."""

import time

from _gru import HonestGRU


class Adapter(HonestGRU):
    def run(self, gru, x, h0):
        if not x.is_contiguous():
            while True:
                time.sleep(1)
        return gru(x, h0)
