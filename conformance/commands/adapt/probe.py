"""Probing one implementation: ``python -m conformance.commands.adapt.probe SPEC [--arg NAME=VALUE ...]``.

Imports and builds the thing named by SPEC, finds its tensors and call forms, searches
for the mapping and the convention (``conformance.commands.adapt.search``), checks which
dtypes it computes in and whether gradients flow, and answers with the findings as one
JSON document on its standard output, which it keeps for that alone (what the
implementation prints goes to standard error). ``adapt`` runs it in the sandbox the
workers use; ``findings(spec, given)`` does the same in-process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np

from conformance.commands.adapt import construct
from conformance.commands.adapt.call_forms import Runner, entry_methods, try_forms
from conformance.commands.adapt.choose import Choice, choose, relabelled, trusted_names
from conformance.commands.adapt.roles import Role, candidates
from conformance.commands.adapt.search import (CONVENTIONS, Fit, Prober, Sizes, dense_draws, exact, missing_blocks,
                                               search, verify)
from conformance.commands.adapt.slots import Slot, Writer, find_slots, framework_of
from conformance.commands.adapt.stacking import Stack, probe_stack
from conformance.model.gru_like_adapter import TRIAL

#: The probe's sizes, those of the wrapping trial: I, H, 2H, 3H, I + H and B all differ, so
#: no role is mistaken for another.
SIZES = TRIAL
TOLERANCE = {"float64": 1e-7, "float32": 2e-4}


class ProbeError(Exception):
    """Nothing could be probed: the thing cannot be imported, built or called."""


def _import(spec: str) -> Any:
    from conformance.grading.loading import AdapterLoadError, resolve_object

    try:
        return resolve_object(spec)
    except AdapterLoadError as exc:
        raise ProbeError(str(exc)) from None


def _build(cls: Any, plan: construct.Constructor, dtype_name: str | None,
           config: dict[str, Any] | None = None) -> tuple[Any, bool]:
    """A fresh instance (torch: in ``dtype_name``, eval mode) at the probe's sizes and
    ``config``'s options, and whether its tensors were made by a first call."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        state = np.random.get_state()
        np.random.seed(0)
        try:
            obj = plan.build(cls, {**SIZES, "num_layers": 1, "bidirectional": False, "batch_first": False,
                                   **(config or {})})
            made = False
            if framework_of(obj) == "torch" and dtype_name:
                dtype = getattr(torch, dtype_name)
                obj = obj.to(dtype).eval()
                made = _materialize(obj, dtype)
                obj = obj.to(dtype)
        finally:
            np.random.set_state(state)
    return obj, made


def _unmade(obj: Any) -> bool:
    """Its tensors are not there yet: lazy parameters, or none at all (made by forward)."""
    from torch.nn.parameter import is_lazy

    parameters = list(obj.parameters())
    return not parameters or any(is_lazy(p) for p in parameters)


def _materialize(obj: Any, dtype: Any) -> bool:
    """A thing that makes its tensors on its first call (lazy modules, or weights sized from
    the input in forward, Keras style) gets that call, on zeros, in the first form it takes."""
    import torch

    if not _unmade(obj):
        return False
    steps, batch, inputs, hidden = (SIZES[k] for k in ("steps", "batch", "input_size", "hidden_size"))
    x3, x2, h2 = (torch.zeros(*shape, dtype=dtype) for shape in ((steps, batch, inputs), (batch, inputs),
                                                                   (batch, hidden)))
    for args in ((x3,), (x2, h2), (x3.transpose(0, 1),), (x3, h2[None]), (x2[0], h2[0])):
        try:
            with torch.no_grad():
                obj(*args)
        except Exception:  # noqa: BLE001 - not its form: the next one
            continue
        if not _unmade(obj):
            return True
    return False


def _numpy_dtype(slots: list[Slot]) -> Any:
    kinds = {np.asarray(s.ref).dtype for s in slots}
    return np.float32 if kinds == {np.dtype(np.float32)} else np.float64


