"""Finding the mapping: which role each tensor has, and which convention the whole computes.

1. **Sparse probes.** Every tensor is zeroed but one, which gets the values of a candidate
   role (random per gate block); the output is compared with the oracle's for canonical
   parameters holding only those blocks, in each of the four conventions. A role that
   disagrees in every convention is dropped. With everything else zero some blocks have no
   effect (the reset gate acts only through n's recurrent term, nothing acts on a state that
   stays zero), so identified tensors become the background of the next round, which makes
   them act: a few rounds identify every block that acts at all.
2. **Hypotheses.** The survivors are combined so that every canonical block is held exactly
   once (biases: all or none; a folded bias holds b_i and b_h).
3. **Dense verification.** Each hypothesis is loaded with whole random canonical parameters
   (random per gate, non-zero b_hn, H != I, B = 4, T = 3) in each convention and compared
   with the oracle. An error below the tolerance is an exact fit.

When nothing fits exactly, the bias roles are widened (b_i, b_h or folded, whatever the
sparse probes said) and the closest hypothesis is the one with the smallest error: a
GRU with a bug has a layout, only its function departs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.commands.adapt.call_forms import CallForm, Runner
from conformance.commands.adapt.roles import BIAS_BLOCKS, GATES, WEIGHT_BLOCKS, Role, candidates
from conformance.commands.adapt.slots import Slot, Writer

CONVENTIONS = (("after", "pytorch"), ("before", "pytorch"), ("after", "complement"), ("before", "complement"))
#: Hypotheses enumerated at most (a guard: real layouts give a handful).
MAX_HYPOTHESES = 4000
#: Nearest hypotheses verified at most when nothing fits (each costs 16 calls).
NEAREST_HYPOTHESES = 200
ROUNDS = 4


@dataclass
class Sizes:
    input_size: int
    hidden_size: int
    batch: int = 4


@dataclass
class Fit:
    """One hypothesis in one convention, and how well it reproduces the implementation."""

    form: CallForm
    roles: dict[int, Role]
    reset: str
    update: str
    error: float
    #: The hypothesis holds no b_hn (a folded candidate bias in the reset-after GRU): it was
    #: measured with b_hn = 0, so it cannot be exact.
    needs_zero_b_hn: bool = False
    failure: str = ""
    #: The error with every bias zero: how well the weights alone fit. A bug in a bias
    #: (b_hn outside the reset product) leaves it at zero, so it ranks close fits.
    weights_error: float = 0.0
    #: Tie-breaking penalties: names that say another gate, modules whose weight and bias
    #: disagree, bias sides the names contradict.
    name_conflicts: int = 0
    penalty: int = 0
    order: int = 0

    @property
    def biases(self) -> bool:
        return any(r.kind != "weight" for r in self.roles.values())


@dataclass
class Search:
    """Everything one call form's search found."""

    form: CallForm
    survivors: dict[int, dict[Role, set[tuple[str, str]]]]
    fits: list[Fit] = field(default_factory=list)
    hypotheses: int = 0
    widened: bool = False


