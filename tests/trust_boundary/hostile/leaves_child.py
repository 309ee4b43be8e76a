"""A correct GRU that starts a child process on its first call and leaves it running (one
that could outlive grading and change files later)."""

import subprocess
import sys

from _gru import HonestGRU

_children = []


class Adapter(HonestGRU):
    def run(self, gru, x, h0):
        if not _children:
            _children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]))
        return gru(x, h0)
