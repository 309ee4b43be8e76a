"""An implementation's parameter tensors ("slots"): found, read and written in place.

A torch module's slots are its ``nn.Parameter``s (``named_parameters``); a NumPy
object's are the float arrays among its attributes, in a dict attribute or in a list
attribute (``self.Wz``, ``self.params["W_z"]``, ``self.weights[0]``). Each slot knows
the code that reaches it from the instance (``.x_to["r"].weight``, ``.params["W_z"]``),
which the written adapter uses. Plain tensors that are not parameters, and arrays
nested deeper than one dict or list, are not found (the README says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Slot:
    """One tensor: its display name, the code reaching it from the instance, its shape,
    the module that owns it (a Linear's weight and bias share one) and the object."""

    name: str
    access: str
    shape: tuple[int, ...]
    owner: str = ""
    ref: Any = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "access": self.access, "shape": list(self.shape), "owner": self.owner}


def framework_of(obj: Any) -> str:
    """"torch" for a torch module, "numpy" for anything holding NumPy arrays."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency of the suite
        return "numpy"
    return "torch" if isinstance(obj, torch.nn.Module) else "numpy"


def _indexes_as(current: Any, part: str) -> bool:
    """``current[part]`` (an int for digits) is its child ``part``: containers, and the
    TorchScript modules a ModuleList or ModuleDict becomes (which have no ``get_parameter``)."""
    try:
        return current[int(part) if part.isdigit() else part] is getattr(current, part)
    except Exception:  # noqa: BLE001 - not indexable that way
        return False


def _torch_access(module: Any, dotted: str) -> str:
    """``"x_to.r.weight"`` -> ``'.x_to["r"].weight'``, ``"layers.0.cell.w"`` -> ``".layers[0].cell.w"``:
    indexing where the parent is a container (TorchScript ones too), attributes elsewhere."""
    code, current = "", module
    for part in dotted.split("."):
        if _indexes_as(current, part):
            code += f"[{part}]" if part.isdigit() else f'["{part}"]'
        elif part.isidentifier():
            code += f".{part}"
        else:
            code += f'.__getattr__("{part}")'
        current = getattr(current, part, None)
    return code


def reaches(module: Any, access: str, param: Any) -> bool:
    """The written access code, run on the instance, gives the parameter itself."""
    try:
        return eval(f"instance{access}", {}, {"instance": module}) is param  # noqa: S307 - our own code
    except Exception:  # noqa: BLE001
        return False


def torch_slots(module: Any) -> list[Slot]:
    slots = []
    for name, param in module.named_parameters():
        if not param.dtype.is_floating_point:
            continue
        owner = name.rpartition(".")[0]
        access = _torch_access(module, name)
        if not reaches(module, access, param):
            raise ValueError(f"the code written to reach parameter {name}, instance{access}, does not reach it")
        slots.append(Slot(name, access, tuple(param.shape), owner, param))
    return slots


def _float_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size > 0


def numpy_slots(obj: Any) -> list[Slot]:
    slots = []
    for attr, value in vars(obj).items():
        if _float_array(value):
            slots.append(Slot(attr, f".{attr}", tuple(value.shape), "", value))
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and _float_array(item):
                    slots.append(Slot(f'{attr}["{key}"]', f'.{attr}["{key}"]', tuple(item.shape), "", item))
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if _float_array(item):
                    slots.append(Slot(f"{attr}[{i}]", f".{attr}[{i}]", tuple(item.shape), "", item))
    return slots


def find_slots(obj: Any) -> list[Slot]:
    return torch_slots(obj) if framework_of(obj) == "torch" else numpy_slots(obj)


class Writer:
    """Writes values into slots in place, keeping each slot's dtype (and device), and puts
    back the values the implementation was built with."""

    def __init__(self, slots: list[Slot]) -> None:
        self.slots = slots
        self.built = [self._read(s) for s in slots]

    @staticmethod
    def _read(slot: Slot) -> np.ndarray:
        ref = slot.ref
        if isinstance(ref, np.ndarray):
            return ref.astype(np.float64, copy=True)
        return ref.detach().to("cpu").double().numpy().copy()

    @staticmethod
    def _write(slot: Slot, values: np.ndarray) -> None:
        ref = slot.ref
        if isinstance(ref, np.ndarray):
            ref[...] = values
            return
        import torch

        with torch.no_grad():
            ref.copy_(torch.as_tensor(np.ascontiguousarray(values), dtype=ref.dtype, device=ref.device))

    def write(self, values: dict[int, np.ndarray], known: set[int]) -> None:
        """Slot ``i`` gets ``values[i]``; other slots of ``known`` get zeros (a probe sets only
        what it tests); the rest keep the values they were built with."""
        for i, slot in enumerate(self.slots):
            if i in values:
                self._write(slot, values[i])
            elif i in known:
                self._write(slot, np.zeros(slot.shape))
            else:
                self._write(slot, self.built[i])

    def restore(self) -> None:
        for slot, values in zip(self.slots, self.built, strict=True):
            self._write(slot, values)
