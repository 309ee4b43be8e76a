"""The public oracle reproduces the GRU test vectors ONNX, Keras and TensorFlow publish, each
in its own convention and layout (``tests/oracle/published_vectors.py``), and the README's table of
them says what each can tell apart."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.oracle.published_vectors import WRONG_GRUS, Vector, all_vectors, reproduce

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
VECTORS = all_vectors()


def _error(got: dict[str, np.ndarray], vector: Vector) -> float:
    return max(float(np.abs(got[name] - want).max()) for name, want in vector.expected.items())


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_the_oracle_reproduces_the_published_vector(vector: Vector):
    got = reproduce(vector)
    for name, want in vector.expected.items():
        assert got[name].shape == want.shape, (
            f"got {name} of shape {got[name].shape}, but should be {want.shape} [{vector.name}: {vector.test}]")
        error = float(np.abs(got[name] - want).max())
        assert error <= vector.tolerance, (
            f"got {name} {np.array2string(got[name].ravel(), precision=8)}, but should be "
            f"{np.array2string(want.ravel(), precision=8)} (error {error:.2e} > {vector.tolerance:.0e}) "
            f"[{vector.name}: {vector.source[0]} {vector.source[1]} {vector.test}]")


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_what_the_vector_tells_apart(vector: Vector):
    """A vector tells a wrong GRU apart when that GRU's numbers leave the vector's tolerance:
    constant weights make r and z (and, with b_hn = 0, the reset placements) agree."""
    found = {wrong for wrong in WRONG_GRUS if _error(reproduce(vector, wrong), vector) > vector.tolerance}
    assert found == set(vector.tells_apart), (
        f"got {sorted(found)} told apart by {vector.name}, but it declares {sorted(vector.tells_apart)}")


def vectors_table() -> str:
    """The README's table of the published vectors."""
    lines = ["| vector | source test | convention, layout | tells apart |", "|---|---|---|---|"]
    for v in VECTORS:
        told = ", ".join(w for w in WRONG_GRUS if w in v.tells_apart) or "-"
        lines.append(f"| `{v.name}` | {v.test} | reset {v.reset}, {v.layout} | {told} |")
    return "\n".join(lines)


def test_the_readme_table_of_vectors_is_current():
    found = re.search(r"<!-- vectors-table[^\n]*-->\n(.*?)\n<!-- end vectors-table -->", README, re.S)
    assert found, "got no vectors-table block in README.md, but it should hold one"
    assert found.group(1).strip() == vectors_table(), (
        "got a stale table of published vectors in README.md, but it should equal "
        "tests.oracle.test_published_vectors.vectors_table()")


def test_the_readme_names_every_source_and_commit():
    for repo, path, commit in {v.source for v in VECTORS}:
        for text in (repo, path, commit):
            assert text in README, f"got no {text!r} in README.md, but every vector's source should be named there"


def test_a_wrong_gru_fails_a_vector():
    """The comparison can fail: the update polarity flipped leaves every vector's tolerance."""
    assert all("update polarity" in v.tells_apart for v in VECTORS), "got a vector blind to the update polarity"
    assert any("gate order" in v.tells_apart for v in VECTORS), (
        "got no published vector that tells swapped r and z gates apart, but ONNX's random-weight one should")
