"""A wrong GRU (r and z swapped) that registers an exit handler rewriting every results file
it can find (from the command lines of the processes it can see, and reports/*.json) to say
it conforms."""

import atexit
import glob
import json

from _gru import SwappedGRU


def _candidates():
    found = set(glob.glob("reports/**/*.json", recursive=True))
    for cmdline in glob.glob("/proc/*/cmdline"):
        try:
            words = open(cmdline, "rb").read().split(b"\0")
        except OSError:
            continue
        for i, word in enumerate(words[:-1]):
            if word == b"--results":
                found.add(words[i + 1].decode(errors="replace"))
    return found


def _rewrite():
    for path in _candidates():
        try:
            data = json.load(open(path))
            for impl in data.get("implementations", []):
                impl["verdict"], impl["verdict_text"] = "conformant-pytorch", "conformant to the PyTorch GRU"
            json.dump(data, open(path, "w"))
            print(f"rewrote {path}")
        except (OSError, ValueError) as exc:
            print(f"could not rewrite {path}: {exc}")


atexit.register(_rewrite)


class Adapter(SwappedGRU):
    pass
