"""Grading a module class without an adapter: nn.GRU-like and nn.GRUCell-like classes.

A class with ``nn.GRU``'s constructor arguments, parameter names and call form
(``forward(x, h0=None) -> (output, h_n)``), or ``nn.GRUCell``'s (``forward(x, h) -> h'``),
is wrapped in an adapter here, in the process that imports it (the implementation's
worker; the grading process only names it). The wrapper claims the whole contract of
the class imitated (the claims of ``torch.nn.GRU`` and ``torch.nn.GRUCell`` in
``implementations/torch_reference.py``), so a missing feature shows as a failure, not as
"not applicable"; the command line narrows the claims (``--no-bidirectional``,
``--dtypes float32`` ...), which reach the worker appended to the name it imports:
``path/to/file.py:MyGRU#no-bidirectional,dtypes=float32``.

A class that is neither an adapter nor nn.GRU-like gets one message saying what each
would need, and that ``python -m conformance adapt`` writes an adapter for a GRU in its
own layout.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import re
from typing import Any

#: Separates a class name from the narrowing of its claims in a name given to the worker.
NARROWING_MARK = "#"
#: Sizes of the trial build and call: all different, so a transposed or misread axis shows.
TRIAL = {"input_size": 3, "hidden_size": 5, "batch": 4, "steps": 6}
#: What the claims of a wrapped class can be narrowed by (the command line's flags).
BOOLEAN_CLAIMS = ("bidirectional", "multi_layer", "time_major", "batch_first", "h0", "unbatched", "autograd",
                  "lengths", "bias_free")
LIST_CLAIMS = ("dtypes", "devices")
CONVENTION_CLAIMS = {"reset": ("after", "before"), "update": ("pytorch", "complement")}
DTYPE_NAMES = ("float32", "float64", "float16", "bfloat16")

LAYER_PARAMETERS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
CELL_PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

NEEDS = (
    "To be graded it needs one of:\n"
    "  - an adapter: a conformance.CellAdapter or conformance.LayerAdapter subclass (README, \"The adapter "
    "contract\");\n"
    "  - nn.GRU's interface: constructor (input_size, hidden_size, num_layers=1, bias=True, batch_first=False, "
    "dropout=0.0, bidirectional=False), parameters weight_ih_l0 (3H, I), weight_hh_l0 (3H, H), bias_ih_l0 and "
    "bias_hh_l0 (3H,) (and _l1, ..., _reverse), forward(x, h0=None) -> (output, h_n);\n"
    "  - nn.GRUCell's interface: constructor (input_size, hidden_size, bias=True), parameters weight_ih (3H, I), "
    "weight_hh (3H, H), bias_ih and bias_hh (3H,), forward(x, h) -> h'.\n"
    "For a GRU that keeps its parameters in a layout of its own, `python -m conformance adapt {target}` probes it "
    "and writes an adapter.")


class NotGRULike(Exception):
    """The class is neither an adapter nor nn.GRU-like (the message says what it would need)."""


# Narrowing: the grader's side, without torch ------------------------------------------
def split_narrowing(name: str) -> tuple[str, str]:
    """``"file.py:MyGRU#no-bidirectional"`` -> ``("file.py:MyGRU", "no-bidirectional")``.
    Only a mark after the last ``:`` counts (a path may hold one)."""
    head, colon, tail = name.rpartition(":")
    if NARROWING_MARK not in tail:
        return name, ""
    attr, _, narrowing = tail.partition(NARROWING_MARK)
    return f"{head}{colon}{attr}", narrowing


def parse_narrowing(text: str) -> dict[str, Any]:
    """``"no-bidirectional,dtypes=float32+float64,reset=before"`` -> claims to change.
    Checks the syntax and the values it can check without the adapter's classes."""
    claims: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            if not key.startswith("no-"):
                raise ValueError(f"{item!r}: say no-<capability> (no-bidirectional) or <claim>=<value>")
            name = key[3:].replace("-", "_")
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"{item!r} does not name a capability")
            claims[name] = False
        elif key in LIST_CLAIMS:
            values = tuple(v for v in value.split("+") if v)
            if not values:
                raise ValueError(f"{item!r}: name at least one (e.g. {key}=float32+float64)")
            if key == "dtypes" and any(v not in DTYPE_NAMES for v in values):
                raise ValueError(f"{item!r}: dtypes are among {', '.join(DTYPE_NAMES)}")
            claims[key] = values
        elif key in CONVENTION_CLAIMS:
            if value not in CONVENTION_CLAIMS[key]:
                raise ValueError(f"{item!r}: {key} is one of {', '.join(CONVENTION_CLAIMS[key])}")
            claims[key] = value
        else:
            raise ValueError(f"{item!r}: {key!r} is not one of {', '.join(LIST_CLAIMS + tuple(CONVENTION_CLAIMS))}")
    return claims


