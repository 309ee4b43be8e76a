"""How an implementation is called: its call forms, found by trial calls, and a runner
that gives every form the same time-major float64 interface.

A form is a cell (``f(x, h) -> h'``, or ``f(h, x)``; h' alone or inside a tuple; a batch
(B, I) or, when it takes no batch, one sample x (I,) and h (H,)) or a layer (``f(x)`` or
``f(x, h0)`` with h0 as (1, B, H) or (B, H); time-major or batch-first; returning
(output, h_n), the output only or the final state only). Trial calls keep the forms whose
shapes fit; which of those is right (batch-first or time-major when nothing else tells) is
decided by values, in ``conformance.commands.adapt.search``.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Methods tried, in order, on an object that is not callable (NumPy classes often have one).
METHODS = ("forward", "step", "cell", "call", "run")


@dataclass(frozen=True)
class CallForm:
    kind: str  # "cell" or "layer"
    method: str = "__call__"
    #: A cell's argument order: "xh" (x first) or "hx".
    order: str = "xh"
    #: Where h' is in a cell's returned tuple (None: h' is what it returns).
    state_index: int | None = None
    #: A layer's initial state: "none" (no h0 argument), "3d" (1, B, H) or "2d" (B, H).
    h0: str = "none"
    batch_first: bool = False
    #: What a layer returns: "both", "output" or "state".
    returns: str = "both"
    #: Where output and h_n are in a returned tuple (None: the value itself).
    out_index: int | None = None
    hn_index: int | None = None
    #: h_n returned as (1, B, H) rather than (B, H).
    hn_3d: bool = True
    #: The layer also runs without h0 (its h0 argument is optional).
    h0_optional: bool = False
    #: A cell that takes one sample at a time: x (I,) and h (H,) -> h' (H,).
    unbatched: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CallForm":
        return cls(**data)

    def describe(self) -> str:
        call = "" if self.method == "__call__" else f".{self.method}"
        if self.kind == "cell":
            args = "x, h" if self.order == "xh" else "h, x"
            out = "h'" if self.state_index is None else f"a tuple with h' at [{self.state_index}]"
            shapes = "one sample: x (I,), h (H,)" if self.unbatched else "x (B, I), h (B, H)"
            return f"a cell: instance{call}({args}) -> {out}, {shapes}"
        layout = "(B, T, I) batch-first" if self.batch_first else "(T, B, I) time-major"
        h0 = {"none": "", "3d": ", h0 (1, B, H)", "2d": ", h0 (B, H)"}[self.h0]
        if self.returns == "both":
            out = "(output, h_n)" if (self.out_index, self.hn_index) == (0, 1) else \
                f"a tuple with output at [{self.out_index}] and h_n at [{self.hn_index}]"
        else:
            what = "output" if self.returns == "output" else "h_n"
            out = f"{what} only" if (self.out_index if self.returns == "output" else self.hn_index) is None else \
                f"{what} only, at [{self.out_index if self.returns == 'output' else self.hn_index}] of a tuple"
        if self.returns != "output":
            out += " with h_n as " + ("(1, B, H)" if self.hn_3d else "(B, H)")
        return f"a layer: instance{call}(x{h0}) with x {layout} -> {out}"


class Runner:
    """Calls an instance in a form: float64 time-major arrays in, float64 arrays out."""

    def __init__(self, obj: Any, framework: str, dtype: Any, hidden_size: int) -> None:
        self.obj = obj
        self.framework = framework
        self.dtype = dtype
        self.hidden_size = hidden_size

    def array(self, values: np.ndarray) -> Any:
        if self.framework == "torch":
            import torch

            return torch.tensor(np.ascontiguousarray(values), dtype=self.dtype)
        return np.ascontiguousarray(values, dtype=self.dtype)

    @staticmethod
    def numpy(value: Any) -> np.ndarray | None:
        if isinstance(value, np.ndarray):
            return value.astype(np.float64)
        try:
            import torch
        except ImportError:  # pragma: no cover
            return None
        if isinstance(value, torch.Tensor):
            return value.detach().to("cpu").double().numpy()
        return None

    def function(self, form: CallForm) -> Any:
        return self.obj if form.method == "__call__" else getattr(self.obj, form.method)

    def run(self, form: CallForm, x: np.ndarray, h0: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """x (T, B, I), h0 (B, H) or None -> (output (T, B, H) or None, h_n (B, H) or None)."""
        if form.kind == "cell":
            return self._cell(form, x, h0)
        output, h_n = self.run_stack(form, x, None if h0 is None else h0[None])
        return output, None if h_n is None else h_n[0]

    def _cell(self, form: CallForm, x: np.ndarray, h0: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        fn = self.function(form)
        steps, batch = x.shape[0], x.shape[1]

        def step(x_t: Any, h: Any) -> Any:
            returned = fn(x_t, h) if form.order == "xh" else fn(h, x_t)
            return returned if form.state_index is None else returned[form.state_index]

        h = self.array(h0 if h0 is not None else np.zeros((batch, self.hidden_size)))
        outs = []
        for t in range(steps):
            if form.unbatched:  # one sample at a time
                rows = [step(self.array(x[t, b]), h[b]) for b in range(batch)]
                h = self.array(np.stack([self.numpy(r) for r in rows]))
            else:
                h = step(self.array(x[t]), h)
            outs.append(self.numpy(h))
        return np.stack(outs), outs[-1]

    def run_stack(self, form: CallForm, x: np.ndarray, h0: np.ndarray | None,
                  ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """A layer form with any number of layers and directions: x (T, B, I), h0 (L*D, B, H)
        or None -> (output (T, B, D*H) or None, h_n (L*D, B, H) or None)."""
        fn = self.function(form)
        batch = x.shape[1]
        xs = self.array(x.transpose(1, 0, 2) if form.batch_first else x)
        if form.h0 == "none" or h0 is None and form.h0_optional:
            returned = fn(xs)
        else:
            state = h0 if h0 is not None else np.zeros((1, batch, self.hidden_size))
            returned = fn(xs, self.array(state if form.h0 == "3d" else state[0]))
        output = h_n = None
        if form.returns in ("both", "output"):
            out = returned if form.out_index is None else returned[form.out_index]
            output = self.numpy(out)
            if output is not None and form.batch_first:
                output = output.transpose(1, 0, 2)
        if form.returns in ("both", "state"):
            hn = returned if form.hn_index is None else returned[form.hn_index]
            h_n = self.numpy(hn)
            if h_n is not None and not form.hn_3d:
                h_n = h_n[None]
        return output, h_n


def positional_arity(fn: Any) -> tuple[int, int]:
    """(required, accepted) positional arguments of ``fn`` (accepted large for *args)."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 1, 2
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = sum(1 for p in positional if p.default is p.empty)
    accepted = 99 if any(p.kind == p.VAR_POSITIONAL for p in parameters) else len(positional)
    return required, accepted


