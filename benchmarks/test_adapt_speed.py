"""What ``python -m conformance adapt`` costs, the whole command as a user runs it:
probing in a sandboxed process, writing the adapter, grading it with the default
profile. ``tox -e bench`` prints it with the other timings; the README quotes the
figures (the target is 30 s on this project's 2-core machine). Nothing is asserted
about the numbers; the command must succeed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def test_adapt_command(benchmark: Any, tmp_path: Path) -> None:
    benchmark.group = "adapt"
    benchmark.extra_info.update(what="adapt, whole command (tests/gallery/keras_kernels.py)")
    source = tmp_path / "keras_kernels.py"
    source.write_text((ROOT / "tests" / "gallery" / "keras_kernels.py").read_text())

    def adapt() -> None:
        done = subprocess.run([sys.executable, "-m", "conformance", "adapt", f"{source}:KerasLayoutCell",
                               "--results", str(tmp_path / "results.json")], cwd=ROOT, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, f"got exit {done.returncode}: {done.stdout[-2000:]}{done.stderr[-2000:]}"

    benchmark.pedantic(adapt, rounds=1, iterations=1)