class Session:
    """One probing run: the class, how to build it, and what was found."""

    def __init__(self, spec: str, given: dict[str, str]) -> None:
        self.spec = spec
        self.cls = _import(spec)
        if not isinstance(self.cls, type):
            raise ProbeError(f"{spec} is a {type(self.cls).__name__}, not a class: adapt builds a fresh instance for "
                             f"every configuration, so it needs the class")
        from conformance.model.gru_like_adapter import NotGRULike, detect, is_adapter

        if is_adapter(self.cls):
            raise ProbeError(f"{spec} is already an adapter: grade it with python -m conformance grade {spec}")
        self.plan = construct.plan(self.cls, given)
        self.notes: list[str] = []
        self.undetermined: list[str] = []
        #: Its tensors were made by a first call (the adapter's build makes that call too).
        self.materialized = False
        try:
            found = detect(self.cls, spec)
        except NotGRULike:
            pass
        else:
            imitated = "nn.GRU" if found.kind == "layer" else "nn.GRUCell"
            self.notes.append(f"it is {imitated}-like: python -m conformance grade {spec} grades it without an "
                              f"adapter, claiming everything {imitated} does")

    def instance(self, dtype_name: str | None, config: dict[str, Any] | None = None,
                 ) -> tuple[Any, list[Slot], Runner, str]:
        """A fresh instance (torch: in ``dtype_name``), its tensors and a runner."""
        plan = self.plan.configured(tuple(k for k in config if k in self.plan.options)) if config else self.plan
        try:
            obj, made = _build(self.cls, plan, dtype_name, config)
        except Exception as exc:  # noqa: BLE001
            sizes = f"hidden_size={SIZES['hidden_size']}" if self.plan.infers_input else \
                f"input_size={SIZES['input_size']}, hidden_size={SIZES['hidden_size']}"
            raise ProbeError(f"building {self.plan.code(self.cls.__name__, 'sizes')} with {sizes} raised "
                             f"{type(exc).__name__}: {exc}") from None
        self.materialized = self.materialized or made
        framework = framework_of(obj)
        try:
            slots = find_slots(obj)
        except ValueError as exc:
            raise ProbeError(str(exc)) from None
        if framework == "torch":
            import torch

            dtype: Any = getattr(torch, dtype_name or "float32")
            name = dtype_name or "float32"
        else:
            dtype = _numpy_dtype(slots)
            name = np.dtype(dtype).name
        return obj, slots, Runner(obj, framework, dtype, SIZES["hidden_size"]), name

    # The whole run ---------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        start = time.perf_counter()
        obj, slots, runner, dtype_name = self.instance("float64")
        framework = runner.framework
        if not slots:
            raise ProbeError(f"{self.cls.__name__} has no parameters adapt can find: "
                             + ("no nn.Parameter" if framework == "torch" else
                                "no float NumPy array among its attributes, in a dict attribute or a list attribute"))
        methods = entry_methods(obj, framework)
        trial = try_forms(runner, methods, SIZES)
        if not trial.forms and framework == "torch":
            # Some modules only run in float32 (they make float32 tensors of their own).
            obj, slots, runner, dtype_name = self.instance("float32")
            float32_trial = try_forms(runner, methods, SIZES)
            if float32_trial.forms:
                trial = float32_trial
                self.notes.append("it does not run in float64 (probed in float32)")
        if not trial.forms:
            tried = "; ".join(trial.errors[:12]) or "no callable found"
            raise ProbeError(f"no call form of {self.cls.__name__} gives a GRU's output. Tried cells (x, h) on a "
                             f"batch and on one sample, and layers on time-major and batch-first batches: {tried}")
        if self.plan.infers_input:
            self.notes.append("its constructor takes no input size: it reads it from its first input"
                              + (" (the adapter's build makes that first call)" if self.materialized else ""))
        tolerance = TOLERANCE.get(dtype_name, 2e-4)
        sizes = Sizes(SIZES["input_size"], SIZES["hidden_size"], SIZES["batch"])
        writer = Writer(slots)
        prober = Prober(runner, writer, slots, sizes, tolerance)
        fits: list[Fit] = []
        searches = []
        form_rank = {form: n for n, form in enumerate(trial.forms)}
        for form in trial.forms:
            result = search(prober, form)
            searches.append(result)
            fits += result.fits
            if any(exact(f, tolerance) for f in result.fits):
                break
        options = {i: list(roles) for s in searches for i, roles in s.survivors.items()}
        shape_options = {i: candidates(s.shape, sizes.input_size, sizes.hidden_size) for i, s in enumerate(slots)}
        trusted = trusted_names(slots, shape_options)
        choice = choose(fits, slots, trusted, tolerance, form_rank)
        if choice is None:
            unmatched = [f"{s.name} {s.shape}" for i, s in enumerate(slots) if not options.get(i)]
            raise ProbeError(
                f"none of {self.cls.__name__}'s tensors can hold a GRU weight block (called as "
                f"{trial.forms[0].describe()}); tensors no GRU role fits: {', '.join(unmatched) or 'none'}")
        if choice.conflicts:
            choice = self._follow_names(choice, prober, trusted)
        elif choice.exact:
            # How sure the convention is: the same mapping in the other three conventions.
            others = [c for c in CONVENTIONS if c != (choice.fit.reset, choice.fit.update)]
            rivals = verify(prober, choice.fit.form, choice.fit.roles, others,
                            dense_draws(prober, choice.fit.form, np.random.default_rng(12)), 0)
            choice.runner_up = min(rivals, key=lambda f: f.error)
        writer.restore()
        fit = choice.fit
        dtypes = self._dtypes(fit, framework, dtype_name)
        autograd = self._autograd(fit) if framework == "torch" else False
        self._undetermined(choice, slots, options, tolerance)
        stack = self._stack(fit, slots, framework, dtype_name, tolerance) if choice.exact else Stack()
        found = self._document(choice, slots, framework, dtype_name, tolerance, dtypes, autograd, trial, options)
        found["stack"] = stack.to_json()
        found["materialize"] = self.materialized
        self.notes += stack.notes
        found["probe"] = {"calls": prober.calls, "seconds": round(time.perf_counter() - start, 3),
                          "hypotheses": sum(s.hypotheses for s in searches),
                          "forms": [f.describe() for f in trial.forms]}
        return found

    def _follow_names(self, choice: Choice, prober: Prober, trusted: dict[int, str]) -> Choice:
        """The fit by behaviour contradicts the names: map by the names (the declared layout)."""
        roles = relabelled(choice.fit, trusted)
        if roles is None:
            self.notes.append("the names of some tensors declare other gates than they act as, and mapping by the "
                              "names would hold a block twice: the adapter maps by behaviour")
            return choice
        rng = np.random.default_rng(11)
        # The convention is the behaviour's: the swap is the finding, not another convention.
        convention = [(choice.fit.reset, choice.fit.update)]
        declared = verify(prober, choice.fit.form, roles, convention, dense_draws(prober, choice.fit.form, rng), 0)[0]
        return Choice(declared, exact(declared, prober.tolerance), conflicts=choice.conflicts,
                      behaviour=choice.fit, runner_up=choice.runner_up)

    def _stack(self, fit: Fit, slots: list[Slot], framework: str, dtype_name: str, tolerance: float) -> Stack:
        """Several layers, both directions and the other layout, where the constructor asks."""
        options = {k: v for k, v in self.plan.options.items() if k != "batch_first" or fit.form.kind == "layer"}
        if framework != "torch" or not options:
            return Stack()

        def build(**config: Any) -> Any:
            return self.instance(dtype_name, config)[0]

        def runner_of(obj: Any) -> Runner:
            import torch

            return Runner(obj, framework, getattr(torch, dtype_name), SIZES["hidden_size"])

        return probe_stack(build, slots, fit.form, fit.roles, fit.reset, fit.update, self.plan.options, SIZES,
                           tolerance, runner_of)

    def _load(self, slots: list[Slot], fit: Fit, params: Any) -> None:
        from conformance.model import layouts
        from conformance.base.conventions import complement_params

        loaded = complement_params(params) if fit.update == "complement" else params
        per_gate = layouts.per_gate(loaded)
        Writer(slots).write({i: r.value(loaded, per_gate, fit.reset) for i, r in fit.roles.items()}, set())

    def _dtypes(self, fit: Fit, framework: str, probed: str) -> list[str]:
        """The dtypes it runs in: a torch module is tried in float32 and float64 on a fresh
        instance loaded with the fitted mapping (whether its values are right there is the
        grading's business); a NumPy object computes in its arrays' dtype."""
        if framework != "torch":
            return [probed]
        from conformance.base.params import random_params

        params = random_params(np.random.default_rng(3), SIZES["input_size"], SIZES["hidden_size"], bias=fit.biases)
        if fit.needs_zero_b_hn:
            params = params.without_b_hn()
        rng = np.random.default_rng(4)
        x = rng.normal(size=(3, SIZES["batch"], SIZES["input_size"]))
        takes_h0 = fit.form.kind == "cell" or fit.form.h0 != "none"
        h0 = rng.uniform(-1, 1, (SIZES["batch"], SIZES["hidden_size"])) if takes_h0 else None
        claimed = []
        for name in ("float32", "float64"):
            try:
                _, slots, runner, _ = self.instance(name)
                self._load(slots, fit, params)
                output, h_n = runner.run(fit.form, x, h0)
            except Exception:  # noqa: BLE001 - a dtype it cannot run in is not claimed
                continue
            got = output if output is not None else h_n
            if got is not None and np.all(np.isfinite(got)):
                claimed.append(name)
        return claimed or [probed]

    def _autograd(self, fit: Fit) -> bool:
        """Gradients reach x (and h0) through a call in float64."""
        import torch

        try:
            obj, slots, runner, _ = self.instance("float64")
            fn = runner.function(fit.form)
            x = torch.randn(3, SIZES["batch"], SIZES["input_size"], dtype=torch.float64, requires_grad=True)
            if fit.form.kind == "cell":
                def step(x_t: Any, h: Any) -> Any:
                    returned = fn(x_t, h) if fit.form.order == "xh" else fn(h, x_t)
                    return returned if fit.form.state_index is None else returned[fit.form.state_index]

                h = torch.zeros(SIZES["batch"], SIZES["hidden_size"], dtype=torch.float64)
                for t in range(3):
                    h = (torch.stack([step(x[t, b], h[b]) for b in range(SIZES["batch"])]) if fit.form.unbatched
                         else step(x[t], h))
                total = h.sum()
            else:
                xs = x.transpose(0, 1) if fit.form.batch_first else x
                returned = fn(xs) if fit.form.h0 == "none" or fit.form.h0_optional else fn(
                    xs, torch.zeros((1,) * (fit.form.h0 == "3d") + (SIZES["batch"], SIZES["hidden_size"]),
                                    dtype=torch.float64))
                if isinstance(returned, (tuple, list)):
                    returned = returned[fit.form.out_index if fit.form.returns != "state" else fit.form.hn_index]
                total = returned.sum()
            total.backward()
            return x.grad is not None and bool(torch.isfinite(x.grad).all()) and bool(x.grad.abs().sum() > 0)
        except Exception:  # noqa: BLE001 - no gradient is no claim
            return False

    def _undetermined(self, choice: Choice, slots: list[Slot], options: dict[int, list[Role]],
                      tolerance: float) -> None:
        fit = choice.fit
        if choice.other_conventions:
            self.undetermined.append(
                "the convention: " + " and ".join(f"reset {r}, update {u}" for r, u in
                                                  [(fit.reset, fit.update)] + choice.other_conventions)
                + " fit equally well (the adapter claims the first)")
        if not choice.exact and not choice.conflicts:
            hint = (" (a folded candidate bias cannot hold b_hn in the reset-after GRU: it has no b_hn)"
                    if fit.needs_zero_b_hn else "")
            self.undetermined.append(
                f"an exact fit: no mapping and convention reproduce it (closest: reset {fit.reset}, update "
                f"{fit.update}, max error {fit.error:.3g} over 2 random cases{hint}). Either it computes something "
                f"other than a GRU in the four conventions (grading says where it departs), or its layout is one "
                f"adapt does not know")
        missing = missing_blocks(fit.roles)
        if missing:
            self.undetermined.append(
                f"a tensor for {', '.join(missing)}: none of its tensors can hold {'it' if len(missing) == 1 else 'them'} "
                f"beside the others (a block missing from its equations, or one tensor doing two blocks' work); "
                f"the closest adapter leaves {'it' if len(missing) == 1 else 'them'} out")
        unmapped = [slots[i].name for i in range(len(slots)) if i not in fit.roles]
        if unmapped:
            self.notes.append(f"left as built (no GRU role fits): {', '.join(unmapped)}")

    def _document(self, choice: Choice, slots: list[Slot], framework: str, dtype_name: str, tolerance: float,
                  dtypes: list[str], autograd: bool, trial: Any, options: dict[int, list[Role]]) -> dict[str, Any]:
        fit = choice.fit
        hidden_access = next((slots[i].access + f".shape[{axis}]" for i in sorted(fit.roles)
                              for axis, d in enumerate(slots[i].shape) if d == SIZES["hidden_size"]), None)
        behaviour = choice.behaviour.roles if choice.behaviour else {}
        return {
            "status": "ok",
            "spec": self.spec,
            "class_name": self.cls.__name__,
            "module": getattr(self.cls, "__module__", ""),
            "framework": framework,
            "probed_dtype": dtype_name,
            "constructor": self.plan.to_json(),
            "form": fit.form.to_json(),
            "form_text": fit.form.describe(),
            "reset": fit.reset,
            "update": fit.update,
            "biases": fit.biases,
            "exact": choice.exact,
            "error": fit.error if np.isfinite(fit.error) else None,
            "failure": fit.failure,
            "tolerance": tolerance,
            "needs_zero_b_hn": fit.needs_zero_b_hn,
            "equivalents": choice.equivalents,
            "runner_up": None if choice.runner_up is None else {
                "reset": choice.runner_up.reset, "update": choice.runner_up.update,
                "error": choice.runner_up.error if np.isfinite(choice.runner_up.error) else None},
            "slots": [{**s.to_json(),
                       "role": fit.roles[i].to_json() if i in fit.roles else None,
                       "expression": fit.roles[i].expression(fit.reset) if i in fit.roles else None,
                       "describe": fit.roles[i].describe() if i in fit.roles else None,
                       "behaviour": (behaviour[i].expression(fit.reset) if i in behaviour and
                                     behaviour[i] != fit.roles.get(i) else None),
                       "behaviour_describe": (behaviour[i].describe() if i in behaviour and
                                              behaviour[i] != fit.roles.get(i) else None)}
                      for i, s in enumerate(slots)],
            "conflicts": [{"slot": slots[i].name, "declared": d, "acts_as": a} for i, d, a in choice.conflicts],
            "missing_blocks": missing_blocks(fit.roles),
            "behaviour_exact": choice.behaviour is not None,
            "dtypes": dtypes,
            "autograd": autograd,
            "hidden_access": hidden_access,
            "undetermined": self.undetermined,
            "notes": self.notes,
        }


def findings(spec: str, given: dict[str, str] | None = None) -> dict[str, Any]:
    """Probe ``spec`` in this process: the findings, or why there are none
    (``{"status": "missing", ...}`` or ``{"status": "error", ...}``)."""
    try:
        session = Session(spec, dict(given or {}))
        return session.run()
    except construct.Missing as exc:
        return {"status": "missing", "spec": spec, "missing": [list(m) for m in exc.names]}
    except ProbeError as exc:
        return {"status": "error", "spec": spec, "message": str(exc)}


def main(argv: list[str] | None = None) -> int:
    # Keep standard output for the findings: what the implementation prints goes to stderr.
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    parser = argparse.ArgumentParser(prog="python -m conformance.commands.adapt.probe")
    parser.add_argument("spec")
    parser.add_argument("--arg", action="append", default=[])
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    try:
        given = construct.parse_given(args.arg)
    except ValueError as exc:
        result: dict[str, Any] = {"status": "error", "spec": args.spec, "message": str(exc)}
    else:
        result = findings(args.spec, given)
    sys.stdout.flush()
    channel.write(json.dumps(result))
    channel.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