def entry_methods(obj: Any, framework: str) -> list[str]:
    """The callables tried: the instance itself (a torch module, or a class with
    ``__call__``), then the usual method names."""
    methods = []
    if framework == "torch" or callable(obj):
        methods.append("__call__")
    methods += [m for m in METHODS if callable(getattr(obj, m, None)) and not (framework == "torch" and m == "forward")]
    return methods


@dataclass
class Trial:
    """What trying the call forms found: the forms whose shapes fit, and why others failed."""

    forms: list[CallForm]
    errors: list[str]


def _shape(runner: Runner, value: Any) -> tuple[int, ...] | None:
    array = runner.numpy(value)
    return None if array is None else tuple(array.shape)


def _elements(runner: Runner, returned: Any) -> list[tuple[int | None, tuple[int, ...]]]:
    """(index, shape) of each array in what was returned (index None: the value itself)."""
    if isinstance(returned, (tuple, list)):
        return [(i, s) for i, item in enumerate(returned) if (s := _shape(runner, item)) is not None]
    shape = _shape(runner, returned)
    return [] if shape is None else [(None, shape)]


def try_forms(runner: Runner, methods: list[str], sizes: dict[str, int]) -> Trial:
    """Call each method in each form on random inputs; keep the forms whose results have
    the shapes a GRU's have."""
    inputs, hidden, batch, steps = sizes["input_size"], sizes["hidden_size"], sizes["batch"], sizes["steps"]
    rng = np.random.default_rng(5)
    forms: list[CallForm] = []
    errors: list[str] = []

    def attempt(what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - a failing form is a finding, not an error
            errors.append(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")
            return None

    for method in methods:
        fn = runner.function(CallForm("cell", method))
        required, accepted = positional_arity(fn)
        x2, h2 = rng.normal(size=(batch, inputs)), rng.uniform(-1, 1, (batch, hidden))
        call = "instance" if method == "__call__" else f"instance.{method}"
        if accepted >= 2:
            for order in ("xh", "hx"):
                args = (x2, h2) if order == "xh" else (h2, x2)
                returned = attempt(f"{call}({', '.join('x (B, I)' if a is x2 else 'h (B, H)' for a in args)})", fn,
                                   *(runner.array(a) for a in args))
                for index, shape in _elements(runner, returned):
                    if shape == (batch, hidden):
                        forms.append(CallForm("cell", method, order=order, state_index=index))
                        break
            if not any(f.kind == "cell" for f in forms):
                # A cell written for one sample (x (I,), h (H,)): the adapter runs a batch row by row.
                for order in ("xh", "hx"):
                    args = (x2[0], h2[0]) if order == "xh" else (h2[0], x2[0])
                    shown = "x (I,), h (H,)" if order == "xh" else "h (H,), x (I,)"
                    returned = attempt(f"{call}({shown})", fn, *(runner.array(a) for a in args))
                    for index, shape in _elements(runner, returned):
                        if shape == (hidden,):
                            forms.append(CallForm("cell", method, order=order, state_index=index, unbatched=True))
                            break
        for batch_first in (False, True):
            x3 = rng.normal(size=(batch, steps, inputs) if batch_first else (steps, batch, inputs))
            out_shape = (batch, steps, hidden) if batch_first else (steps, batch, hidden)
            layout = "(B, T, I)" if batch_first else "(T, B, I)"
            variants = [("none", ())] if required <= 1 else []
            if accepted >= 2:
                variants += [("3d", (rng.uniform(-1, 1, (1, batch, hidden)),)),
                             ("2d", (rng.uniform(-1, 1, (batch, hidden)),))]
            for h0, extra in variants:
                shown = f"{call}(x {layout}" + ("" if h0 == "none" else f", h0 {extra[0].shape}") + ")"
                returned = attempt(shown, fn, runner.array(x3), *(runner.array(e) for e in extra))
                if returned is None:
                    continue
                elements = _elements(runner, returned)
                outs = [i for i, s in elements if s == out_shape]
                states = [(i, len(s) == 3) for i, s in elements if s in ((1, batch, hidden), (batch, hidden))]
                optional = h0 == "none" or required <= 1
                if outs and states and outs[0] != states[0][0]:
                    forms.append(CallForm("layer", method, h0=h0, batch_first=batch_first, returns="both",
                                          out_index=outs[0], hn_index=states[0][0], hn_3d=states[0][1],
                                          h0_optional=optional))
                elif outs:
                    forms.append(CallForm("layer", method, h0=h0, batch_first=batch_first, returns="output",
                                          out_index=outs[0], h0_optional=optional))
                elif states:
                    forms.append(CallForm("layer", method, h0=h0, batch_first=batch_first, returns="state",
                                          hn_index=states[0][0], hn_3d=states[0][1], h0_optional=optional))
                else:
                    errors.append(f"{shown} returned {_describe(runner, returned)}, not an output (T, B, H) or a "
                                  f"state (B, H)")
        if forms:
            break  # the first method that works is the one
    return Trial(_preferred(forms), errors)


def _describe(runner: Runner, returned: Any) -> str:
    elements = _elements(runner, returned)
    if not elements:
        return f"a {type(returned).__name__}"
    return ", ".join(f"shape {s}" for _, s in elements)


def _preferred(forms: list[CallForm]) -> list[CallForm]:
    """Forms in the order in which equally fitting ones are preferred: the one that returns
    most (output and h_n: a form that reads only h_n can fit where a broadcast state makes
    the output malformed), then an initial state taken (3d before 2d), then nn.GRU's layout."""
    rank = {"3d": 0, "2d": 1, "none": 2}
    unique = list(dict.fromkeys(forms))
    return sorted(unique, key=lambda f: (f.kind != "cell", f.returns != "both", rank[f.h0], f.batch_first))
