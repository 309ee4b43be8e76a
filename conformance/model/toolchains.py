"""Toolchains a GRU passes through before it runs: ``torch.compile``, TorchScript,
``torch.export``, ``torch.func.functional_call``, dynamic int8 quantization.

A class graded without an adapter (``conformance.model.gru_like_adapter``) can be named with a toolchain
(``--toolchain compile``, or ``#toolchain=compile`` after its name): the wrapper builds
the class, loads the canonical parameters, then passes it through the toolchain, and the
product is what is called. What the toolchain actually did is found by a trial at start-up
and stated in the notes ("dynamo did not compile the GRU: graph break at RNN modules").

Transforming is slow (an inductor compile takes tens of seconds), so it is done once per
configuration and call form, not per example: every instance built for one configuration
shares one transformed module, and each loads its own parameters into it before its calls
(parameters are inputs of every toolchain's product here, so new values need no new
compile; ``tests/passes_correct/test_toolchains.py`` checks the values after a reload). Quantization is
the exception: its int8 weights are made from the parameters, so it is redone after each
load (milliseconds).

Nothing here imports torch at module level: the grading process reads the names only.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Toolchain:
    """One way of transforming a module, and what its product cannot be called with."""

    name: str
    #: What it runs, in the words of its documentation (README, notes).
    summary: str
    #: Claims its product cannot carry, each with why (taken away from the wrapper's claims).
    cannot: tuple[tuple[str, str], ...] = ()
    #: The dtypes its product runs in, when fewer than nn.GRU's (with why).
    dtypes: tuple[tuple[str, ...], str] | None = None
    #: dynamo's settings for the torch.compile family: backend and allow_rnn.
    backend: str = ""
    allow_rnn: bool = False
    #: Redo the transformation after every load (its product holds values made from the parameters).
    per_load: bool = False
    #: It may compile or export the GRU once per configuration and shape (tens of seconds each
    #: with inductor, about a second an export): a check's time limit is lifted.
    heavy: bool = False
    #: The oldest torch (major, minor) whose product of it was found to compute nn.GRU, and what
    #: older ones did: on an older torch the toolchain's own failure would be graded as the GRU's.
    verified_from: tuple[int, int] = (0, 0)
    older: str = ""


#: What torch's export did with nn.GRU before 2.13 (torch 2.4.1 and 2.6.0, measured).
_EXPORT_BEFORE = ("torch 2.4's export produced no graph for nn.GRU (\"no tensor operations were found\") and torch "
                  "2.6's raised inside its own code (\"Unexpectedly found a Tensor in the outputs\")")


def unverified(chain: Toolchain, version: str) -> str:
    """Why ``chain`` is not graded with torch ``version`` ("" when it is)."""
    found = [int(part) for part in version.split("+")[0].split(".")[:2] if part.isdigit()]
    if len(found) < 2 or tuple(found) >= chain.verified_from:
        return ""
    want = ".".join(map(str, chain.verified_from))
    return (f"the {chain.name} toolchain is graded with torch {want} or later, and this is torch {version}: "
            f"{chain.older}, so a correct GRU would be graded by torch's failure")


#: The time limit of one check, and the worker's CPU time, for a heavy toolchain: one check can
#: compile for each configuration it draws.
HEAVY_CHECK_SECONDS = 3600.0
HEAVY_CPU_SECONDS = 24 * 3600


_NO_PACKED = ("lengths", "it takes tensors only: a PackedSequence cannot be passed through it (tried)")

TOOLCHAINS: dict[str, Toolchain] = {t.name: t for t in (
    Toolchain("compile", "torch.compile(module): dynamo with its defaults, the inductor backend",
              backend="inductor", heavy=True),
    Toolchain("compile-allow-rnn", "torch.compile(module) with torch._dynamo.config.allow_rnn = True, the inductor "
              "backend: dynamo traces into nn.GRU", backend="inductor", allow_rnn=True, heavy=True),
    Toolchain("compile-aot-eager", "torch.compile(module, backend=\"aot_eager\"): dynamo and AOTAutograd, "
              "the captured graphs run eagerly", backend="aot_eager", heavy=True),
    Toolchain("compile-aot-eager-allow-rnn", "torch.compile(module, backend=\"aot_eager\") with "
              "torch._dynamo.config.allow_rnn = True", backend="aot_eager", allow_rnn=True, heavy=True),
    Toolchain("script", "torch.jit.script(module)"),
    Toolchain("trace", "torch.jit.trace(module, example inputs), traced once per call form (batched or unbatched, "
              "with or without h0) at the first call's shapes", cannot=(_NO_PACKED,)),
    Toolchain("export", "torch.export.export(module, example inputs).module(): one program per sequence length "
              "and call form, the batch size dynamic", cannot=(_NO_PACKED,), heavy=True, verified_from=(2, 13),
              older=_EXPORT_BEFORE),
    Toolchain("export-decomposed", "torch.export.export(...).run_decompositions().module(): core ATen ops only "
              "(aten.gru becomes torch's own decomposition)", cannot=(_NO_PACKED,), heavy=True, verified_from=(2, 13),
              older=_EXPORT_BEFORE),
    Toolchain("functional-call", "torch.func.functional_call(module, parameters, inputs): the parameters are "
              "passed with every call"),
    Toolchain("quantize-dynamic", "torch.ao.quantization.quantize_dynamic(model, dtype=torch.qint8) on a model "
              "holding the module: nn.GRU and nn.Linear become dynamically quantized modules with int8 weights",
              cannot=(("autograd", "its int8 weights are packed: no parameter gradients"),
                      ("bias_free", "torch.ao converts only GRUs with biases (from_float: 'mod.bias must be True')")),
              dtypes=(("float32",), "dynamically quantized modules take float32 input only (float64 raises)"),
              per_load=True),
)}
NAMES = tuple(TOOLCHAINS)


def narrowing_of(name: str) -> tuple[dict[str, Any], list[str]]:
    """The claims the toolchain ``name`` takes away, and a note for each."""
    chain = TOOLCHAINS[name]
    claims: dict[str, Any] = {key: False for key, _ in chain.cannot}
    notes = [f"{key} not claimed: {why}" for key, why in chain.cannot]
    if chain.dtypes is not None:
        claims["dtypes"] = chain.dtypes[0]
        notes.append(f"dtypes {'+'.join(chain.dtypes[0])} only: {chain.dtypes[1]}")
    return claims, notes


# Calling a module the way nn.GRU is called ------------------------------------------------
def call_layer(module: Any, x: Any, h0: Any) -> Any:
    """``module(x)`` or ``module(x, h0)``; a scripted nn.GRU, which keeps its forward as
    TorchScript overloads Python cannot reach through ``module(...)``, through the overload
    for the input (``forward__0``: tensors, ``forward__1``: a PackedSequence)."""
    forward = scripted_overload(module, x)
    if forward is None:
        return module(x) if h0 is None else module(x, h0)
    from torch.nn.utils.rnn import PackedSequence

    output, h_n = forward(x, h0)
    if isinstance(x, PackedSequence) and not isinstance(output, PackedSequence) and isinstance(output, tuple):
        output = PackedSequence(*output)  # TorchScript returns its own named tuple of the same fields
    return output, h_n


def scripted_overload(module: Any, x: Any) -> Any:
    """The TorchScript overload to call for ``x``, when ``module`` is a scripted module
    without a ``forward`` (a scripted nn.GRU); else None."""
    import torch

    if not isinstance(module, torch.jit.ScriptModule) or _has_forward(module):
        return None
    packed = isinstance(x, torch.nn.utils.rnn.PackedSequence)
    return getattr(module, "forward__1" if packed else "forward__0", None)


def _has_forward(module: Any) -> bool:
    try:
        getattr(module, "forward")
    except AttributeError:
        return False
    return True


# Products, shared per configuration --------------------------------------------------------
class Shared:
    """One configuration's transformed modules (by call form) around one base module,
    and the instance whose parameters are loaded in it now."""

    def __init__(self, base: Any) -> None:
        self.base = base
        self.products: dict[Any, Any] = {}
        self.owner: Any = None
        #: The product of the last call (an exported program holds parameters of its own).
        self.last: Any = None


class Transformed:
    """One built instance: the class's own module (its parameters) and the configuration's
    shared product, into which its parameters are loaded before each of its calls."""

    def __init__(self, chain: Toolchain, module: Any, shared: Shared, batch_axis: int) -> None:
        self.chain = chain
        self.module = module
        self.shared = shared
        self.batch_axis = batch_axis
        self.own_product: Any = None

    def loaded(self) -> None:
        """The module's parameters changed (``load``)."""
        self.own_product = None
        if self.shared.owner is self:
            self.shared.owner = None

    def __call__(self, x: Any, h0: Any) -> Any:
        if self.chain.name == "functional-call":
            import torch

            state = {**dict(self.module.named_parameters()), **dict(self.module.named_buffers())}
            return torch.func.functional_call(self.module, state, (x,) if h0 is None else (x, h0))
        if self.chain.per_load:
            if self.own_product is None:
                self.own_product = _quantized(self.module)
            return call_layer(self.own_product, x, h0)
        self._take_over()
        product = self.shared.last = self._product(x, h0)
        return call_layer(product, x, h0)

    def parameters_with_gradients(self) -> dict[str, Any]:
        """Name -> parameter whose ``.grad`` the last backward pass filled."""
        import torch

        if self.chain.name == "functional-call" or self.chain.per_load:
            return dict(self.module.named_parameters())
        last = self.shared.last
        return dict((last if isinstance(last, torch.fx.GraphModule) else self.shared.base).named_parameters())

    def _take_over(self) -> None:
        """Load this instance's parameters into the shared product (when another's are there)."""
        import torch

        if self.shared.owner is self:
            return
        mine = {**dict(self.module.named_parameters()), **dict(self.module.named_buffers())}
        targets = [self.shared.base, *(p for p in self.shared.products.values() if isinstance(p, torch.fx.GraphModule))]
        with torch.no_grad():
            for target in targets:
                for name, value in [*target.named_parameters(), *target.named_buffers()]:
                    if name in mine and mine[name].shape == value.shape:
                        value.copy_(mine[name])
                for value in target.parameters():
                    value.grad = None
        self.shared.owner = self

    def _product(self, x: Any, h0: Any) -> Any:
        products = self.shared.products
        keys = _form_keys(self.chain, x, h0, self.batch_axis)
        for key in keys:
            if key in products:
                return products[key]
        product, general = transform(self.chain, self.shared.base, x, h0, self.batch_axis)
        products[keys[0] if general else keys[-1]] = product
        return product