def format_narrowing(claims: dict[str, Any]) -> str:
    """The inverse of ``parse_narrowing``."""
    items = []
    for key, value in claims.items():
        if value is False:
            items.append(f"no-{key.replace('_', '-')}")
        elif isinstance(value, (tuple, list)):
            items.append(f"{key}={'+'.join(value)}")
        else:
            items.append(f"{key}={value}")
    return ",".join(items)


def add_narrowing_arguments(parser: argparse.ArgumentParser) -> None:
    """``grade``'s options for classes graded without an adapter."""
    group = parser.add_argument_group(
        "classes graded without an adapter (nn.GRU-like or nn.GRUCell-like)",
        "A class named by file or module that has nn.GRU's (or nn.GRUCell's) constructor, parameter names and "
        "call form is graded directly, claiming everything the class it imitates does. These options narrow "
        "those claims (or change the convention claimed) for every such class named.")
    for claim in BOOLEAN_CLAIMS:
        flag = claim.replace("_", "-")
        group.add_argument(f"--no-{flag}", dest="narrow", action="append_const", const=claim,
                           help=f"do not claim {claim}")
    group.add_argument("--dtypes", metavar="LIST", help="claim only these dtypes, comma-separated (float32,float64)")
    group.add_argument("--devices", metavar="LIST", help="claim only these devices, comma-separated (cpu)")
    group.add_argument("--reset", choices=CONVENTION_CLAIMS["reset"], help="claim this reset placement")
    group.add_argument("--update", choices=CONVENTION_CLAIMS["update"], help="claim this update polarity")


def narrowing_from_arguments(args: argparse.Namespace) -> dict[str, Any]:
    claims: dict[str, Any] = {name: False for name in (getattr(args, "narrow", None) or [])}
    for key in LIST_CLAIMS:
        value = getattr(args, key, None)
        if value:
            claims[key] = tuple(v.strip() for v in value.split(",") if v.strip())
    for key in CONVENTION_CLAIMS:
        value = getattr(args, key, None)
        if value:
            claims[key] = value
    return claims


def with_narrowing(name: str, claims: dict[str, Any]) -> str:
    """``name`` with ``claims`` appended (names of classes only: ``where:Class``)."""
    if not claims:
        return name
    base, existing = split_narrowing(name)
    merged = {**parse_narrowing(existing), **claims}
    return f"{base}{NARROWING_MARK}{format_narrowing(merged)}"


# Wrapping: the implementation's side ---------------------------------------------------
def is_adapter(obj: Any) -> bool:
    from conformance.adapter import CellAdapter, LayerAdapter

    if isinstance(obj, type):
        return issubclass(obj, (CellAdapter, LayerAdapter))
    return isinstance(obj, (CellAdapter, LayerAdapter))


def full_contract(kind: str) -> Any:
    """The claims of the class imitated: those of the registered torch references."""
    from conformance.implementations.torch_reference import TorchGRU, TorchGRUCell

    return (TorchGRU if kind == "layer" else TorchGRUCell).capabilities


