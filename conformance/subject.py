"""The implementation under test, seen through its adapter as one uniform layer.

Data flows one way: a generated ``Case`` (float64 arrays) is converted to the
adapter's dtype and layout, the adapter runs, and what it returns is checked
for readability and converted back to time-major float64 arrays. Everything the
adapter raises becomes an ``AdapterError`` (verdict "error"), never a crash of
the suite. Cell adapters are unrolled here, one cell per layer and direction.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from conformance.adapter import AdapterInfo, CellAdapter, GRUConfig, LayerAdapter, _Adapter
from conformance.cases import DTYPES, Case, CaseSpec, dtype_name
from conformance.params import CanonicalParams


class AdapterError(Exception):
    """The adapter raised, or returned something the suite cannot read."""

    def __init__(self, message: str, call: str = "") -> None:
        super().__init__(f"{message} [{call}]" if call else message)
        self.call = call


def _shape(t: Any) -> str:
    return "x".join(str(s) for s in t.shape) if hasattr(t, "shape") else type(t).__name__


def describe_call(name: str, x: torch.Tensor, h0: torch.Tensor | None) -> str:
    h = "None" if h0 is None else f"({_shape(h0)})"
    return f"{name}(x=({_shape(x)}) {dtype_name(x.dtype)}, h0={h})"


@dataclass
class Instance:
    """A built (and, for white-box adapters, loaded) implementation."""

    config: GRUConfig
    #: The layer object, or for cell adapters one cell per (layer, direction).
    impl: Any
    cells: dict[tuple[int, int], Any] = field(default_factory=dict)


@dataclass
class Result:
    """What one call returned, read into time-major float64 arrays."""

    output: np.ndarray  # (T, B, D*H), or (T, D*H) unbatched
    h_n: np.ndarray  # (L*D, B, H), or (L*D, H) unbatched
    output_tensor: torch.Tensor
    h_n_tensor: torch.Tensor
    call: str
    #: Shapes that differed from nn.GRU's but could be read (same number of elements).
    shape_problems: list[str] = field(default_factory=list)


def _as_tensor(value: Any, what: str, call: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    raise AdapterError(f"{what} is a {type(value).__name__}, not a tensor", call)


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy().copy()


class Subject:
    """An adapter plus its identity: what the checks grade."""

    def __init__(self, impl_id: str, adapter: _Adapter, *, source: str = "", entry: Any = None) -> None:
        if not isinstance(adapter, (CellAdapter, LayerAdapter)):
            raise TypeError(
                f"{type(adapter).__name__} is not a CellAdapter or LayerAdapter subclass"
            )
        self.id = impl_id
        self.adapter = adapter
        self.source = source
        self.entry = entry
        self.info = AdapterInfo.of(adapter)
        # Report what is graded: for cells, the claims completed by the suite's unroller.
        self.info.capabilities = self.capabilities.to_json()
        #: Largest error seen per (check id, dtype) in passing comparisons; read by the plugin.
        self.measurements: dict[str, dict[str, Any]] = {}
        #: The last case a check drew: the minimal one after hypothesis has shrunk.
        self.current_spec: CaseSpec | None = None

    def __repr__(self) -> str:
        # Shown in hypothesis' falsifying examples; keep it the id.
        return f"<{self.id}>"

    # Declarations -----------------------------------------------------------
    @property
    def name(self) -> str:
        return self.info.name

    @property
    def kind(self) -> str:
        return self.adapter.kind

    @property
    def is_cell(self) -> bool:
        return isinstance(self.adapter, CellAdapter)

    @property
    def white_box(self) -> bool:
        return self.info.white_box

    @property
    def reset(self) -> str:
        return self.adapter.reset

    @property
    def capabilities(self):
        """The adapter's claims; for cells, completed with what the suite's unroller
        provides (layers, directions, time-major layout, h0), since a cell has no say."""
        caps = self.adapter.capabilities
        if self.is_cell:
            caps = dataclasses.replace(caps, bidirectional=True, multi_layer=True, time_major=True,
                                       batch_first=False, h0=True, unbatched=False)
        return caps

    def dtypes(self, allowed: tuple[str, ...] = ("float32", "float64")) -> list[str]:
        claimed = [dtype_name(d) for d in self.capabilities.dtypes]
        return [d for d in claimed if d in allowed]

    def layouts(self) -> list[bool]:
        """Supported values of batch_first."""
        if self.is_cell:
            return [False]
        caps = self.capabilities
        return [v for v, ok in ((False, caps.time_major), (True, caps.batch_first)) if ok]

    # Measurements -----------------------------------------------------------
    def record_error(self, check_id: str, dtype: str, error: float, tolerance: Any = None) -> None:
        """Keep the largest error a check saw per dtype (shown against the tolerance)."""
        per_dtype = self.measurements.setdefault(check_id, {}).setdefault("max_error", {})
        if not np.isfinite(error) or error > per_dtype.get(dtype, -1.0):
            per_dtype[dtype] = float(error)

    def record(self, check_id: str, key: str, value: Any) -> None:
        self.measurements.setdefault(check_id, {})[key] = value

    # Building -----------------------------------------------------------------
    def _build_one(self, config: GRUConfig, seed: int) -> Any:
        call = f"{self.name}.build({config})"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # implementations with their own init are built reproducibly
            try:
                return self.adapter.build(config)
            except Exception as exc:
                raise AdapterError(f"build raised {type(exc).__name__}: {exc}", call) from exc

    def _load_one(self, obj: Any, params: CanonicalParams, dtype: torch.dtype) -> None:
        call = f"{self.name}.load({params!r})"
        try:
            self.adapter.load(obj, params)
        except Exception as exc:
            raise AdapterError(f"load raised {type(exc).__name__}: {exc}", call) from exc

    def instantiate(self, case: Case, params: CanonicalParams | None = None, *, load: bool = True) -> Instance:
        """Build a fresh implementation for the case's configuration and, for
        white-box adapters, load ``params`` (default: the case's own)."""
        config = case.config
        params = case.params if params is None else params
        if not self.is_cell:
            impl = self._build_one(config, case.spec.seed)
            if load and self.white_box:
                self._load_one(impl, params, config.dtype)
            return Instance(config, impl)
        cells = {}
        for layer in range(config.num_layers):
            for d in range(config.num_directions):
                cell_config = GRUConfig(
                    input_size=params.layer_input_size(layer),
                    hidden_size=config.hidden_size,
                    dtype=config.dtype,
                    device=config.device,
                )
                cell = self._build_one(cell_config, case.spec.seed + 7919 * (2 * layer + d))
                if load and self.white_box:
                    self._load_one(cell, params.cell(layer, reverse=d == 1), config.dtype)
                cells[(layer, d)] = cell
        return Instance(config, None, cells)

    # Calling ------------------------------------------------------------------
    def prepare(
        self, instance: Instance, x: np.ndarray, h0: np.ndarray | None, *, unbatched: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Time-major float64 arrays -> tensors in the instance's dtype and layout."""
        dtype, device = instance.config.dtype, instance.config.device
        # torch.tensor keeps a NumPy array's strides, and fancy indexing (x[:, order]) makes
        # strided arrays: only inputs.non-contiguous should hand an implementation strided tensors.
        xt = torch.tensor(np.ascontiguousarray(x), dtype=dtype, device=device)
        ht = None if h0 is None else torch.tensor(np.ascontiguousarray(h0), dtype=dtype, device=device)
        if unbatched:
            xt = xt[:, 0, :].contiguous()
            ht = None if ht is None else ht[:, 0, :].contiguous()
        elif instance.config.batch_first:
            xt = xt.transpose(0, 1).contiguous()
        return xt, ht

    def invoke(
        self,
        instance: Instance,
        x: torch.Tensor,
        h0: torch.Tensor | None,
        *,
        grad: bool = False,
        lengths: torch.Tensor | None = None,
    ) -> tuple[Any, Any, list[str]]:
        """Call the implementation; returns (output, h_n, shape problems) as given.
        With ``lengths`` (B,), ``x`` is a padded variable-length batch (layer adapters)."""
        context = contextlib.nullcontext() if grad else torch.no_grad()
        with context:
            if self.is_cell:
                if lengths is not None:
                    raise AdapterError("variable-length batches are graded on layer adapters only")
                return self._unroll(instance, x, h0)
            if lengths is not None:
                return self._invoke_lengths(instance, x, h0, lengths)
            call = describe_call(f"{self.name}.run", x, h0)
            try:
                returned = self.adapter.run(instance.impl, x, h0)  # type: ignore[union-attr]
            except Exception as exc:
                raise AdapterError(f"run raised {type(exc).__name__}: {exc}", call) from exc
            if not isinstance(returned, (tuple, list)) or len(returned) != 2:
                raise AdapterError(
                    f"run returned {type(returned).__name__}, but should return (output, h_n)", call
                )
            return returned[0], returned[1], []

    def _invoke_lengths(self, instance: Instance, x: torch.Tensor, h0: torch.Tensor | None,
                        lengths: torch.Tensor) -> tuple[Any, Any, list[str]]:
        """``run_lengths`` if the adapter has it, else ``run`` on a PackedSequence;
        a packed output is padded back to the input's T steps (zeros past each length)."""
        from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

        batch_first = instance.config.batch_first
        shown = f"lengths={lengths.tolist()}"
        try:
            if self.adapter.takes_lengths():  # type: ignore[union-attr]
                call = describe_call(f"{self.name}.run_lengths", x, h0).replace(", h0=", f", {shown}, h0=")
                returned = self.adapter.run_lengths(instance.impl, x, lengths, h0)  # type: ignore[union-attr]
            else:
                call = describe_call(f"{self.name}.run", x, h0).replace(
                    "(x=", "(x=pack_padded_sequence(").replace(", h0=", f", {shown}), h0=")
                packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
                returned = self.adapter.run(instance.impl, packed, h0)  # type: ignore[union-attr]
        except Exception as exc:
            raise AdapterError(f"run raised {type(exc).__name__}: {exc}", call) from exc
        if not isinstance(returned, (tuple, list)) or len(returned) != 2:
            raise AdapterError(f"run returned {type(returned).__name__}, but should return (output, h_n)", call)
        output, h_n = returned
        if isinstance(output, PackedSequence):
            total = x.shape[1] if batch_first else x.shape[0]
            output, _ = pad_packed_sequence(output, batch_first=batch_first, total_length=total)
        return output, h_n, []

    def _unroll(self, instance: Instance, x: torch.Tensor, h0: torch.Tensor | None):
        config = instance.config
        steps, batch = x.shape[0], x.shape[1]
        hidden = config.hidden_size
        problems: list[str] = []
        layer_input = x
        finals = []
        for layer in range(config.num_layers):
            halves = []
            for d in range(config.num_directions):
                index = layer * config.num_directions + d
                h = h0[index] if h0 is not None else torch.zeros(batch, hidden, dtype=x.dtype, device=x.device)
                outs: list[torch.Tensor] = [None] * steps  # type: ignore[list-item]
                for t in reversed(range(steps)) if d == 1 else range(steps):
                    call = describe_call(f"{self.name}.step", layer_input[t], h)
                    try:
                        h_new = self.adapter.step(instance.cells[(layer, d)], layer_input[t], h)  # type: ignore[union-attr]
                    except Exception as exc:
                        raise AdapterError(f"step raised {type(exc).__name__}: {exc}", call) from exc
                    h_new = _as_tensor(h_new, "step's result", call)
                    if tuple(h_new.shape) != (batch, hidden):
                        if h_new.numel() != batch * hidden:
                            raise AdapterError(
                                f"step returned shape {tuple(h_new.shape)}, but should return ({batch}, {hidden})",
                                call,
                            )
                        problem = f"step returned shape {tuple(h_new.shape)}, but should return ({batch}, {hidden}) [{call}]"
                        if problem not in problems:
                            problems.append(problem)
                        h_new = h_new.reshape(batch, hidden)
                    h = h_new
                    outs[t] = h
                halves.append(torch.stack(outs) if steps else torch.zeros(0, batch, hidden, dtype=x.dtype))
                finals.append(h)
            layer_input = torch.cat(halves, dim=-1)
        return layer_input, torch.stack(finals), problems

    def read(
        self,
        instance: Instance,
        returned: tuple[Any, Any, list[str]],
        x: torch.Tensor,
        h0: torch.Tensor | None,
        *,
        unbatched: bool = False,
    ) -> Result:
        """Check that what came back can be read as nn.GRU's (output, h_n) and convert it."""
        config = instance.config
        call = describe_call(f"{self.name}.{'step' if self.is_cell else 'run'}", x, h0)
        output, h_n, problems = returned
        output = _as_tensor(output, "output", call)
        h_n = _as_tensor(h_n, "h_n", call)
        problems = list(problems)
        if unbatched:
            steps, batch = x.shape[0], None
        elif config.batch_first and not self.is_cell:
            batch, steps = x.shape[0], x.shape[1]
        else:
            steps, batch = x.shape[0], x.shape[1]
        width = config.num_directions * config.hidden_size
        states = config.num_layers * config.num_directions
        if unbatched:
            out_shape, hn_shape = (steps, width), (states, config.hidden_size)
        elif config.batch_first and not self.is_cell:
            out_shape, hn_shape = (batch, steps, width), (states, batch, config.hidden_size)
        else:
            out_shape, hn_shape = (steps, batch, width), (states, batch, config.hidden_size)
        for what, tensor, shape in (("output", output, out_shape), ("h_n", h_n, hn_shape)):
            if tuple(tensor.shape) != shape:
                if tensor.numel() != int(np.prod(shape)):
                    raise AdapterError(
                        f"{what} has shape {tuple(tensor.shape)}, but should have shape {shape}", call
                    )
                problems.append(f"{what} has shape {tuple(tensor.shape)}, but should have shape {shape} [{call}]")
        out = _to_numpy(output).reshape(out_shape)
        hn = _to_numpy(h_n).reshape(hn_shape)
        if config.batch_first and not unbatched and not self.is_cell:
            out = out.transpose(1, 0, 2)
        return Result(out, hn, output, h_n, call, problems)

    def call(
        self,
        instance: Instance,
        x: np.ndarray,
        h0: np.ndarray | None,
        *,
        unbatched: bool = False,
        lengths: Any = None,
    ) -> Result:
        """Run time-major float64 ``x`` (T, B, I) from ``h0`` (L*D, B, H) or None;
        with ``lengths`` (B ints), as a padded variable-length batch."""
        xt, ht = self.prepare(instance, x, h0, unbatched=unbatched)
        if lengths is not None:
            lengths = torch.as_tensor(list(lengths), dtype=torch.int64)
        return self.read(instance, self.invoke(instance, xt, ht, lengths=lengths), xt, ht, unbatched=unbatched)

    def parameter_grads(self, instance: Instance) -> dict[str, np.ndarray] | None:
        """The implementation's parameter gradients after a backward pass, by canonical
        name (cells' layer-0 names mapped to their layer and direction), as float64
        arrays; None when the adapter has no ``grads`` method."""
        if not self.adapter.has_grads():
            return None
        from conformance.params import param_name

        if self.is_cell:
            sources = [((layer, d), cell) for (layer, d), cell in instance.cells.items()]
        else:
            sources = [(None, instance.impl)]
        grads: dict[str, np.ndarray] = {}
        for slot, obj in sources:
            call = f"{self.name}.grads(...)"
            try:
                given = dict(self.adapter.grads(obj))
            except Exception as exc:
                raise AdapterError(f"grads raised {type(exc).__name__}: {exc}", call) from exc
            for name, value in given.items():
                if value is None:
                    raise AdapterError(f"grads gave None for {name}: no gradient reached it", call)
                if slot is not None:
                    kind = name.removesuffix("_l0")
                    name = param_name(kind, slot[0], slot[1] == 1)
                grads[name] = _to_numpy(_as_tensor(value, f"grads()[{name!r}]", call))
        return grads

    def run_case(self, case: Case) -> Result:
        """Build, load and run one case in one go."""
        return self.call(self.instantiate(case), case.x, case.h0)


__all__ = ["AdapterError", "Instance", "Result", "Subject", "CaseSpec", "DTYPES"]