def _form_keys(chain: Toolchain, x: Any, h0: Any, batch_axis: int) -> list[Any]:
    """The keys a product for this call may be stored under, the most general first: an
    exported program with a dynamic batch size serves every batch size, one exported for a
    batch of one (export specializes sizes 0 and 1) only that."""
    if chain.name == "trace":
        return [(x.dim(), h0 is None)]
    if chain.name.startswith("export"):
        exact = (tuple(x.shape), None if h0 is None else tuple(h0.shape))
        if x.dim() != 3:
            return [exact]
        shape = list(x.shape)
        shape[batch_axis] = -1
        return [(tuple(shape), h0.dim() if h0 is not None else None), exact]
    return [None]  # one product serves every call


def transform(chain: Toolchain, base: Any, x: Any, h0: Any, batch_axis: int) -> tuple[Any, bool]:
    """The toolchain's product for ``base``, made for calls like ``(x, h0)``, and whether it
    serves other batch sizes too."""
    import torch

    inputs = (x,) if h0 is None else (x, h0)
    if chain.name.startswith("compile"):
        return torch.compile(base, backend=chain.backend), True
    if chain.name == "script":
        return torch.jit.script(base), True
    if chain.name == "trace":
        with _quiet():
            return torch.jit.trace(base, inputs), True
    if chain.name.startswith("export"):
        program, general = _export(base, inputs, batch_axis)
        if chain.name == "export-decomposed":
            program = program.run_decompositions()
        return program.module(), general
    raise ValueError(f"no product for the toolchain {chain.name!r}")