def narrowed(caps: Any, claims: dict[str, Any]) -> Any:
    """``caps`` with ``claims`` applied; a claim can only be taken away, never added."""
    import torch

    fields = {f.name: f for f in dataclasses.fields(caps)}
    changes: dict[str, Any] = {}
    for key, value in claims.items():
        if key in CONVENTION_CLAIMS:
            continue
        if key not in fields:
            raise ValueError(f"{key!r} is not a capability (they are: {', '.join(fields)})")
        current = getattr(caps, key)
        if value is False:
            if not isinstance(current, bool):
                raise ValueError(f"{key} is not a yes/no capability: give it a list ({key}=...)")
            changes[key] = False
        elif key == "dtypes":
            wanted = tuple(getattr(torch, name) for name in value)
            extra = [str(d).removeprefix("torch.") for d in wanted if d not in current]
            if extra:
                raise ValueError(f"dtypes {', '.join(extra)} are not claimed by the class imitated: narrowing "
                                 f"only takes claims away")
            changes[key] = wanted
        elif key == "devices":
            extra = [d for d in value if d not in current]
            if extra:
                raise ValueError(f"devices {', '.join(extra)} are not claimed by the class imitated: narrowing "
                                 f"only takes claims away")
            changes[key] = tuple(value)
    return dataclasses.replace(caps, **changes)


@dataclasses.dataclass
class Detection:
    """What a trial build and call of a class found."""

    kind: str  # "layer" (nn.GRU-like) or "cell" (nn.GRUCell-like)
    biases: bool
    #: Constructor arguments of nn.GRU the class's signature does not accept (notes).
    missing_arguments: tuple[str, ...] = ()


def _signature_gaps(cls: type, kind: str) -> tuple[str, ...]:
    """nn.GRU constructor arguments the signature visibly lacks (none when it takes **kwargs)."""
    wanted = ("num_layers", "bias", "batch_first", "dropout", "bidirectional") if kind == "layer" else ("bias",)
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return ()
    if any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        return ()
    return tuple(name for name in wanted if name not in parameters)


def _shapes_match(shapes: dict[str, tuple[int, ...]], names: tuple[str, ...], hidden: int, inputs: int) -> str:
    """"" when the weights (and biases, if any) have nn.GRU's shapes, else what differs."""
    want = {names[0]: (3 * hidden, inputs), names[1]: (3 * hidden, hidden),
            names[2]: (3 * hidden,), names[3]: (3 * hidden,)}
    for name in names[:2]:
        if name not in shapes:
            return f"it has no parameter {name}"
    biases = [n for n in names[2:] if n in shapes]
    if len(biases) == 1:
        return f"it has {biases[0]} but not {(set(names[2:]) - set(biases)).pop()}"
    for name in names[:2] + tuple(biases):
        if shapes[name] != want[name]:
            return f"{name} has shape {shapes[name]}, but nn.GRU's is {want[name]} (built with input_size=" \
                   f"{inputs}, hidden_size={hidden})"
    return ""


