"""The four GRU conventions an implementation can claim, described once.

Two choices make them: where the reset gate acts (``reset``: "after" the recurrent
matmul, with b_hn inside, as PyTorch; or "before" it, as Cho et al. 2014, d2l, Keras
``reset_after=False`` and ONNX ``linear_before_reset=0``), and the polarity of the state
update (``update``: "pytorch", h' = (1 - z) * n + z * h; or "complement",
h' = (1 - z) * h + z * n, as Chung et al. 2014, Wikipedia and dm-haiku write it).

The two polarities are the same GRU with the update gate relabelled: z' = 1 - z is
sigmoid(-a), so a complement-polarity implementation given the update gate's weights
and biases negated computes exactly the PyTorch polarity. The suite grades a
complement claim that way (``complement_params``), so the oracle stays one function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RESETS = ("after", "before")
UPDATES = ("pytorch", "complement")


@dataclass(frozen=True)
class Convention:
    reset: str
    update: str
    #: The verdict of an implementation that conforms to it.
    verdict: str
    #: In a sentence: "conformant to <name>".
    name: str
    #: For the scoreboard.
    short: str
    #: The equations in words, for the results' ``claimed_variant`` and the report.
    description: str


CONVENTIONS: dict[tuple[str, str], Convention] = {
    ("after", "pytorch"): Convention(
        "after", "pytorch", "conformant-pytorch", "the PyTorch GRU", "PyTorch",
        "PyTorch GRU (reset applied after the recurrent matmul, b_hn inside; h' = (1 - z) * n + z * h)"),
    ("before", "pytorch"): Convention(
        "before", "pytorch", "conformant-reset-before", "the reset-before GRU variant", "reset-before",
        "reset-before GRU (Cho et al. 2014, d2l, Keras reset_after=False, ONNX linear_before_reset=0; "
        "h' = (1 - z) * n + z * h)"),
    ("after", "complement"): Convention(
        "after", "complement", "conformant-reset-after-complement",
        "the reset-after GRU with the complement update", "reset-after, complement",
        "reset-after GRU with the complement update h' = (1 - z) * h + z * n (reset after the recurrent "
        "matmul, b_hn inside)"),
    ("before", "complement"): Convention(
        "before", "complement", "conformant-reset-before-complement",
        "the reset-before GRU with the complement update (Chung et al. 2014 form)", "reset-before, complement",
        "reset-before GRU with the complement update h' = (1 - z) * h + z * n (Chung et al. 2014, "
        "Wikipedia, dm-haiku)"),
}

@dataclass(frozen=True)
class Verdict:
    """What a graded implementation is called, in every place that shows it."""

    id: str
    text: str
    #: "pass", "consistent", "fail" or "error": how reports colour it.
    kind: str
    #: Sort order on the scoreboard, worst first.
    rank: int
    #: The scoreboard's short label.
    short: str


#: Verdict id -> the verdict, the conformant ones from the conventions.
VERDICTS: dict[str, Verdict] = {
    "error": Verdict("error", "could not be graded", "error", 0, "not graded (error)"),
    "none-run": Verdict("none-run", "not graded: no applicable check ran (a -k selection or an interrupted run)",
                        "error", 0, "no check run"),
    "nonconformant": Verdict("nonconformant", "nonconformant", "fail", 1, "nonconformant"),
    "consistent": Verdict("consistent", "no violation found (black-box only: the adapter gives no weight access)",
                          "consistent", 2, "consistent (black-box)"),
    **{c.verdict: Verdict(c.verdict, f"conformant to {c.name}", "pass", 3, f"conformant ({c.short})")
       for c in CONVENTIONS.values()},
}
#: Verdicts that pass (grade-folder's exit status, the registry's expectations).
PASSING = tuple(v.id for v in VERDICTS.values() if v.kind in ("pass", "consistent"))


def convention(reset: str, update: str = "pytorch") -> Convention | None:
    return CONVENTIONS.get((reset, update))


def claim_text(reset: str, update: str = "pytorch") -> str:
    """How a claim is written in an adapter: what the diagnosis suggests."""
    parts = [f'reset = "{reset}"'] + ([f'update = "{update}"'] if update != "pytorch" else [])
    return " and ".join(parts)


def complement_params(params: Any) -> Any:
    """Canonical parameters as a complement-polarity implementation needs them: the
    update gate's rows of every weight and bias negated (1 - sigmoid(a) = sigmoid(-a))."""
    import numpy as np

    hidden = params.hidden_size
    arrays = {}
    for name, value in params.items():
        flipped = np.array(value, dtype=np.float64, copy=True)
        flipped[hidden:2 * hidden] *= -1.0
        arrays[name] = flipped
    return params.replace(arrays)


def complement_grads(grads: dict[str, Any], hidden: int) -> dict[str, Any]:
    """Parameter gradients read from a complement-polarity implementation, back in the
    canonical convention (the update gate's rows negated again; x and h0 unchanged)."""
    out = {}
    for name, value in grads.items():
        if name in ("x", "h0"):
            out[name] = value
            continue
        flipped = value.copy()
        flipped[hidden:2 * hidden] *= -1.0
        out[name] = flipped
    return out