def _export(base: Any, inputs: tuple[Any, ...], batch_axis: int) -> tuple[Any, bool]:
    """One program for these shapes, its batch size dynamic where export allows it (not from
    a batch of one, which it specializes), and whether it is."""
    import torch
    from torch.export import Dim

    with _quiet():
        if inputs[0].dim() == 3 and inputs[0].shape[batch_axis] > 1:
            batch = Dim("batch", min=1, max=1 << 16)
            dynamic = ({batch_axis: batch},) + (({1: batch},) if len(inputs) == 2 else ())
            try:
                return torch.export.export(base, inputs, dynamic_shapes=dynamic), True
            except Exception:  # noqa: BLE001 - a module that specializes its batch: a program per batch size
                pass
        return torch.export.export(base, inputs), False


def _quantized(module: Any) -> Any:
    """quantize_dynamic converts a model's submodules, never the model itself: the module is
    put in a container first, so that an nn.GRU graded alone is converted as one in a model is."""
    import torch

    # Made outside inference mode whatever mode the first call runs in: a copy made under it holds
    # inference tensors, which a later call with autograd on cannot save for backward.
    with torch.inference_mode(False):
        holder = torch.nn.Sequential(copy.deepcopy(module))
    with _quiet(), torch.inference_mode(False):
        torch.ao.quantization.quantize_dynamic(holder, dtype=torch.qint8, inplace=True)
    return holder[0]


@contextlib.contextmanager
def _quiet() -> Any:
    """Toolchains print deprecation notices and tracer warnings as they work; they are not
    the implementation's output."""
    import warnings

    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


