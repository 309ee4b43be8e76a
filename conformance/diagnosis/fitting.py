"""The fitting: which variant of the equations reproduces the main probe.

The search runs the variant oracles (``conformance.model.variants``) against the
observed states: first every formula, bias handling and gate order at once
(vectorized), then a few rounds of one-switch changes from the best fits (every
switch of ``conformance.diagnosis.switches``). When nothing fits, cheap
explanations come first (another output layout, float32 precision, permuted batch
rows); then the term probe (``conformance.diagnosis.terms``) says which parameter
blocks act, and the search starts again from the structure that evidence points
to. A variant "matches" when it is within the dtype's sequence tolerance.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from conformance.diagnosis.context import Context, Fit, Observation, errors, fmt
from conformance.diagnosis.variant_names import nearest_base
from conformance.diagnosis.switches import SWITCHES, Switch
from conformance.diagnosis.terms import probe_terms, seeds
from conformance.base.tolerances import Tolerance, tolerance
from conformance.model.variants import (
    FORMULAS,
    ORDERS,
    PYTORCH,
    RESET_BEFORE,
    CellBlocks,
    CellVariant,
    canonical,
    formula_states,
    variant_direction,
)

#: Bias factors the exhaustive pass covers (used, ignored); "twice" comes in the rounds.
EXHAUSTIVE_BIAS = (1, 0)
#: An observation to fit: (x, h0 (B, H), the blocks, the observed states (T, B, H)).
Target = tuple[np.ndarray, np.ndarray, CellBlocks, np.ndarray]


class CellSearch:
    """The variant oracles against observed single-layer, forward runs."""

    def __init__(self, observations: list[Target], tol: Tolerance, claimed: CellVariant) -> None:
        self.observations = observations
        self.tol = tol
        self.claimed = claimed
        self.pool: dict[CellVariant, Fit] = {}
        self._complexity: dict[CellVariant, int] = {}

    def evaluate(self, v: CellVariant) -> Fit:
        v = canonical(v)
        if v not in self.pool:
            error, excess = 0.0, -np.inf
            for x, h0, blocks, got in self.observations:
                e, x_ = errors(got, variant_direction(v, x, h0, blocks), self.tol)
                error, excess = max(error, float(e)), max(excess, float(x_))
            self.pool[v] = Fit(v, error, excess)
        return self.pool[v]

    def exhaustive(self) -> None:
        """Every formula and gate order (the same order for all tensors), with each bias vector
        used or ignored. Biases counted twice are one change from these, and the rounds of
        ``run`` try every one-switch change of the best fits: searching them here too would
        triple the cost of this, the search's largest part."""
        for order, f_ih, f_hh in itertools.product(ORDERS, EXHAUSTIVE_BIAS, EXHAUSTIVE_BIAS):
            fold = False
            base = CellVariant(bias_ih=f_ih, bias_hh=f_hh).with_order(order)
            errs = np.zeros(len(FORMULAS))
            excess = np.full(len(FORMULAS), -np.inf)
            for x, h0, blocks, got in self.observations:
                states = formula_states(base, x, h0, blocks)
                e, x_ = errors(got[None], states, self.tol, axes=(1, 2, 3))
                errs, excess = np.maximum(errs, e), np.maximum(excess, x_)
            for (reset, b_hn, update), e, x_ in zip(FORMULAS, errs, excess):
                v = canonical(CellVariant(reset, b_hn, update, order, order, order, order, f_ih, f_hh, fold))
                self.pool.setdefault(v, Fit(v, float(e), float(x_)))

    @staticmethod
    def neighbours(v: CellVariant) -> list[CellVariant]:
        """Variants one change away (gate orders also per tensor)."""
        return [u for switch in SWITCHES for u in switch.neighbours(v)]

    def complexity(self, v: CellVariant) -> int:
        if v not in self._complexity:
            self._complexity[v] = len(nearest_base(v, self.claimed)[1])
        return self._complexity[v]

    def key(self, fit: Fit) -> tuple[int, int, float]:
        return (0, self.complexity(fit.variant), fit.error) if fit.matches else (1, 0, fit.error)

    def best(self) -> Fit:
        return min(self.pool.values(), key=self.key)

    def run(self, rounds: int = 3, starts: list[CellVariant] | None = None) -> Fit:
        if not self.pool:
            self.exhaustive()
        extra = [self.evaluate(v).variant for v in starts or []]
        for _ in range(rounds):
            before = self.best()
            ranked = [f.variant for f in sorted(self.pool.values(), key=self.key)[:4]]
            for start in dict.fromkeys(ranked + extra + [self.claimed, PYTORCH, RESET_BEFORE]):
                for v in self.neighbours(start):
                    self.evaluate(v)
            extra = []
            if self.best().variant == before.variant:
                break
        return self.best()

    def switch_report(self, best: Fit, ctx: Context) -> dict[str, dict[str, Any]]:
        """For each searched switch: the value found, whether the probes determine it, and
        the nearest alternative's error (how far the next-best value is from fitting)."""
        v = best.variant
        report: dict[str, dict[str, Any]] = {}
        searched = [switch for switch in SWITCHES if switch.searched]
        values = {u: [switch.value(u) for switch in searched] for u in self.pool}
        for k, switch in enumerate(searched):
            mine = switch.value(v)
            others = [f for u, f in self.pool.items() if values[u][k] != mine]
            also = sorted({repr(switch.shown(switch.value(f.variant))) for f in others if f.matches})
            entry: dict[str, Any] = {
                "value": switch.shown(mine),
                "determined": best.matches and not also,
                "nearest_alternative_error": min((f.error for f in others), default=float("inf")),
            }
            if not best.matches:
                entry["note"] = "closest fit only: no variant reproduces the implementation"
            elif also:
                entry["also_fits"] = also
                entry["note"] = _undetermined_reason(switch, v, ctx)
            report[switch.name] = entry
        return report


