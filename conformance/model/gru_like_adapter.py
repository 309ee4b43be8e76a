"""Grading a module class without an adapter: nn.GRU-like and nn.GRUCell-like classes.

A class with ``nn.GRU``'s constructor arguments, parameter names and call form
(``forward(x, h0=None) -> (output, h_n)``), or ``nn.GRUCell``'s (``forward(x, h) -> h'``),
is wrapped in an adapter here, in the process that imports it (the implementation's
worker; the grading process only names it). The wrapper claims the whole contract of
the class imitated (the claims of ``torch.nn.GRU`` and ``torch.nn.GRUCell`` in
``implementations/torch_reference.py``), so a missing feature shows as a failure, not as
"not applicable"; the command line narrows the claims (``--no-bidirectional``,
``--dtypes float32`` ..., ``conformance.commands.claim_options``), which reach the worker appended
to the name it imports: ``path/to/file.py:MyGRU#no-bidirectional,dtypes=float32``
(the grammar of names is ``conformance.model.naming``).

What makes a class nn.GRU-like is found by a trial build and call (``conformance.model.gru_like``:
its constructor's defaults, its GRU on a submodule, packed weights). A class that is
neither an adapter nor nn.GRU-like gets one message saying what each would need, and that
``python -m conformance adapt`` writes an adapter for a GRU in its own layout. A toolchain
named with the class (``toolchain=compile``, ``conformance.model.toolchains``) is applied after
the parameters are loaded.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

# NotGRULike, detect and TRIAL are also named through this module (conformance.grading.loading, conformance.commands.adapt).
from conformance.model.gru_like import (CELL_PARAMETERS, LAYER_OPTIONS, TRIAL, Detection, NotGRULike,
                                        detect)  # noqa: F401
from conformance.model.naming import BUILD_OPTIONS, CONVENTION_CLAIMS, format_narrowing, parse_narrowing


def is_adapter(obj: Any) -> bool:
    from conformance.model.contract import CellAdapter, LayerAdapter

    if isinstance(obj, type):
        return issubclass(obj, (CellAdapter, LayerAdapter))
    return isinstance(obj, (CellAdapter, LayerAdapter))


def _construct(cls: type, config: Any, options: dict[str, Any], missing: tuple[str, ...]) -> Any:
    """``cls(input_size, hidden_size, **options)``; where an argument the class does not take was
    passed, its error names the option that leaves out the cases needing it."""
    from conformance.model.gru_like import NARROWED_BY

    try:
        return cls(config.input_size, config.hidden_size, **options)
    except TypeError as exc:
        absent = [n for n in options if n in missing and n in NARROWED_BY]
        if not absent:
            raise
        raise TypeError(f"{exc} ({cls.__name__} takes no {', '.join(absent)} argument: "
                        f"{', '.join(NARROWED_BY[n] for n in absent)} leaves out the cases that need one)") from None


def full_contract(kind: str) -> Any:
    """The claims of the class imitated: everything nn.GRU ("layer") or nn.GRUCell ("cell")
    does. Stated here, not read from a graded implementation (a self-test holds the
    registered torch references to the same claims)."""
    import torch

    from conformance.model.contract import Capabilities

    common = {"bidirectional": True, "multi_layer": True, "unbatched": True, "autograd": True, "bias_free": True,
              "dtypes": (torch.float32, torch.float64, torch.float16, torch.bfloat16),
              "devices": ("cpu", "cuda", "mps")}
    if kind == "cell":
        return Capabilities(**common)
    return Capabilities(**common, time_major=True, batch_first=True, h0=True, lengths=True)


def narrowed(caps: Any, claims: dict[str, Any]) -> Any:
    """``caps`` with ``claims`` applied; a claim can only be taken away, never added."""
    import torch

    fields = {f.name: f for f in dataclasses.fields(caps)}
    changes: dict[str, Any] = {}
    for key, value in claims.items():
        if key in CONVENTION_CLAIMS or key in BUILD_OPTIONS:
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


def wrap(cls: Any, target: str, narrowing: str = "") -> Any:
    """An adapter instance for the nn.GRU-like or nn.GRUCell-like class ``cls``; raises
    ``NotGRULike`` when it is neither, ``ValueError`` for a narrowing that does not parse."""
    from conformance.model import toolchains

    claims = parse_narrowing(narrowing)
    toolchain = claims.pop("toolchain", "")
    found = detect(cls, target)
    imitated = "nn.GRU" if found.kind == "layer" else "nn.GRUCell"
    notes = [f"graded without an adapter: {cls.__name__} has {imitated}'s constructor, parameter names and call "
             f"form, so it claims everything {imitated} does"]
    if claims:
        notes.append(f"claims changed on the command line: {format_narrowing(claims)}")
    caps = narrowed(full_contract(found.kind), claims)
    if found.kind != "layer" and toolchain:
        raise ValueError(f"toolchain={toolchain}: toolchains apply to nn.GRU-like layers; {cls.__name__} is a cell")
    if found.packed and toolchain:
        raise ValueError(f"toolchain={toolchain}: {cls.__name__} is dynamically quantized already (packed weights)")
    if found.packed or toolchain:
        # Claims the product cannot carry (the user's own narrowing of dtypes wins).
        taken, why = toolchains.narrowing_of(toolchain or "quantize-dynamic")
        caps = narrowed(caps, {k: v for k, v in taken.items() if k != "dtypes" or not claims.get("dtypes")})
    if found.packed:
        notes.append("its weights are packed by dynamic quantization (int8): each load quantizes the parameters "
                     "as quantize_dynamic does (torch.ao's from_float)")
        notes += why
    if toolchain:
        chain = toolchains.TOOLCHAINS[toolchain]
        too_old = toolchains.unverified(chain, _torch_version())
        if too_old:
            raise ValueError(f"toolchain={toolchain}: {too_old}")
        notes.append(f"toolchain {toolchain}: {chain.summary}")
        notes += toolchains.configure(chain) + why
        notes.append(_what_ran(cls, found, chain))
    notes += found.notes + found.constructor.notes()
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
        "graded_part": found.graded_part,
        "module_class": cls,
        "detection": found,
        "toolchain": toolchain,
    })
    return adapter_class()


def _what_ran(cls: Any, found: Detection, chain: Any) -> str:
    """The toolchain's trial on the trial build: what it did, or why it failed."""
    import torch

    from conformance.model import toolchains

    inputs, hidden, batch, steps = (TRIAL[k] for k in ("input_size", "hidden_size", "batch", "steps"))
    with torch.random.fork_rng(devices=[]):
        module = cls(inputs, hidden, **found.constructor.options(LAYER_OPTIONS)).eval()
        if found.call_submodule:
            module = module.get_submodule(found.prefix.rstrip("."))
        try:
            return toolchains.what_ran(chain, module, torch.randn(steps, batch, inputs))
        except Exception as exc:  # noqa: BLE001 - the toolchain's own failure is what the grading will show
            return f"a trial of {chain.name} raised {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"


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


