"""Canonical GRU parameters: PyTorch names and layout, gate order r, z, n.

``weight_ih_l{k}`` is (3H, in), ``weight_hh_l{k}`` (3H, H), ``bias_ih_l{k}`` and
``bias_hh_l{k}`` (3H,); the reverse direction adds the suffix ``_reverse``.
Layer k > 0 takes D*H inputs. Values are kept in float64 NumPy and converted
to torch tensors of the requested dtype on demand, so the oracle and the
implementation start from exactly the same numbers. Importing this module does not
import torch (the oracle is pure NumPy): ``tensors`` imports it when called.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

GATES = ("r", "z", "n")
Gate = Literal["r", "z", "n"]


def param_name(kind: str, layer: int, reverse: bool) -> str:
    """``param_name("weight_ih", 1, True) == "weight_ih_l1_reverse"``."""
    return f"{kind}_l{layer}{'_reverse' if reverse else ''}"


def gate_rows(array: np.ndarray | torch.Tensor, gate: Gate):
    """The rows of one gate in a stacked (3H, ...) weight or (3H,) bias."""
    hidden = array.shape[0] // 3
    i = GATES.index(gate)
    return array[i * hidden : (i + 1) * hidden]


class CanonicalParams(Mapping[str, np.ndarray]):
    """A read-only mapping from PyTorch parameter names to float64 arrays."""

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        *,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        bias: bool = True,
    ) -> None:
        self._arrays = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.bias = bias

    # Mapping protocol
    def __getitem__(self, key: str) -> np.ndarray:
        return self._arrays[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def __repr__(self) -> str:
        return (
            f"CanonicalParams(input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"num_layers={self.num_layers}, bidirectional={self.bidirectional}, bias={self.bias})"
        )

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.num_directions * self.hidden_size

    def get(self, kind: str, layer: int = 0, reverse: bool = False, gate: Gate | None = None):  # type: ignore[override]
        """One array, e.g. ``get("weight_hh", 0, gate="n")`` is W_hn (H, H).

        Missing biases (``bias=False``) read as zeros, which is what they mean.
        """
        name = param_name(kind, layer, reverse)
        if name in self._arrays:
            array = self._arrays[name]
        elif kind.startswith("bias"):
            array = np.zeros(3 * self.hidden_size)
        else:
            raise KeyError(name)
        return array if gate is None else gate_rows(array, gate)

    def cell(self, layer: int = 0, reverse: bool = False) -> "CanonicalParams":
        """The parameters of one layer and direction, renamed as layer 0 forward:
        what a cell adapter's ``load`` receives."""
        arrays = {
            param_name(kind, 0, False): self._arrays[param_name(kind, layer, reverse)]
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            if param_name(kind, layer, reverse) in self._arrays
        }
        return CanonicalParams(
            arrays,
            input_size=self.layer_input_size(layer),
            hidden_size=self.hidden_size,
            bias=self.bias,
        )

    def tensors(self, dtype: torch.dtype | None = None, device: str = "cpu") -> dict[str, torch.Tensor]:
        """Fresh torch tensors (float32 unless ``dtype``), a state dict that
        ``nn.GRU.load_state_dict`` accepts."""
        import torch

        dtype = torch.float32 if dtype is None else dtype
        return {k: torch.tensor(v, dtype=dtype, device=device) for k, v in self._arrays.items()}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> "CanonicalParams":
        """Parameters named as ``nn.GRU``'s state dict (``weight_ih_l0``, ..., ``_reverse``),
        as NumPy arrays, nested lists or CPU tensors; the sizes are read from the names and
        shapes: ``CanonicalParams.from_arrays(torch_gru.state_dict())``."""
        values = {name: _float64(value) for name, value in arrays.items()}
        found = [re.fullmatch(r"(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?", name) for name in values]
        unknown = [name for name, match in zip(values, found) if match is None]
        if unknown:
            raise ValueError(f"got parameters named {unknown}, but nn.GRU's are weight_ih_l<k>, weight_hh_l<k>, "
                             f"bias_ih_l<k>, bias_hh_l<k> (and _reverse)")
        if "weight_ih_l0" not in values or "weight_hh_l0" not in values:
            raise ValueError(f"got parameters {sorted(values)}, but weight_ih_l0 and weight_hh_l0 are needed")
        hidden = values["weight_hh_l0"].shape[-1]
        layers = 1 + max(int(match.group(2)) for match in found if match is not None)
        params = cls(values, input_size=values["weight_ih_l0"].shape[-1], hidden_size=hidden, num_layers=layers,
                     bidirectional="weight_ih_l0_reverse" in values, bias="bias_ih_l0" in values)
        params._check_shapes()
        return params

    def _check_shapes(self) -> None:
        """Every array of every layer and direction present, with nn.GRU's shape."""
        hidden = self.hidden_size
        for layer in range(self.num_layers):
            for reverse in (False, True)[: self.num_directions]:
                wanted = {"weight_ih": (3 * hidden, self.layer_input_size(layer)), "weight_hh": (3 * hidden, hidden)}
                if self.bias:
                    wanted |= {"bias_ih": (3 * hidden,), "bias_hh": (3 * hidden,)}
                for kind, shape in wanted.items():
                    name = param_name(kind, layer, reverse)
                    if name not in self._arrays:
                        raise ValueError(f"got no {name}, but a GRU of {self.num_layers} layer(s)"
                                         f"{', bidirectional' if self.bidirectional else ''} needs it")
                    if self._arrays[name].shape != shape:
                        raise ValueError(f"got {name} of shape {self._arrays[name].shape}, but should be {shape} "
                                         f"(H = {hidden}, gate blocks r, z, n stacked along the first axis)")

    def scaled(self, factor: float) -> "CanonicalParams":
        return self.replace({k: v * factor for k, v in self._arrays.items()})

    def replace(self, arrays: Mapping[str, np.ndarray]) -> "CanonicalParams":
        """A copy with some arrays replaced (used to build probes and mutants)."""
        merged = dict(self._arrays)
        merged.update(arrays)
        return CanonicalParams(
            merged,
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            bias=self.bias,
        )

    def without_b_hn(self) -> "CanonicalParams":
        """A copy with b_hn zero in every layer and direction (where the reset placements
        agree: probes use it to tell other deviations from the placement)."""
        arrays = {}
        for name, array in self._arrays.items():
            if name.startswith("bias_hh"):
                arrays[name] = np.array(array, copy=True)
                arrays[name][2 * self.hidden_size:] = 0.0
        return self.replace(arrays)