def detect(cls: Any, target: str) -> Detection:
    """Build ``cls(input_size, hidden_size)``, read its parameter names and call it once, as
    nn.GRU and nn.GRUCell are called. Raises ``NotGRULike`` saying what was found."""
    import numpy as np
    import torch

    needs = NEEDS.format(target=target)
    if not isinstance(cls, type):
        raise NotGRULike(f"{target} is a {type(cls).__name__}, not a class. {needs}")
    if not issubclass(cls, torch.nn.Module):
        raise NotGRULike(f"{target} is a class but neither an adapter nor a torch.nn.Module. {needs}")
    inputs, hidden, batch, steps = (TRIAL[k] for k in ("input_size", "hidden_size", "batch", "steps"))
    numpy_state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):  # the trial leaves the generators as they were
        try:
            try:
                module = cls(inputs, hidden)
            except Exception as exc:  # noqa: BLE001 - anything the class raises is the finding
                raise NotGRULike(f"{target}: building {cls.__name__}({inputs}, {hidden}) as nn.GRU is built raised "
                                 f"{type(exc).__name__}: {exc}. {needs}") from None
            shapes = {name: tuple(p.shape) for name, p in module.named_parameters()}
            as_layer = _shapes_match(shapes, LAYER_PARAMETERS, hidden, inputs)
            as_cell = _shapes_match(shapes, CELL_PARAMETERS, hidden, inputs)
            if as_layer and as_cell:
                found = ", ".join(f"{n} {tuple(s)}" for n, s in list(shapes.items())[:12]) or "none"
                raise NotGRULike(f"{target} is a torch module but its parameters are not nn.GRU's or nn.GRUCell's "
                                 f"(as a layer: {as_layer}; as a cell: {as_cell}; its parameters: {found}). {needs}")
            kind = "cell" if as_layer else "layer"
            names = CELL_PARAMETERS if kind == "cell" else LAYER_PARAMETERS
            module.eval()
            try:
                with torch.no_grad():
                    if kind == "layer":
                        returned = module(torch.randn(steps, batch, inputs))
                        ok = isinstance(returned, (tuple, list)) and len(returned) == 2
                        form = "forward(x) -> (output, h_n)"
                    else:
                        returned = module(torch.randn(batch, inputs), torch.randn(batch, hidden))
                        ok = isinstance(returned, torch.Tensor)
                        form = "forward(x, h) -> h'"
            except Exception as exc:  # noqa: BLE001
                raise NotGRULike(f"{target} has {'nn.GRU' if kind == 'layer' else 'nn.GRUCell'}'s parameter names, "
                                 f"but calling it as {form} raised {type(exc).__name__}: {exc}. {needs}") from None
            if not ok:
                raise NotGRULike(f"{target} has {'nn.GRU' if kind == 'layer' else 'nn.GRUCell'}'s parameter names, "
                                 f"but {form} returned a {type(returned).__name__}. {needs}")
        finally:
            np.random.set_state(numpy_state)
    return Detection(kind, biases=names[2] in shapes, missing_arguments=_signature_gaps(cls, kind))


def wrap(cls: Any, target: str, narrowing: str = "") -> Any:
    """An adapter instance for the nn.GRU-like or nn.GRUCell-like class ``cls``; raises
    ``NotGRULike`` when it is neither, ``ValueError`` for a narrowing that does not parse."""
    claims = parse_narrowing(narrowing)
    found = detect(cls, target)
    caps = narrowed(full_contract(found.kind), claims)
    imitated = "nn.GRU" if found.kind == "layer" else "nn.GRUCell"
    notes = [f"graded without an adapter: {cls.__name__} has {imitated}'s constructor, parameter names and call "
             f"form, so it claims everything {imitated} does"]
    if claims:
        notes.append(f"claims changed on the command line: {format_narrowing(claims)}")
    if found.missing_arguments:
        notes.append(f"its constructor has no {', '.join(found.missing_arguments)} argument: the cases that need "
                     f"one fail (narrow the claims to leave them out)")
    if not found.biases:
        notes.append("built with its defaults it has no bias parameters")
    layer_base, cell_base = _bases()
    base = layer_base if found.kind == "layer" else cell_base
    adapter_class = type(f"{cls.__name__}Wrapped", (base,), {
        "name": f"{cls.__name__} ({imitated}-like)",
        "reset": claims.get("reset", "after"),
        "update": claims.get("update", "pytorch"),
        "capabilities": caps,
        "notes": "; ".join(notes),
        "module_class": cls,
    })
    return adapter_class()