def _pack_into(module: Any, params: Any, config: Any) -> None:
    """Canonical parameters into a dynamically quantized GRU, as quantize_dynamic packs them:
    an nn.GRU of the same configuration, loaded, then converted by torch.ao's from_float."""
    import torch

    reference = torch.nn.GRU(config.input_size, config.hidden_size, num_layers=config.num_layers, bias=config.bias,
                             batch_first=config.batch_first, bidirectional=config.bidirectional)
    _copy_into(reference, dict(params.items()), lambda name: name)
    reference.qconfig = torch.ao.quantization.default_dynamic_qconfig
    converted = type(module).from_float(reference)
    module._all_weight_values = converted._all_weight_values


def _gradients(module: Any, rename: Any, names: list[str]) -> dict[str, Any]:
    own = dict(module.named_parameters())
    return {canonical: own[rename(canonical)].grad for canonical in names if rename(canonical) in own}


@functools.cache
def _bases() -> tuple[type, type]:
    """The wrappers' base classes, made on first use: they import torch, which the grading
    process does not need for parsing narrowing options."""
    from conformance.model.contract import CellAdapter, LayerAdapter
    from conformance.model.toolchains import TOOLCHAINS, Products, Transformed, call_layer

    class LayerModule(LayerAdapter):
        """nn.GRU-like: built with nn.GRU's arguments, loaded by name, called as nn.GRU;
        passed through a toolchain when one is named."""

        module_class: Any = None
        detection: Detection
        toolchain = ""

        def __init__(self) -> None:
            self.products = Products()

        def _module(self, config: Any) -> Any:
            needed = {"num_layers": config.num_layers, "bias": config.bias, "batch_first": config.batch_first,
                      "dropout": config.dropout, "bidirectional": config.bidirectional}
            module = _construct(self.module_class, config, self.detection.constructor.options(needed),
                                self.detection.constructor.missing)
            if not self.detection.packed:
                module = module.to(device=config.device, dtype=config.dtype)
            return module.eval()

        def build(self, config: Any) -> Any:
            module = self._module(config)
            if not self.toolchain:
                return module
            shared = self.products.shared(config, lambda: self._module(config))
            return Transformed(TOOLCHAINS[self.toolchain], module, shared, 0 if config.batch_first else 1)

        def load(self, instance: Any, params: Any, config: Any) -> None:
            module = instance.module if isinstance(instance, Transformed) else instance
            if self.detection.packed:
                _pack_into(module, params, config)
            else:
                prefix = self.detection.prefix
                _copy_into(module, dict(params.items()), lambda name: prefix + name)
            if isinstance(instance, Transformed):
                instance.loaded()

        def run(self, instance: Any, x: Any, h0: Any) -> Any:
            if isinstance(instance, Transformed):
                return instance(x, h0)
            if self.detection.call_submodule:
                instance = instance.get_submodule(self.detection.prefix.rstrip("."))
            return call_layer(instance, x, h0)

        def grads(self, instance: Any) -> dict[str, Any]:
            prefix = self.detection.prefix
            if isinstance(instance, Transformed):
                own = instance.parameters_with_gradients()
            else:
                own = dict(instance.named_parameters())
            return {name[len(prefix):]: p.grad for name, p in own.items() if name.startswith(prefix) and
                    re.fullmatch(r"(weight|bias)_(ih|hh)_l\d+(_reverse)?", name[len(prefix):])}

    class CellModule(CellAdapter):
        """nn.GRUCell-like: built with nn.GRUCell's arguments, loaded by name, called as nn.GRUCell."""

        module_class: Any = None
        detection: Detection
        toolchain = ""

        def build(self, config: Any) -> Any:
            options = self.detection.constructor.options({"bias": config.bias})
            module = _construct(self.module_class, config, options, self.detection.constructor.missing)
            return module.to(device=config.device, dtype=config.dtype).eval()

        def load(self, module: Any, params: Any) -> None:
            prefix = self.detection.prefix
            _copy_into(module, dict(params.items()), lambda name: prefix + name.removesuffix("_l0"))

        def step(self, module: Any, x: Any, h: Any) -> Any:
            if self.detection.call_submodule:
                module = module.get_submodule(self.detection.prefix.rstrip("."))
            return module(x, h)

        def grads(self, module: Any) -> dict[str, Any]:
            prefix = self.detection.prefix
            return _gradients(module, lambda name: prefix + name.removesuffix("_l0"),
                              [f"{n}_l0" for n in CELL_PARAMETERS])

    return LayerModule, CellModule


def _torch_version() -> str:
    import torch

    return str(torch.__version__)
