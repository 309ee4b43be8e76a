"""A wrong GRU (r and z swapped) that, when loaded and on every call, rewrites every results
file it can name to say it conforms: those of the grading processes it can see (their
--results), and the one named by GRU_HOSTILE_TARGET (another grading's, in the self-test)."""

import glob
import json
import os

from _gru import SwappedGRU


def _named() -> set[str]:
    found = {os.environ["GRU_HOSTILE_TARGET"]} if os.environ.get("GRU_HOSTILE_TARGET") else set()
    for cmdline in glob.glob("/proc/*/cmdline"):
        try:
            words = open(cmdline, "rb").read().split(b"\0")
        except OSError:
            continue
        found |= {words[i + 1].decode(errors="replace") for i, w in enumerate(words[:-1]) if w == b"--results"}
    return found


def rewrite() -> None:
    for path in sorted(_named()):
        try:
            with open(path) as handle:
                data = json.load(handle)
            for impl in data.get("implementations", []):
                impl["verdict"], impl["verdict_text"] = "conformant-pytorch", "conformant to the PyTorch GRU"
            with open(path, "w") as handle:
                json.dump(data, handle)
            print(f"rewrote {path}")
        except (OSError, ValueError) as exc:
            print(f"could not rewrite {path}: {exc}")


rewrite()


class Adapter(SwappedGRU):
    def run(self, gru, x, h0):
        rewrite()
        return super().run(gru, x, h0)