def _copy_into(module: Any, arrays: dict[str, Any], rename: Any) -> None:
    """Canonical parameters into the module's parameters of the same (renamed) names, in
    place, with their dtype and device; a missing or differently shaped one is an error."""
    import torch

    own = dict(module.named_parameters())
    with torch.no_grad():
        for canonical, value in arrays.items():
            name = rename(canonical)
            if name not in own:
                raise KeyError(f"it has no parameter {name} (nn.GRU has one for this configuration; its "
                               f"parameters: {', '.join(own) or 'none'})")
            target = own[name]
            if tuple(target.shape) != tuple(value.shape):
                raise ValueError(f"its parameter {name} has shape {tuple(target.shape)}, but nn.GRU's is "
                                 f"{tuple(value.shape)}")
            target.copy_(torch.as_tensor(value, dtype=target.dtype, device=target.device))


def _gradients(module: Any, rename: Any, names: list[str]) -> dict[str, Any]:
    own = dict(module.named_parameters())
    return {canonical: own[rename(canonical)].grad for canonical in names if rename(canonical) in own}


@functools.cache
def _bases() -> tuple[type, type]:
    """The wrappers' base classes, made on first use: they import torch, which the grading
    process does not need for parsing narrowing options."""
    from conformance.adapter import CellAdapter, LayerAdapter

    class LayerModule(LayerAdapter):
        """nn.GRU-like: built with nn.GRU's arguments, loaded by name, called as nn.GRU."""

        module_class: Any = None

        def build(self, config: Any) -> Any:
            # nn.GRU's optional arguments are passed only when they differ from nn.GRU's
            # defaults: a class without one fails the cases that need it, and only those.
            options: dict[str, Any] = {}
            if config.num_layers != 1:
                options["num_layers"] = config.num_layers
            if not config.bias:
                options["bias"] = False
            if config.batch_first:
                options["batch_first"] = True
            if config.dropout:
                options["dropout"] = config.dropout
            if config.bidirectional:
                options["bidirectional"] = True
            module = self.module_class(config.input_size, config.hidden_size, **options)
            return module.to(device=config.device, dtype=config.dtype).eval()

        def load(self, module: Any, params: Any) -> None:
            _copy_into(module, dict(params.items()), lambda name: name)

        def run(self, module: Any, x: Any, h0: Any) -> Any:
            return module(x) if h0 is None else module(x, h0)

        def grads(self, module: Any) -> dict[str, Any]:
            names = [name for name, _ in module.named_parameters()]
            return _gradients(module, lambda name: name, [n for n in names if re.fullmatch(
                r"(weight|bias)_(ih|hh)_l\d+(_reverse)?", n)])

    class CellModule(CellAdapter):
        """nn.GRUCell-like: built with nn.GRUCell's arguments, loaded by name, called as nn.GRUCell."""

        module_class: Any = None

        def build(self, config: Any) -> Any:
            options = {} if config.bias else {"bias": False}
            module = self.module_class(config.input_size, config.hidden_size, **options)
            return module.to(device=config.device, dtype=config.dtype).eval()

        def load(self, module: Any, params: Any) -> None:
            _copy_into(module, dict(params.items()), lambda name: name.removesuffix("_l0"))

        def step(self, module: Any, x: Any, h: Any) -> Any:
            return module(x, h)

        def grads(self, module: Any) -> dict[str, Any]:
            return _gradients(module, lambda name: name.removesuffix("_l0"),
                              [f"{n}_l0" for n in CELL_PARAMETERS])

    return LayerModule, CellModule



def narrow_names(names: list[str], claims: dict[str, Any], adapters: set[str]) -> list[str]:
    """``grade``'s names with ``claims`` appended to each class named by file or module
    (``adapters``, the registered ids and entry points, claim for themselves)."""
    if not claims:
        return names
    narrowed_names = [with_narrowing(n, claims) if ":" in n and n not in adapters else n for n in names]
    if narrowed_names == names:
        raise ValueError("the claim options (--no-bidirectional, --dtypes ...) narrow classes graded without an "
                         "adapter, named as path/to/file.py:Class or module:Class; none is named")
    return narrowed_names
