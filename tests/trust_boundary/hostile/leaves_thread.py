"""Starts a background thread on its first call and never stops it (a prefetcher, say)."""

import threading
import time

from _gru import HonestGRU

_started = []


def _forever():
    while True:
        time.sleep(3600)


class Adapter(HonestGRU):
    def run(self, gru, x, h0):
        if not _started:
            _started.append(threading.Thread(target=_forever, name="prefetcher", daemon=False))
            _started[0].start()
        return gru(x, h0)