def _undetermined_reason(switch: Switch, v: CellVariant, ctx: Context) -> str:
    name, probe = switch.name, ctx.probe
    if name == "reset" and probe.hidden_size == 1:
        return ("undetermined: with H = 1, r is one number per sample, so W_hn (r * h) = r * (W_hn h) "
                "and reset placement is invisible")
    if name == "b_hn" and v.bias_hh == 0:
        return "undetermined: bias_hh is ignored, so where b_hn would sit is invisible"
    if name == "b_hn" and probe.zero_b_hn:
        return "undetermined: b_hn is zero in the probe, so its position is invisible"
    if name == "gate_order" and v.bias_ih == 0:
        return "undetermined for bias_ih, which is ignored"
    return "undetermined: the probes give the same result for these values"


# The main fit ------------------------------------------------------------------------
def _target(obs: Observation, states: np.ndarray | None = None) -> Target:
    h0 = obs.h0[0] if obs.h0 is not None else np.zeros((obs.spec.batch, obs.spec.hidden_size))
    return obs.x, h0, CellBlocks.of(obs.params), obs.result.output if states is None else states


def fit_cell(ctx: Context) -> tuple[Fit, CellSearch]:
    """The best fit to the main observation, trying cheap explanations before the term probe."""
    obs = ctx.main
    assert obs is not None, "got no main observation, but the pipeline makes one before fitting"
    search = CellSearch([_target(obs)], ctx.tol, ctx.claimed)
    fit = search.run()
    if fit.matches:
        return fit, search
    x, h0, blocks, _ = _target(obs)
    closest = [f.variant for f in sorted(search.pool.values(), key=lambda f: f.error)[:5]]
    candidates = list(dict.fromkeys([ctx.claimed, PYTORCH, RESET_BEFORE] + closest))
    for name, output in output_readings(ctx, obs):
        if any(errors(output, variant_direction(v, x, h0, blocks), ctx.tol)[1] <= 0 for v in candidates):
            ctx.finding("layout", f"output is {name}")
            again = CellSearch([_target(obs, output)], ctx.tol, ctx.claimed)
            return again.run(), again
    coarser = precision_loss(ctx, search)
    if coarser is not None:
        return coarser
    permuted = _batch_permutation(ctx, obs, candidates)
    if permuted is not None:
        return permuted
    # Nothing cheap explains it: ask the implementation which parameter blocks it reads.
    evidence = ctx.guarded("term", probe_terms, ctx, obs)
    if evidence is not None:
        ctx.evidence = evidence
        orders = list(dict.fromkeys([ctx.claimed.order_w_ih] + [v.order_w_ih for v in closest[:2]]))
        starts = seeds(evidence["unused_blocks"], orders, ctx.claimed)
        starts += seeds(evidence["unused_blocks"], orders, RESET_BEFORE if ctx.claimed == PYTORCH else PYTORCH)
        fit = search.run(starts=starts)
    return fit, search


