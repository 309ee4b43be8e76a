"""The named conventions a variant is described against, and the description itself:
"the reset-before variant except that b_hn is dropped"."""

from __future__ import annotations

from conformance.diagnosis.context import join
from conformance.diagnosis.switches import Deviation, deviations
from conformance.model.variants import PYTORCH, RESET_BEFORE, CellVariant

BASE_NAMES: dict[CellVariant, str] = {
    PYTORCH: "the PyTorch GRU",
    RESET_BEFORE: "the reset-before variant (d2l, Keras reset_after=False, ONNX linear_before_reset=0)",
}
SHORT_NAMES: dict[CellVariant, str] = {PYTORCH: "the PyTorch GRU", RESET_BEFORE: "the reset-before variant"}


def nearest_base(v: CellVariant, claimed: CellVariant) -> tuple[CellVariant, list[Deviation]]:
    """The named convention ``v`` is closest to (the claimed one on a tie) and the changes."""
    bases = [claimed] + [b for b in (PYTORCH, RESET_BEFORE) if b != claimed]
    scored = [(len(deviations(v, b)), i, b) for i, b in enumerate(bases)]
    _, _, base = min(scored)
    return base, deviations(v, base)


def describe_variant(v: CellVariant, claimed: CellVariant, *, long: bool = True) -> str:
    base, devs = nearest_base(v, claimed)
    name = (BASE_NAMES if long else SHORT_NAMES)[base]
    return name if not devs else f"{name} except that {join([d.text for d in devs])}"