class Products:
    """A wrapper's shared products, one per configuration, the most recent kept."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self.by_config: OrderedDict[Any, Shared] = OrderedDict()

    def shared(self, key: Any, make_base: Callable[[], Any]) -> Shared:
        found = self.by_config.get(key)
        if found is None:
            found = self.by_config[key] = Shared(make_base())
            while len(self.by_config) > self.limit:
                self.by_config.popitem(last=False)
        self.by_config.move_to_end(key)
        return found


# What actually ran ----------------------------------------------------------------------------
def configure(chain: Toolchain) -> list[str]:
    """Process-wide settings the toolchain needs, set once in the implementation's worker
    (as its user sets them), with a note each."""
    notes: list[str] = []
    if chain.name.startswith("compile"):
        import torch._dynamo

        torch._dynamo.config.allow_rnn = chain.allow_rnn
        # Grading builds many configurations (a deployment compiles one): past dynamo's recompile
        # limit (8) a function silently runs eagerly, which would grade something else.
        for name in ("recompile_limit", "accumulated_recompile_limit"):
            if hasattr(torch._dynamo.config, name):
                setattr(torch._dynamo.config, name, 1 << 16)
        notes.append("dynamo's recompile limits raised (grading compiles every configuration it draws, a "
                     "deployment one)")
    return notes


def what_ran(chain: Toolchain, module: Any, x: Any) -> str:
    """A trial of the toolchain on a built module: what it actually did, in one sentence."""
    if chain.name.startswith("compile"):
        return _what_dynamo_did(chain, module, x)
    if chain.name == "script":
        import torch

        scripted = torch.jit.script(copy.deepcopy(module))
        said = "torch.jit.script compiled its forward to TorchScript"
        if scripted_overload(scripted, x) is not None:
            said = ("torch.jit.script compiled it to TorchScript; a scripted nn.GRU keeps its forward as overloads, "
                    "called as forward__0 (tensors) and forward__1 (PackedSequence)")
        try:
            call_layer(scripted, x, None)
        except Exception as exc:  # noqa: BLE001 - scripted, but what came out does not run
            said += f", but the scripted module's call raised {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        return said
    if chain.name == "trace":
        return ("torch.jit.trace recorded the operations of one call per call form; Python control flow is fixed to "
                "the shapes traced")
    if chain.name.startswith("export"):
        base = copy.deepcopy(module)
        program, _ = _export(base, (x,), 1)
        if chain.name == "export-decomposed":
            program = program.run_decompositions()
        ops = _ops(program.graph)
        return f"torch.export made a program of {sum(ops.values())} operations ({_top(ops)})"
    if chain.name == "functional-call":
        return "torch.func.functional_call ran the module with the parameters passed as a dict"
    if chain.name == "quantize-dynamic":
        quantized = _quantized(module)
        before = {name: type(m) for name, m in module.named_modules()}
        replaced = [f"{name or 'the module'} (now {type(m).__module__}.{type(m).__name__})"
                    for name, m in quantized.named_modules() if name in before and type(m) is not before[name]]
        if not replaced:
            return "quantize_dynamic replaced nothing (no nn.GRU, nn.Linear or other quantizable module): it runs in float"
        return "quantize_dynamic replaced " + ", ".join(replaced[:4]) + " with int8 weights"
    return ""


def _what_dynamo_did(chain: Toolchain, module: Any, x: Any) -> str:
    """Run dynamo alone (backend "eager": no code generated) on a copy, and read its counters."""
    import torch
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    with _quiet():
        torch.compile(copy.deepcopy(module), backend="eager")(x)
    graphs = int(counters["stats"].get("unique_graphs", 0))
    breaks = [str(reason).strip().splitlines()[0] for reason in counters["graph_break"]]
    torch._dynamo.reset()
    counters.clear()
    rnn = any("RNN" in reason for reason in breaks)
    if graphs == 0:
        why = f"graph break at RNN modules ({breaks[0]!r}): it runs eagerly" if rnn else \
            (f"graph break ({breaks[0]!r})" if breaks else "dynamo captured no graph")
        hint = "; --toolchain compile-allow-rnn compiles it" if rnn and not chain.allow_rnn else ""
        return f"dynamo did not compile the GRU: {why}{hint}"
    said = f"dynamo captured {graphs} graph{'s' if graphs > 1 else ''}"
    if breaks:
        said += f" with {len(breaks)} graph break{'s' if len(breaks) > 1 else ''} ({breaks[0]!r})"
    return f"{said}, compiled by the {chain.backend} backend once per configuration and shape"


def _ops(graph: Any) -> dict[str, int]:
    found: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_function":
            name = str(node.target)
            found[name] = found.get(name, 0) + 1
    return found


def _top(ops: dict[str, int]) -> str:
    ranked = sorted(ops.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} x{count}" if count > 1 else name for name, count in ranked[:4])