#: Arithmetic coarser than each dtype, finest first: what a precision loss is measured against.
COARSER = {"float64": ("float32", "float16", "bfloat16", "int8-dynamic"),
           "float32": ("float16", "bfloat16", "int8-dynamic"), "float16": ("bfloat16", "int8-dynamic"),
           "bfloat16": ("int8-dynamic",)}
#: A precision loss, not a change of the equations: the nearest fit errs this many times less
#: than any other variant (a wrong equation fits some variant exactly, or fits none closely).
PRECISION_GAP = 4.0
#: The coarser precisions in words, for the finding.
COARSER_WORDS = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16 (autocast left on, say)",
                 "int8-dynamic": "int8 quantization (torch.ao.nn.quantized.dynamic)"}


def precision_loss(ctx: Context, search: CellSearch) -> tuple[Fit, CellSearch] | None:
    """The equations fit, but only to a coarser precision than the dtype's: the nearest
    variant is far nearer than every other (noise, not structure) and within the tolerance
    of a coarser arithmetic. The fit is then made at that precision, and the finding says
    the size of the loss."""
    ranked = sorted(search.pool.values(), key=lambda f: f.error)
    best = ranked[0]
    # Variants that compute the same function on the probe (within rounding) are not rivals.
    rival = next((f.error for f in ranked[1:] if f.error > best.error * 1.5 + 1e-12), np.inf)
    if not np.isfinite(best.error) or rival < PRECISION_GAP * best.error:
        return None
    for name in COARSER.get(ctx.dtype, ()):
        relaxed = CellSearch(search.observations, tolerance("float32", "sequence", name) if name == "int8-dynamic"
                             else tolerance(name, "sequence"), ctx.claimed)
        fit = relaxed.run()
        if not fit.matches:
            continue
        step = tolerance("float32", "step", name) if name == "int8-dynamic" else tolerance(name, "step")
        ctx.tol, ctx.step_tol = relaxed.tol, step
        if ctx.dtype == "float64" and name == "float32":
            ctx.precision_label = "float32 precision"
            ctx.precision_note = (f"it matches only to float32 precision (max error {fmt(fit.error)} "
                                  "for float64 inputs): it computes in float32")
        else:
            own = tolerance(ctx.dtype, "sequence")
            bands = COARSER[ctx.dtype][COARSER[ctx.dtype].index(name):]
            ctx.precision_label = f"{ctx.dtype} inputs at a coarser precision"
            ctx.precision_note = (
                f"precision loss: its {ctx.dtype} results are off by up to {fmt(fit.error)} (mean "
                f"{fmt(mean_error(ctx, fit.variant))}), {fit.error / (own.atol + own.rtol):.0f} times what "
                f"{ctx.dtype} rounding allows ({fmt(own.atol + own.rtol)}), while the equations fit (every other "
                f"variant errs by {fmt(rival)} or more): it computes in a coarser precision, as "
                f"{' or '.join(COARSER_WORDS[b] for b in bands)} would")
            if ctx.dtype == "float32" and "int8-dynamic" in bands:
                ctx.precision_note += ('; a quantized GRU can claim it: Capabilities(precision="int8-dynamic") '
                                       "grades it against that precision's measured tolerances")
        ctx.finding("precision", ctx.precision_note)
        return fit, relaxed
    return None


