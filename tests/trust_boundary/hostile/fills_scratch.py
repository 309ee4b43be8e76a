"""Writes 4 MB files into its temporary folder (non-contiguous x) or into /dev/shm (unbatched
x) until the scratch space is full, 64 MB at most, then computes a correct GRU: graded with
--scratch-mb 16, those checks are errors saying the scratch space is limited (/dev/shm is
not limited without bubblewrap: that check then passes). Correct otherwise."""

import os
import tempfile

from _gru import HonestGRU

CHUNK = b"\0" * (4 << 20)


def fill(folder: str) -> None:
    written = []
    try:
        for n in range(16):
            path = os.path.join(folder, f"scratch-filler-{os.getpid()}-{n}")
            with open(path, "wb") as handle:
                handle.write(CHUNK)
            written.append(path)
    finally:
        if folder == "/dev/shm":  # outside a sandbox that is the machine's own shared memory
            for path in written:
                os.unlink(path)


class Adapter(HonestGRU):
    def run(self, gru, x, h0):
        if not x.is_contiguous():
            fill(tempfile.gettempdir())
        elif x.dim() == 2:
            fill("/dev/shm")
        return gru(x, h0)