def block_arrays(names: Any, sizes: Sizes, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random values for gate blocks (each block its own draw)."""
    out = {}
    for name in names:
        cols = sizes.input_size if name.startswith("W_i") else sizes.hidden_size
        shape = (sizes.hidden_size, cols) if name.startswith("W") else (sizes.hidden_size,)
        out[name] = rng.normal(0.0, 0.8, shape)
    return out


def canonical(blocks: dict[str, np.ndarray], sizes: Sizes, bias: bool = True) -> Any:
    """Canonical parameters holding ``blocks`` and zeros elsewhere."""
    from conformance.base.params import CanonicalParams

    hidden, inputs = sizes.hidden_size, sizes.input_size
    arrays = {}
    for kind, prefix, cols in (("weight_ih", "W_i", inputs), ("weight_hh", "W_h", hidden),
                               ("bias_ih", "b_i", None), ("bias_hh", "b_h", None)):
        if cols is None and not bias:
            continue
        full = np.zeros((3 * hidden, cols) if cols else (3 * hidden,))
        for k, g in enumerate(GATES):
            if f"{prefix}{g}" in blocks:
                full[k * hidden:(k + 1) * hidden] = blocks[f"{prefix}{g}"]
        arrays[f"{kind}_l0"] = full
    return CanonicalParams(arrays, input_size=inputs, hidden_size=hidden, bias=bias)


class Prober:
    """Loads values into the implementation's tensors and runs it in one call form."""

    def __init__(self, runner: Runner, writer: Writer, slots: list[Slot], sizes: Sizes, tolerance: float) -> None:
        self.runner = runner
        self.writer = writer
        self.slots = slots
        self.sizes = sizes
        self.tolerance = tolerance
        self.known = {i for i, s in enumerate(slots) if candidates(s.shape, sizes.input_size, sizes.hidden_size)}
        self.calls = 0

    def values(self, roles: dict[int, Role], params: Any, reset: str, update: str) -> tuple[dict[int, np.ndarray], Any]:
        """The tensors' values for ``params`` in a convention, and the parameters they stand
        for (b_hn dropped when a folded candidate bias cannot hold it)."""
        from conformance.model import layouts
        from conformance.base.conventions import complement_params

        for attempt in (params, params.without_b_hn()):
            loaded = complement_params(attempt) if update == "complement" else attempt
            per_gate = layouts.per_gate(loaded)
            try:
                return {i: role.value(loaded, per_gate, reset) for i, role in roles.items()}, attempt
            except layouts.LayoutError:
                continue
        raise AssertionError("b_hn = 0 always folds")  # pragma: no cover

    def error(self, form: CallForm, values: dict[int, np.ndarray], params: Any, reset: str, x: np.ndarray,
              h0: np.ndarray | None) -> tuple[float, str]:
        """Max |implementation - oracle| over what the form returns (inf and why, when it raises)."""
        from conformance.model.oracle import gru_forward

        self.writer.write(values, self.known)
        self.calls += 1
        try:
            output, h_n = self.runner.run(form, x, h0)
        except Exception as exc:  # noqa: BLE001 - a hypothesis that makes it raise is a poor fit
            return float("inf"), f"{type(exc).__name__}: {str(exc)[:200]}"
        want = gru_forward(x, params, None if h0 is None else h0[None], reset=reset)  # type: ignore[arg-type]
        errors = []
        for got, expected in ((output, want.output), (h_n, want.h_n[0])):
            if got is None:
                continue
            if got.shape != expected.shape:
                return float("inf"), f"returned shape {got.shape}, not {expected.shape}"
            errors.append(float(np.max(np.abs(got - expected))) if got.size else 0.0)
        if not errors:
            return float("inf"), "returned nothing readable"
        error = max(errors)
        return (error, "") if np.isfinite(error) else (float("inf"), "returned NaN or inf")

    def inputs(self, form: CallForm, steps: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        x = rng.normal(0.0, 1.0, (steps, self.sizes.batch, self.sizes.input_size))
        takes_h0 = form.kind == "cell" or form.h0 != "none"
        h0 = rng.uniform(-1.0, 1.0, (self.sizes.batch, self.sizes.hidden_size)) if takes_h0 else None
        return x, h0


# 1. Sparse probes ---------------------------------------------------------------------------
def identify(prober: Prober, form: CallForm, rng: np.random.Generator,
             scores: dict[int, dict[Role, float]] | None = None) -> dict[int, dict[Role, set[tuple[str, str]]]]:
    """The roles each tensor can have, with the conventions each fits in; ``scores`` gets
    every role's smallest error in its last round (for the nearest fit when none is left)."""
    scores = {} if scores is None else scores
    sizes = prober.sizes
    survivors = {i: {role: set(CONVENTIONS) for role in candidates(prober.slots[i].shape, sizes.input_size,
                                                                      sizes.hidden_size)}
                 for i in sorted(prober.known)}
    background: dict[int, Role] = {}
    x, h0 = prober.inputs(form, 2, rng)
    for _ in range(ROUNDS):
        taken = frozenset().union(*(r.blocks() for r in background.values())) if background else frozenset()
        backdrop = block_arrays(sorted(taken), sizes, rng)
        changed = False
        for i, roles in survivors.items():
            if i in background:
                continue
            for role in list(roles):
                if role.blocks() & taken:
                    del roles[role]  # those blocks are held by an identified tensor
                    changed = True
                    continue
                params = canonical({**backdrop, **block_arrays(sorted(role.blocks()), sizes, rng)}, sizes)
                smallest = float("inf")
                for reset, update in list(roles[role]):
                    values, used = prober.values({**background, i: role}, params, reset, update)
                    error, _ = prober.error(form, values, used, reset, x, h0)
                    smallest = min(smallest, error)
                    if not error <= prober.tolerance:
                        roles[role].discard((reset, update))
                scores.setdefault(i, {})[role] = smallest
                if not roles[role]:
                    del roles[role]
                    changed = True
        identified = {i: next(iter(roles)) for i, roles in survivors.items() if len(roles) == 1 and i not in background}
        if not identified and not changed:
            break
        background.update(identified)
    return survivors


# 2. Hypotheses ------------------------------------------------------------------------------
def hypotheses(options: dict[int, list[Role]], allowed: Any = None, limit: int = MAX_HYPOTHESES,
               ) -> list[dict[int, Role]]:
    """Assignments of one role per tensor holding no block twice, every weight block, and
    every bias block or none (tensors without options are left as they were built);
    ``allowed(chosen, i, role)`` can refuse a role given those chosen before it."""
    order = sorted((i for i in options if options[i]), key=lambda i: (len(options[i]), i))
    found: list[dict[int, Role]] = []

    def extend(k: int, held: frozenset[str], chosen: dict[int, Role]) -> None:
        if len(found) >= limit:
            return
        if k == len(order):
            biases = held & set(BIAS_BLOCKS)
            if set(WEIGHT_BLOCKS) <= held and (not biases or set(BIAS_BLOCKS) <= held):
                found.append(dict(sorted(chosen.items())))
            return
        i = order[k]
        for role in options[i]:
            blocks = role.blocks()
            if blocks & held or (allowed is not None and not allowed(chosen, i, role)):
                continue
            chosen[i] = role
            extend(k + 1, held | blocks, chosen)
            del chosen[i]

    extend(0, frozenset(), {})
    return found


def partial_hypotheses(options: dict[int, list[Role]], allowed: Any, limit: int = NEAREST_HYPOTHESES // 4,
                       budget: int = 20000) -> list[dict[int, Role]]:
    """When no assignment holds every gate block (a GRU with a block missing, or a tensor
    doing two blocks' work): assignments holding no block twice, with as many weight blocks
    as any, then as many of its tensors mapped, then bias blocks; a tensor is left out where
    no role of its fits. The closest adapter is one of these, with a TODO for the blocks no
    tensor holds."""
    order = sorted((i for i in options if options[i]), key=lambda i: (len(options[i]), i))
    scored: list[tuple[tuple[int, int, int], dict[int, Role]]] = []
    visits = 0

    def extend(k: int, held: frozenset[str], chosen: dict[int, Role]) -> None:
        nonlocal visits
        visits += 1
        if visits > budget:
            return
        if k == len(order):
            coverage = (len(held & set(WEIGHT_BLOCKS)), len(chosen), len(held & set(BIAS_BLOCKS)))
            if coverage[0]:
                scored.append((coverage, dict(sorted(chosen.items()))))
            return
        i = order[k]
        for role in options[i]:
            if role.blocks() & held or (allowed is not None and not allowed(chosen, i, role)):
                continue
            chosen[i] = role
            extend(k + 1, held | role.blocks(), chosen)
            del chosen[i]
        extend(k + 1, held, chosen)  # this tensor left as built

    extend(0, frozenset(), {})
    best = max((c for c, _ in scored), default=None)
    return [h for c, h in scored if c == best][:limit]


def missing_blocks(roles: dict[int, Role]) -> list[str]:
    """Gate blocks no tensor holds (biases only when some tensor holds one)."""
    held = frozenset().union(*(r.blocks() for r in roles.values())) if roles else frozenset()
    wanted = list(WEIGHT_BLOCKS) + (list(BIAS_BLOCKS) if held & set(BIAS_BLOCKS) else [])
    return [b for b in wanted if b not in held]


def nearest(options: dict[int, list[Role]], scores: dict[int, dict[Role, float]]) -> dict[int, list[Role]]:
    """For tensors the sparse probes left no role, every role their shape allows, the ones
    that came closest first: an implementation that computes no GRU exactly still has a
    layout, and the nearest one is the adapter to grade it with."""
    out = dict(options)
    for i, errors in scores.items():
        if not options.get(i):
            out[i] = [role for role, _ in sorted(errors.items(), key=lambda item: item[1])]
    return out


def usual_layout(slots: list[Slot]) -> Any:
    """What a layout usually is, as a constraint on the nearest hypotheses: one gate order
    for every tensor holding all three gates, and a module's weight and bias on one gate."""

    def allowed(chosen: dict[int, Role], i: int, role: Role) -> bool:
        for j, other in chosen.items():
            if len(role.gates) == 3 and len(other.gates) == 3 and role.gates != other.gates:
                return False
            if slots[i].owner and slots[i].owner == slots[j].owner and role.gates != other.gates:
                return False
        return True

    return allowed


def widened(options: dict[int, list[Role]], slots: list[Slot], sizes: Sizes) -> dict[int, list[Role]]:
    """Bias roles with every source (b_i, b_h, folded) beside those that survived: a bug
    in where a bias acts makes the sparse probes drop the role the layout has."""
    out = {}
    for i, roles in options.items():
        extra = [c for c in candidates(slots[i].shape, sizes.input_size, sizes.hidden_size)
                 if c.kind == "bias" and any(r.kind == "bias" and r.gates == c.gates and
                                             r.arrangement == c.arrangement for r in roles)]
        out[i] = list(dict.fromkeys(roles + extra))
    return out


# 3. Dense verification ----------------------------------------------------------------------
def verify(prober: Prober, form: CallForm, hypothesis: dict[int, Role], conventions: Any, draws: list[Any],
           order: int) -> list[Fit]:
    fits = []
    for reset, update in conventions:
        worst, weights_worst, failure, zeroed = 0.0, 0.0, "", False
        for params, x, h0 in draws:
            unbiased = params.replace({k: np.zeros_like(v) for k, v in params.items() if k.startswith("bias")})
            if not any(r.kind != "weight" for r in hypothesis.values()):
                params = unbiased
            values, used = prober.values(hypothesis, params, reset, update)
            zeroed = zeroed or used is not params
            error, why = prober.error(form, values, used, reset, x, h0)
            if error > worst or why:
                worst, failure = max(worst, error), why or failure
            values, used = prober.values(hypothesis, unbiased, reset, update)
            weights_worst = max(weights_worst, prober.error(form, values, used, reset, x, h0)[0])
        fits.append(Fit(form, hypothesis, reset, update, worst, zeroed, failure, weights_error=weights_worst,
                        order=order))
    return fits


def dense_draws(prober: Prober, form: CallForm, rng: np.random.Generator, count: int = 2) -> list[Any]:
    from conformance.base.params import random_params

    draws = []
    for _ in range(count):
        params = random_params(rng, prober.sizes.input_size, prober.sizes.hidden_size, scale=2.0)
        x, h0 = prober.inputs(form, 3, rng)
        draws.append((params, x, h0))
    return draws


def search(prober: Prober, form: CallForm, seed: int = 0) -> Search:
    rng = np.random.default_rng(seed)
    scores: dict[int, dict[Role, float]] = {}
    survivors = identify(prober, form, rng, scores)
    result = Search(form, survivors)
    draws = dense_draws(prober, form, rng)
    strict = {i: list(roles) for i, roles in survivors.items()}
    tried: set[tuple[tuple[int, Role], ...]] = set()
    # Strictly what the sparse probes left; then every bias source; then, for tensors left
    # with no role, the nearest roles.
    stages = [strict, widened(strict, prober.slots, prober.sizes),
              widened(nearest(strict, scores), prober.slots, prober.sizes)]
    for stage, options in enumerate(stages):
        if stage and options == stages[stage - 1]:
            continue
        result.widened = stage > 0
        widen = stage > 0
        found = hypotheses(options) if stage < 2 else hypotheses(options, usual_layout(prober.slots),
                                                                 limit=NEAREST_HYPOTHESES)
        for n, hypothesis in enumerate(found):
            key = tuple(sorted(hypothesis.items(), key=lambda item: item[0]))
            if key in tried:
                continue
            tried.add(key)
            # The conventions the sparse probes left open first; all four when widened.
            open_ = set(CONVENTIONS)
            for i, role in hypothesis.items():
                open_ &= survivors.get(i, {}).get(role, set(CONVENTIONS))
            conventions = CONVENTIONS if widen or not open_ else [c for c in CONVENTIONS if c in open_]
            result.fits += verify(prober, form, hypothesis, conventions, draws, order=n)
        result.hypotheses = len(tried)
        if any(exact(f, prober.tolerance) for f in result.fits):
            break
    if not result.fits:
        # No assignment holds every block: the closest ones that hold as many as any.
        options = widened(nearest(strict, scores), prober.slots, prober.sizes)
        for n, hypothesis in enumerate(partial_hypotheses(options, usual_layout(prober.slots))):
            result.fits += verify(prober, form, hypothesis, CONVENTIONS, draws, order=n)
        result.widened = True
    prober.writer.restore()
    return result


def exact(fit: Fit, tolerance: float) -> bool:
    return fit.error <= tolerance and not fit.needs_zero_b_hn