def output_readings(ctx: Context, obs: Observation) -> list[tuple[str, np.ndarray]]:
    """The raw output read in another layout than claimed (same numbers, other axes)."""
    if ctx.subject.is_cell:
        return []
    raw = obs.result.returned.output.values
    spec = obs.spec
    width = spec.num_directions * spec.hidden_size
    if raw is None or raw.size != spec.steps * spec.batch * width:
        return []
    if spec.batch_first:
        return [("returned time-major (T, B, D*H) although batch_first is set",
                 raw.reshape(spec.steps, spec.batch, width))]
    return [("returned batch-major (B, T, D*H) although the input is time-major",
             raw.reshape(spec.batch, spec.steps, width).transpose(1, 0, 2))]


def _batch_permutation(ctx: Context, obs: Observation, candidates: list[CellVariant]) -> tuple[Fit, CellSearch] | None:
    """Rows of the batch returned in another order: find the order, then fit again."""
    x, h0, blocks, got = _target(obs)
    for v in candidates:
        want = variant_direction(v, x, h0, blocks)
        for perm in itertools.permutations(range(obs.spec.batch)):
            if list(perm) == list(range(obs.spec.batch)):
                continue
            # Row b of the output holds sample perm[b].
            if errors(got, want[:, list(perm)], ctx.tol)[1] <= 0:
                text = ("batch rows come back permuted: output row b holds sample "
                        + ", ".join(f"{b}->{p}" for b, p in enumerate(perm)))
                if list(perm) == list(np.argsort(-np.abs(obs.x).sum(axis=(0, 2)), kind="stable")):
                    text += " (sorted by sum |x|, largest first, and never put back)"
                ctx.finding("batch", text)
                ctx.rows_permuted = True
                unpermuted = np.empty_like(got)
                unpermuted[:, list(perm)] = got
                again = CellSearch([_target(obs, unpermuted)], ctx.tol, ctx.claimed)
                return again.run(), again
    return None


# When nothing fits -----------------------------------------------------------------------
#: A known convention "nearly" explains an implementation it does not match when its mean
#: error is at most this fraction of the claimed convention's: it accounts for nine tenths
#: of the departure. Anything less is a guess, and the diagnosis says "unidentified".
NEARLY = 0.1


def mean_error(ctx: Context, v: CellVariant) -> float:
    obs = ctx.main
    assert obs is not None
    x, h0, blocks, got = _target(obs)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(variant_direction(v, x, h0, blocks) - got)
    return float(np.nan_to_num(diff, nan=np.inf).mean())


def closest(ctx: Context, search: CellSearch) -> tuple[CellVariant, float, float] | None:
    """When nothing fits: the known convention with at most one change (a free combination
    of many changes fits noise and says nothing) whose output is nearest on average, with
    its mean error and the claimed convention's (None when the search has no such variant).
    Whether it may be named is ``nearly_explains``."""
    simple = [v for v in search.pool if search.complexity(v) <= 1]
    if not simple:
        return None
    best_error, _, best = min((mean_error(ctx, v), i, v) for i, v in enumerate(simple))
    return best, best_error, mean_error(ctx, ctx.claimed)


def nearly_explains(near: tuple[CellVariant, float, float] | None) -> bool:
    return near is not None and near[1] <= NEARLY * near[2]


def first_error(ctx: Context, v: CellVariant) -> str:
    """"error E at step t": where variant v first departs from the main probe's output."""
    obs = ctx.main
    assert obs is not None
    x, h0, blocks, got = _target(obs)
    want = variant_direction(v, x, h0, blocks)
    for t in range(obs.spec.steps):
        error, excess = errors(got[t], want[t], ctx.tol)
        if excess > 0:
            return f"error {fmt(float(error))} at step {t}"
    return f"max error {fmt(float(errors(got, want, ctx.tol)[0]))}"
