"""A correct GRU that, when loaded, prints what it can see around it: the entries of its
own folder and of the two above, the results files it can find there, and the mount
points under them. In the sandbox none of it may name another submission or a results
folder, of this grading or an earlier one."""

import glob
import os
from pathlib import Path

from _gru import HonestGRU

here = Path(__file__).resolve().parent
around = here.parent.parent
seen = []
for folder in (here, here.parent, around):
    try:
        seen.append(f"{folder.name}/: {' '.join(sorted(os.listdir(folder)))}")
    except OSError as exc:
        seen.append(f"{folder.name}/: {exc.strerror}")
seen.append("results: " + " ".join(sorted(glob.glob(str(around / "**" / "*.json"), recursive=True))))
try:
    with open("/proc/self/mountinfo") as table:
        points = [line.split()[4] for line in table]
except OSError as exc:
    points = [str(exc)]
seen.append("mounts: " + " ".join(p for p in points if p.startswith(str(around))))
print("LOOKED AROUND " + " | ".join(seen))


class Adapter(HonestGRU):
    pass