def _float64(value: Any) -> np.ndarray:
    """A float64 array of an array, a nested list or a (CPU) tensor, detached."""
    if hasattr(value, "detach"):
        value = value.detach()
        value = value.cpu() if hasattr(value, "cpu") else value
        value = value.double() if hasattr(value, "double") else value
        value = value.numpy() if hasattr(value, "numpy") else value
    return np.asarray(value, dtype=np.float64)


def random_params(
    rng: np.random.Generator,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    bias: bool = True,
    scale: float = 1.0,
) -> CanonicalParams:
    """Random parameters near PyTorch's default init U(-1/sqrt(H), 1/sqrt(H)).

    Every gate gets its own independent weights (constant weights hide swapped
    gates and reset placement), and b_hn is kept away from zero so that where
    it sits (inside or outside the reset product) is visible.
    """
    k = scale / np.sqrt(hidden_size)
    arrays: dict[str, np.ndarray] = {}
    for layer in range(num_layers):
        in_size = input_size if layer == 0 else (2 if bidirectional else 1) * hidden_size
        for reverse in (False, True)[: 2 if bidirectional else 1]:
            arrays[param_name("weight_ih", layer, reverse)] = rng.uniform(-k, k, (3 * hidden_size, in_size))
            arrays[param_name("weight_hh", layer, reverse)] = rng.uniform(-k, k, (3 * hidden_size, hidden_size))
            if bias:
                arrays[param_name("bias_ih", layer, reverse)] = rng.uniform(-k, k, 3 * hidden_size)
                b_hh = rng.uniform(-k, k, 3 * hidden_size)
                b_hn = rng.choice([-1.0, 1.0], hidden_size) * rng.uniform(0.3 * k, k, hidden_size)
                b_hh[2 * hidden_size :] = b_hn
                arrays[param_name("bias_hh", layer, reverse)] = b_hh
    return CanonicalParams(
        arrays,
        input_size=input_size,
        hidden_size=hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional,
        bias=bias,
    )
