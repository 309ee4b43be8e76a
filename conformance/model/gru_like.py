"""What makes a class nn.GRU-like, found by building it once and calling it once: its
constructor (which of nn.GRU's optional arguments it takes, with which defaults), nn.GRU's
or nn.GRUCell's parameter names and shapes (on the instance, or on a submodule: a model's
``self.gru``, ``torch.compile``'s ``_orig_mod``; or a dynamically quantized GRU's packed
weights), and a call that returns what nn.GRU's does. ``conformance.model.gru_like_adapter`` wraps what
it finds in an adapter.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

#: Sizes of the trial build and call: all different, so a transposed or misread axis shows.
TRIAL = {"input_size": 3, "hidden_size": 5, "batch": 4, "steps": 6}
LAYER_PARAMETERS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
CELL_PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
#: Every parameter name of nn.GRU and nn.GRUCell (a layer's of any layer and direction).
_NN_GRU_NAME = re.compile(r"(weight|bias)_(ih|hh)(_l\d+(_reverse)?)?")

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


#: nn.GRU's optional constructor arguments and their defaults; nn.GRUCell has ``bias`` only.
LAYER_OPTIONS = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0, "bidirectional": False}
CELL_OPTIONS = {"bias": True}
#: The option that takes away the claims a missing constructor argument is needed for.
NARROWED_BY = {"num_layers": "--no-multi-layer", "bias": "--no-bias-free", "batch_first": "--no-batch-first",
               "dropout": "--no-dropout", "bidirectional": "--no-bidirectional"}
#: A default that cannot be read from the signature (a required argument, or one taken through **kwargs).
UNREAD = "unread"


@dataclasses.dataclass(frozen=True)
class Constructor:
    """How a class takes nn.GRU's optional arguments, read from its signature: each one it
    takes, with its own default (``UNREAD`` when the signature does not show one), and the
    ones it does not take."""

    takes: dict[str, Any]
    missing: tuple[str, ...]
    imitated: dict[str, Any]

    def options(self, needed: dict[str, Any]) -> dict[str, Any]:
        """The arguments to pass for a case that needs ``needed``: each one the class takes
        whose own default is not the value needed (or is unread); each one it does not take
        only when the value needed is not nn.GRU's default, so that the build fails for the
        cases that need it, and only those."""
        options = {}
        for name, value in needed.items():
            if name in self.takes:
                if self.takes[name] is UNREAD or self.takes[name] != value:
                    options[name] = value
            elif value != self.imitated[name]:
                options[name] = value
        return options

    def notes(self) -> list[str]:
        notes = []
        differ = {n: d for n, d in self.takes.items() if d is not UNREAD and d != self.imitated[n]}
        if differ:
            notes.append("its constructor's defaults differ from nn.GRU's (" + ", ".join(
                f"{n}={d!r}" for n, d in differ.items()) + "): each build passes the value its case needs")
        unread = [n for n, d in self.takes.items() if d is UNREAD]
        if unread:
            notes.append(f"its signature shows no default for {', '.join(unread)}: passed on every build")
        if self.missing:
            options = [NARROWED_BY[n] for n in self.missing if n in NARROWED_BY]
            notes.append(f"its constructor has no {', '.join(self.missing)} argument: the cases that need one fail "
                         f"(narrow the claims to leave them out{': ' + ', '.join(options) if options else ''})")
        return notes


def read_constructor(cls: type, kind: str) -> Constructor:
    """``cls``'s signature against nn.GRU's (or nn.GRUCell's) optional arguments."""
    imitated = LAYER_OPTIONS if kind == "layer" else CELL_OPTIONS
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return Constructor(dict.fromkeys(imitated, UNREAD), (), imitated)
    var_keyword = any(p.kind == p.VAR_KEYWORD for p in parameters.values())
    takes: dict[str, Any] = {}
    missing = []
    for name in imitated:
        parameter = parameters.get(name)
        if parameter is not None and parameter.kind != parameter.POSITIONAL_ONLY:
            takes[name] = UNREAD if parameter.default is parameter.empty else parameter.default
        elif var_keyword:
            takes[name] = UNREAD
        else:
            missing.append(name)
    return Constructor(takes, tuple(missing), imitated)


@dataclasses.dataclass
class Detection:
    """What a trial build and call of a class found."""

    kind: str  # "layer" (nn.GRU-like) or "cell" (nn.GRUCell-like)
    biases: bool
    constructor: Constructor
    #: Where nn.GRU's parameter names start in the instance ("gru." for a GRU held as a submodule).
    prefix: str = ""
    #: Call that submodule rather than the instance (the instance's own call is not a GRU's).
    call_submodule: bool = False
    #: Then, the part graded, in words (the verdict is about it, not the class).
    graded_part: str = ""
    #: Weights packed by dynamic quantization instead of parameters (torch.ao.nn.quantized.dynamic.GRU).
    packed: bool = False
    notes: list[str] = dataclasses.field(default_factory=list)


def _shapes_match(shapes: dict[str, tuple[int, ...]], names: tuple[str, ...], hidden: int, inputs: int,
                  prefix: str = "") -> str:
    """"" when the weights (and biases, if any) have nn.GRU's shapes, else what differs."""
    names = tuple(prefix + n for n in names)
    want = {names[0]: (3 * hidden, inputs), names[1]: (3 * hidden, hidden),
            names[2]: (3 * hidden,), names[3]: (3 * hidden,)}
    for name in names[:2]:
        if name not in shapes:
            return f"it has no parameter {name}"
    biases = [n for n in names[2:] if n in shapes]
    if len(biases) == 1:
        return f"it has {biases[0]} but not {(set(names[2:]) - set(biases)).pop()}"
    if not biases:
        # Without nn.GRU's bias names, other parameters beside the weights are biases in a layout of
        # its own (Equinox's bias and bias_n, MLX's b and bhn): loaded as bias=False they keep their init.
        beside = [n for n in shapes if n.startswith(prefix) and "." not in n[len(prefix):]
                  and not _NN_GRU_NAME.fullmatch(n[len(prefix):])]
        if beside:
            return (f"it has no {names[2]} or {names[3]}, but other parameters beside its weights "
                    f"({', '.join(beside[:6])}): biases in a layout of its own")
    for name in names[:2] + tuple(biases):
        if shapes[name] != want[name]:
            return f"{name} has shape {shapes[name]}, but nn.GRU's is {want[name]} (built with input_size=" \
                   f"{inputs}, hidden_size={hidden})"
    return ""


def _weights(module: Any) -> tuple[dict[str, tuple[int, ...]], bool]:
    """Name -> shape of the module's weights: its parameters, or, for a dynamically quantized
    GRU (no parameters), its packed weights; and whether they are packed."""
    shapes = {name: tuple(p.shape) for name, p in module.named_parameters()}
    packed = getattr(module, "_weight_bias", None)
    if shapes or not callable(packed) or not callable(getattr(module, "set_weight_bias", None)):
        return shapes, False
    try:
        found = packed()
        return {n: tuple(t.shape) for part in ("weight", "bias") for n, t in found[part].items()}, True
    except Exception:  # noqa: BLE001 - not torch.ao's packed layout after all
        return shapes, False


def _prefixes(shapes: dict[str, tuple[int, ...]], first: str) -> list[str]:
    """Where parameter names ending in ``first`` start, the instance's own first, then the
    shallowest submodules."""
    found = {name[: -len(first)] for name in shapes if name == first or name.endswith("." + first)}
    return sorted(found, key=lambda p: (p.count("."), p))


def _find_layout(shapes: dict[str, tuple[int, ...]], hidden: int, inputs: int) -> tuple[str, str, str]:
    """(kind, prefix, "") for the first fit as a layer, then as a cell; ("", "", why not) otherwise."""
    why = []
    for kind, names in (("layer", LAYER_PARAMETERS), ("cell", CELL_PARAMETERS)):
        prefixes = _prefixes(shapes, names[0]) or [""]
        for prefix in prefixes:
            gap = _shapes_match(shapes, names, hidden, inputs, prefix)
            if not gap:
                return kind, prefix, ""
        why.append(f"as a {kind}: {_shapes_match(shapes, names, hidden, inputs, prefixes[0])}")
    return "", "", "; ".join(why)


def _trial_call(module: Any, kind: str, sizes: tuple[int, int, int, int]) -> tuple[bool, Any]:
    """Call ``module`` once as nn.GRU (or nn.GRUCell) is called: (a GRU's result, what it returned)."""
    import torch

    from conformance.model.toolchains import call_layer

    inputs, hidden, batch, steps = sizes
    with torch.no_grad():
        if kind == "layer":
            returned = call_layer(module, torch.randn(steps, batch, inputs), None)
            ok = (isinstance(returned, (tuple, list)) and len(returned) == 2
                  and all(isinstance(r, torch.Tensor) for r in returned) and returned[0].shape[:2] == (steps, batch))
        else:
            returned = module(torch.randn(batch, inputs), torch.randn(batch, hidden))
            ok = isinstance(returned, torch.Tensor) and tuple(returned.shape) == (batch, hidden)
    return ok, returned


def _called_as_a_layer(module: Any, sizes: tuple[int, int, int, int]) -> bool:
    """Whether ``module`` answers nn.GRU's call with nn.GRU's result (a class read as a cell may be a
    layer built of cells)."""
    try:
        return _trial_call(module, "layer", sizes)[0]
    except Exception:  # noqa: BLE001 - not a layer's call
        return False


def detect(cls: Any, target: str) -> Detection:
    """Build ``cls(input_size, hidden_size)``, find nn.GRU's (or nn.GRUCell's) parameter names
    in it (or in a submodule) and call it once, as nn.GRU and nn.GRUCell are called. Raises
    ``NotGRULike`` saying what was found."""
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
            return _detect(cls, target, needs, (inputs, hidden, batch, steps))
        finally:
            np.random.set_state(numpy_state)


def _detect(cls: Any, target: str, needs: str, sizes: tuple[int, int, int, int]) -> Detection:
    inputs, hidden, batch, steps = sizes
    try:
        module = cls(inputs, hidden)
    except Exception as exc:  # noqa: BLE001 - anything the class raises is the finding
        raise NotGRULike(f"{target}: building {cls.__name__}({inputs}, {hidden}) as nn.GRU is built raised "
                         f"{type(exc).__name__}: {exc}. {needs}") from None
    shapes, packed = _weights(module)
    kind, prefix, gaps = _find_layout(shapes, hidden, inputs)
    if not kind:
        found = ", ".join(f"{n} {tuple(s)}" for n, s in list(shapes.items())[:12]) or "none"
        raise NotGRULike(f"{target} is a torch module but its parameters are not nn.GRU's or nn.GRUCell's "
                         f"({gaps}; its parameters: {found}). {needs}")
    names = CELL_PARAMETERS if kind == "cell" else LAYER_PARAMETERS
    imitated = "nn.GRU" if kind == "layer" else "nn.GRUCell"
    form = "forward(x) -> (output, h_n)" if kind == "layer" else "forward(x, h) -> h'"
    detection = Detection(kind, biases=prefix + names[2] in shapes, constructor=read_constructor(cls, kind),
                          prefix=prefix, packed=packed)
    module.eval()
    try:
        ok, returned = _trial_call(module, kind, sizes)
    except Exception as exc:  # noqa: BLE001 - the class's own error, reported as such
        ok, returned = False, exc
    if not ok and kind == "cell" and _called_as_a_layer(module, sizes):
        where = f" (its submodule {prefix.rstrip('.')})" if prefix else ""
        raise NotGRULike(
            f"{target} is called as nn.GRU is (forward(x) -> (output, h_n)), but its parameters are nn.GRUCell's"
            f"{where}: a layer built of cells, whose parameters are not nn.GRU's. {needs}")
    if not ok and prefix:
        several = _prefixes(shapes, names[0])
        if len(several) > 1:
            # Built of several GRUs (a stack of cells, say): one of them graded is not the class graded.
            said = f"raised {type(returned).__name__}" if isinstance(returned, Exception) else \
                f"returned a {type(returned).__name__}"
            raise NotGRULike(
                f"{target} holds {len(several)} {imitated}-like submodules "
                f"({', '.join(p.rstrip('.') for p in several[:6])}), and calling {cls.__name__} itself as {form} "
                f"{said}: grading one of them would not grade {cls.__name__}. {needs}")
        submodule = module.get_submodule(prefix.rstrip("."))
        try:
            sub_ok, _ = _trial_call(submodule, kind, sizes)
        except Exception:  # noqa: BLE001
            sub_ok = False
        if sub_ok:
            detection.call_submodule = True
            said = f"raised {type(returned).__name__}" if isinstance(returned, Exception) else \
                f"returned a {type(returned).__name__}"
            detection.notes.append(f"graded its submodule {prefix.rstrip('.')} (a {type(submodule).__name__}): "
                                   f"calling {cls.__name__} itself as {form} {said}")
            detection.graded_part = (f"its submodule {prefix.rstrip('.')} only: {cls.__name__} itself, called as "
                                     f"{form}, {said}")
            return detection
    if isinstance(returned, Exception):
        raise NotGRULike(f"{target} has {imitated}'s parameter names, but calling it as {form} raised "
                         f"{type(returned).__name__}: {returned}. {needs}") from None
    if not ok:
        shown = (f"a pair of shapes {[tuple(getattr(r, 'shape', ())) for r in returned]}"
                 if isinstance(returned, (tuple, list)) and len(returned) == 2 else f"a {type(returned).__name__}")
        raise NotGRULike(f"{target} has {imitated}'s parameter names, but {form} returned {shown} (for x of "
                         f"shape ({steps}, {batch}, {inputs})). {needs}")
    if prefix:
        detection.notes.append(f"its GRU is its submodule {prefix.rstrip('.')}: parameters are loaded there, and "
                               f"{cls.__name__} itself is called")
    return detection
