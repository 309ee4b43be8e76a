"""The adapter contract: how an implementation is plugged into the suite.

An adapter is a small class that tells the suite how to build, (optionally)
load and call one GRU implementation. There are two kinds:

* ``CellAdapter``: one time step, ``step(cell, x (B, I), h (B, H)) -> h' (B, H)``.
  The suite unrolls cells into layers itself (any number of layers and both
  directions), so a cell adapter is enough to grade a whole GRU.
* ``LayerAdapter``: a whole sequence, ``nn.GRU``-like:
  ``run(gru, x, h0 or None) -> (output, h_n)``.

Overriding ``load`` (receive canonical parameters in PyTorch layout, gate order
r, z, n) makes the adapter *white-box*: the equation checks then compare the
implementation with the float64 oracle. Without it only black-box properties
are graded and the white-box checks are reported not applicable.

Nothing in an adapter's claims is assumed: a capability that is not claimed
makes the checks that need it "not applicable", never "fail".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

import torch

from conformance.base.params import CanonicalParams

ResetPlacement = Literal["after", "before"]
UpdatePolarity = Literal["pytorch", "complement"]

_DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

#: Human names of the reset placements (the conventions are in ``conformance.base.conventions``).
VARIANT_NAMES: dict[str, str] = {
    "after": "PyTorch GRU (reset applied after the recurrent matmul, b_hn inside)",
    "before": "reset-before GRU (d2l, Keras reset_after=False, ONNX linear_before_reset=0)",
}


@dataclass(frozen=True)
class Capabilities:
    """What an implementation claims to support. Unclaimed means not applicable."""

    #: Runs both directions (layer adapters; the suite provides it for cells).
    bidirectional: bool = False
    #: Stacks layers (layer adapters; the suite provides it for cells).
    multi_layer: bool = False
    #: Accepts time-major input (T, B, I), i.e. ``batch_first=False``.
    time_major: bool = True
    #: Accepts batch-major input (B, T, I), i.e. ``batch_first=True``.
    batch_first: bool = False
    #: Accepts an initial state; without it every run starts from zeros.
    h0: bool = True
    #: Accepts unbatched input (T, I) with h0 (L*D, H).
    unbatched: bool = False
    #: Dtypes the implementation computes in.
    dtypes: tuple[torch.dtype, ...] = (torch.float32,)
    #: Gradients flow through it (``torch.autograd``).
    autograd: bool = False
    #: Accepts variable-length batches (layer adapters): a ``PackedSequence`` given to
    #: ``run`` (the default), or padded input with explicit lengths (override ``run_lengths``).
    lengths: bool = False
    #: Devices it runs on ("cpu", "cuda", "mps"); checks for a device absent from the
    #: machine are not applicable.
    devices: tuple[str, ...] = ("cpu",)
    #: Builds without bias tensors when ``GRUConfig.bias`` is False (``nn.GRU(bias=False)``):
    #: cases without bias are then drawn, whose canonical parameters have no bias tensors.
    bias_free: bool = False
    #: Has biases at all; False: none (every case is drawn with bias=False, as for nn.GRU(bias=False)).
    biases: bool = True
    #: Takes nn.GRU's ``dropout`` (between layers, in training mode only); False: never built with
    #: dropout, and the checks of dropout (contract.dropout-eval, calls.train-dropout) do not apply.
    dropout: bool = True
    #: Runs one direction; with ``bidirectional=True`` and this False: bidirectional only.
    unidirectional: bool = True
    #: Takes one initial state (B, H) for every layer and direction instead of (L*D, B, H)
    #: (``run`` then receives that (B, H) tensor, or None).
    h0_shared: bool = False
    #: What ``run`` returns (layer adapters): "both" (output, h_n); "output", the output
    #: sequence only; or "state", the final state h_n only (a bare tensor, or a pair with None).
    returns: str = "both"
    #: A coarser arithmetic than float32 for float32 inputs, by name (``conformance.base.tolerances.
    #: PRECISIONS``): "int8-dynamic" (int8 weights, activations quantized per call, as
    #: ``torch.ao.nn.quantized.dynamic``). Its float32 comparisons use that precision's
    #: measured tolerances; "" claims float32's.
    precision: str = ""

    def __post_init__(self) -> None:
        from conformance.base.tolerances import PRECISIONS

        if self.precision and self.precision not in PRECISIONS:
            raise ValueError(f"Capabilities(precision={self.precision!r}): not one of {', '.join(PRECISIONS)} "
                             f"(or \"\" for float32's own)")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["dtypes"] = [str(d).removeprefix("torch.") for d in self.dtypes]
        return data


@dataclass(frozen=True)
class GRUConfig:
    """The configuration an instance is built for (mirrors ``nn.GRU``'s arguments)."""

    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    bias: bool = True
    dtype: torch.dtype = torch.float32
    device: str = "cpu"
    #: nn.GRU's dropout between layers, in training mode only: an instance built for
    #: grading is in eval mode, so its results must not depend on it.
    dropout: float = 0.0

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def to_json(self) -> dict[str, Any]:
        return {"input_size": self.input_size, "hidden_size": self.hidden_size, "num_layers": self.num_layers,
                "bidirectional": self.bidirectional, "batch_first": self.batch_first, "bias": self.bias,
                "dtype": str(self.dtype).removeprefix("torch."), "device": self.device, "dropout": self.dropout}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "GRUConfig":
        return cls(input_size=int(data["input_size"]), hidden_size=int(data["hidden_size"]),
                   num_layers=int(data.get("num_layers", 1)), bidirectional=bool(data.get("bidirectional", False)),
                   batch_first=bool(data.get("batch_first", False)), bias=bool(data.get("bias", True)),
                   dtype=_DTYPES[str(data.get("dtype", "float32"))], device=str(data.get("device", "cpu")),
                   dropout=float(data.get("dropout", 0.0)))


class Unsupported(Exception):
    """Raised by an adapter hook for what the implementation does not have (a training mode,
    conversion after construction): the check that needs it is not applicable."""


class _Adapter:
    """Shared declarations of both adapter kinds."""

    kind: ClassVar[str] = ""
    #: Shown in reports; defaults to the class name.
    name: ClassVar[str | None] = None
    #: Where the reset gate acts: "after" the recurrent matmul (PyTorch) or "before" it.
    reset: ClassVar[ResetPlacement] = "after"
    #: The state update's polarity: "pytorch", h' = (1 - z) * n + z * h, or "complement",
    #: h' = (1 - z) * h + z * n (Chung et al. 2014). With "complement", ``load`` receives the
    #: update gate's weights and biases negated, which makes the two the same function.
    update: ClassVar[UpdatePolarity] = "pytorch"
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: Free-text notes shown in the report (quirks, provenance).
    notes: ClassVar[str] = ""
    #: What was graded when it is a part of what was named (the verdict says so), else "".
    graded_part: ClassVar[str] = ""

    def build(self, config: GRUConfig) -> Any:
        """Return a fresh instance of the implementation for ``config``."""
        raise NotImplementedError

    def load(self, instance: Any, params: CanonicalParams) -> None:
        """Copy canonical parameters into ``instance`` (optional: enables white-box checks).

        May also be written ``load(self, instance, params, config)`` to receive the
        ``GRUConfig`` the instance was built for (a cell: its layer's input size)."""
        raise NotImplementedError

    def grads(self, instance: Any) -> Mapping[str, Any]:
        """Optional: after a backward pass, the gradients of ``instance``'s parameters
        in canonical layout (the names and shapes ``load`` receives, e.g. read from
        ``.grad``). Enables the parameter-gradient checks."""
        raise NotImplementedError

    def train_mode(self, instance: Any, training: bool) -> None:
        """Put ``instance`` in training mode (True) or inference mode (False), which
        ``calls.train-mode`` compares. Optional for a torch module: the default calls
        ``instance.train(training)``. An instance that is not a torch module has no training
        mode the suite knows, and the check is not applicable unless this method says what
        training mode means for it (a flag read by the implementation's call, for example)."""
        if not isinstance(instance, torch.nn.Module):
            raise Unsupported(f"the instance is a {type(instance).__name__}, not a torch module, and the adapter "
                              f"has no train_mode method: it has no training mode to grade")
        instance.train(training)

    def convert(self, instance: Any, dtype: torch.dtype) -> Any:
        """Return ``instance`` converted to ``dtype`` after construction, which
        ``calls.converted`` grades. Optional for a torch module: the default returns
        ``instance.to(dtype)`` (what ``.double()`` and ``.half()`` do). An instance that is not a
        torch module cannot be converted unless this method says how, and the check is not
        applicable to it."""
        if not isinstance(instance, torch.nn.Module):
            raise Unsupported(f"the instance is a {type(instance).__name__}, not a torch module, and the adapter "
                              f"has no convert method: it cannot be converted after construction")
        return instance.to(dtype)

    @classmethod
    def is_white_box(cls) -> bool:
        return cls.load is not _Adapter.load

    @classmethod
    def has_grads(cls) -> bool:
        return cls.grads is not _Adapter.grads


class CellAdapter(_Adapter):
    """One GRU step. ``load`` receives the parameters of a single layer and direction
    (keys ``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``)."""

    kind: ClassVar[str] = "cell"

    def step(self, cell: Any, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Return h' (B, H) for input x (B, I) and state h (B, H)."""
        raise NotImplementedError


class LayerAdapter(_Adapter):
    """A whole GRU layer stack, ``nn.GRU``-like."""

    kind: ClassVar[str] = "layer"

    def run(
        self, gru: Any, x: torch.Tensor, h0: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(output, h_n)`` exactly as the implementation gives them.

        ``x`` is (T, B, I), or (B, T, I) when built with ``batch_first``, or (T, I)
        unbatched; ``h0`` is (L*D, B, H) or None. ``output`` should be (T, B, D*H)
        (batch-first: (B, T, D*H)) and ``h_n`` (L*D, B, H).
        """
        raise NotImplementedError

    def run_lengths(
        self, gru: Any, x: torch.Tensor, lengths: torch.Tensor, h0: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Optional (claim ``lengths``): padded ``x`` laid out as for ``run`` and the
        int64 CPU tensor ``lengths`` (B,). Return ``(output, h_n)`` as ``run`` does,
        output padded to T steps (a ``PackedSequence`` is accepted too).

        Without this method, an adapter claiming ``lengths`` gets ``run`` called with
        ``pack_padded_sequence(x, lengths, batch_first=..., enforce_sorted=False)``.
        """
        raise NotImplementedError

    @classmethod
    def takes_lengths(cls) -> bool:
        return cls.run_lengths is not LayerAdapter.run_lengths


Adapter = CellAdapter | LayerAdapter


@dataclass
class AdapterInfo:
    """A JSON-friendly description of an adapter's declarations."""

    kind: str
    name: str
    reset: str
    white_box: bool
    #: The update polarity claimed ("pytorch" or "complement").
    update: str = "pytorch"
    capabilities: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    #: What was graded when it is a part of what was named ("its submodule gru ..."), else "".
    graded_part: str = ""
    #: The adapter reads parameter gradients in canonical layout (``grads``).
    parameter_grads: bool = False
    #: A layer adapter taking explicit lengths (``run_lengths``) rather than a PackedSequence.
    takes_lengths: bool = False

    @classmethod
    def of(cls, adapter: _Adapter) -> "AdapterInfo":
        return cls(
            kind=adapter.kind,
            name=adapter.name or type(adapter).__name__,
            reset=adapter.reset,
            update=adapter.update,
            white_box=adapter.is_white_box(),
            capabilities=adapter.capabilities.to_json(),
            notes=adapter.notes,
            graded_part=adapter.graded_part,
            parameter_grads=adapter.has_grads(),
            takes_lengths=isinstance(adapter, LayerAdapter) and adapter.takes_lengths(),
        )
