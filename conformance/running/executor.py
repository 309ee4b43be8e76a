"""The implementation's side: builds, loads and calls one adapter on request.

This is the only code that touches an adapter or what it returns. It runs in
the implementation's worker process (``conformance.commands.worker``), or in the grading
process itself when isolation is turned off for debugging. Requests and
answers are plain data (``conformance.running.wire``): configurations, canonical
parameters, float64 inputs in, raw returned values with their dtype, device and
shape out. Interpreting what came back (shapes, layouts, tolerances) is the
grader's job (``conformance.running.subject``), so nothing computed here decides a
verdict.

Every request runs under a ``StateGuard``: torch's and the process's global
state is put back after it and the changes are reported with the answer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils import _device as torch_default_device

from conformance.running import input_views
from conformance.model.contract import AdapterInfo, CellAdapter, GRUConfig, LayerAdapter, Unsupported, _Adapter
from conformance.cases.generated import DTYPES, dtype_name
from conformance.base.params import CanonicalParams, param_name
from conformance.running.process_state import Change, StateGuard

#: Instances kept alive at once (a check uses at most a few; the oldest goes first).
MAX_INSTANCES = 32
#: Longest message text taken from an adapter's exception.
MAX_TEXT = 2000
#: ``where`` of an answer whose adapter lacks what the request needs (the check is not applicable).
UNSUPPORTED = "unsupported"
#: How autograd is set for a call: off (the default), on (as in training), or inference mode.
GRAD_MODES = {"no_grad": torch.no_grad, "grad": torch.enable_grad, "inference": torch.inference_mode}


class AdapterFailure(Exception):
    """The adapter raised, or returned something that cannot be sent back."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.where = where


def _packed_hint(adapter: Any) -> str:
    """What to do when ``run`` raises on the PackedSequence that variable-length checks give
    it (nn.GRU takes one): most such modules take padded batches only."""
    wrapped = getattr(adapter, "module_class", None) is not None  # graded without an adapter
    remedy = ("grade it with --no-lengths" if wrapped else
              "claim lengths=False, or give the adapter run_lengths(gru, x, lengths, h0) for padded input")
    return (f" (given a PackedSequence, as nn.GRU takes variable-length batches: if it does not accept one, "
            f"{remedy})")


def _text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " ..."


def describe(adapter: _Adapter) -> dict[str, Any]:
    """The adapter's declarations, as plain data."""
    return vars(AdapterInfo.of(adapter))


@dataclass
class Built:
    """One built (and, for white-box adapters, loaded) implementation."""

    config: GRUConfig
    impl: Any = None
    cells: dict[tuple[int, int], Any] = field(default_factory=dict)
    #: The leaves and results of the last call made with autograd on, kept for ``backward``.
    pending: dict[str, Any] | None = None
    #: What the last call made with ``keep_results`` returned, as returned, for ``reread``.
    kept: tuple[Any, Any] | None = None


class _ProbeDevice(torch_default_device.DeviceContext):
    """torch's default device set to ``device`` (meta, standing for a GPU on a CPU-only machine),
    except for 0-dimensional tensors, which stay on the CPU: on a GPU, where the default device is
    the CPU, a 0-dim CPU tensor takes part in the GPU's operations as a scalar (``torch.tensor(1.0) -
    z``), which a 0-dim meta tensor cannot do beside the CPU's."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in torch_default_device._device_constructors() and kwargs.get("device") is None:
            made = func(*args, **{**kwargs, "device": self.device})
            if isinstance(made, torch.Tensor) and made.dim() == 0:
                return func(*args, **{**kwargs, "device": "cpu"})
            return made
        return func(*args, **kwargs)


def _describe_value(value: Any) -> dict[str, Any]:
    """A returned value as plain data: its kind, dtype, device, shape and float64 values."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        value = torch.from_numpy(np.ascontiguousarray(value))
    if value is None:
        return {"kind": "none"}  # not returned (Capabilities.returns)
    if not isinstance(value, torch.Tensor):
        return {"kind": type(value).__name__}
    info: dict[str, Any] = {
        "kind": "tensor", "dtype": dtype_name(value.dtype), "device": value.device.type,
        "shape": [int(s) for s in value.shape], "requires_grad": bool(value.requires_grad),
    }
    try:
        info["values"] = value.detach().to("cpu", torch.float64).contiguous().numpy().copy()
    except Exception as exc:  # noqa: BLE001 - e.g. a meta tensor has no values
        info["unreadable"] = _text(exc)
    return info


def _float64(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy().copy()


def _as_tensor(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return torch.from_numpy(value)
    return value


def _takes_config(load: Any) -> bool:
    """``load(instance, params, config)`` rather than ``load(instance, params)``."""
    import inspect

    try:
        parameters = list(inspect.signature(load).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


def packed(x: torch.Tensor, lengths: torch.Tensor, batch_first: bool, order: list[int] | None = None) -> Any:
    """The padded batch as a PackedSequence, as ``pack_padded_sequence(..., enforce_sorted=False)``
    makes it; with ``order``, samples of equal length are sorted in that order (a tie
    ``enforce_sorted=False`` may break either way), so ``sorted_indices`` is not the identity."""
    from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

    if order is None:
        return pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    rank = {int(b): i for i, b in enumerate(order)}
    if sorted(rank) != list(range(len(lengths))):
        raise AdapterFailure(f"packed_order {order!r} is not a permutation of the batch", "protocol")
    sorted_indices = torch.tensor(sorted(range(len(lengths)), key=lambda b: (-int(lengths[b]), rank[b])))
    batch_axis = 0 if batch_first else 1
    inner = pack_padded_sequence(x.index_select(batch_axis, sorted_indices.to(x.device)), lengths[sorted_indices],
                                 batch_first=batch_first, enforce_sorted=True)
    unsorted = torch.empty_like(sorted_indices)
    unsorted[sorted_indices] = torch.arange(len(lengths))
    return PackedSequence(inner.data, inner.batch_sizes, sorted_indices.to(x.device), unsorted.to(x.device))


class Executor:
    """Serves one adapter: ``handle(request) -> answer`` (both plain data)."""

    def __init__(self, adapter: _Adapter, guard: StateGuard | None = None) -> None:
        if not isinstance(adapter, (CellAdapter, LayerAdapter)):
            raise TypeError(f"{type(adapter).__name__} is not a CellAdapter or LayerAdapter subclass")
        self.adapter = adapter
        self.instances: OrderedDict[int, Built] = OrderedDict()
        self.next_id = 1
        self.guard = guard or StateGuard()
        self.is_cell = isinstance(adapter, CellAdapter)
        self.load_takes_config = _takes_config(adapter.load)
        self.caps = adapter.capabilities

    # Dispatch --------------------------------------------------------------------
    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        start = time.perf_counter()
        changes: list[Change] = []
        for stale in request.get("drop", []) or []:
            self.instances.pop(stale, None)
        try:
            with self.guard.around(changes, deep=op == "checkpoint"):
                if op == "describe":
                    answer = {"info": describe(self.adapter)}
                elif op == "build":
                    answer = self.build(request)
                elif op in ("call", "backward", "measure", "load", "convert", "reread"):
                    answer = self.built_then(request)
                elif op in ("checkpoint", "drop"):
                    answer = {}
                else:
                    answer = {"ok": False, "error": f"unknown request {op!r}", "where": "protocol"}
        except AdapterFailure as exc:
            answer = {"ok": False, "error": str(exc), "where": exc.where}
        answer.setdefault("ok", True)
        if changes:
            answer["state"] = [c.to_json() for c in changes]
        answer["seconds"] = time.perf_counter() - start
        return answer

    # Building -----------------------------------------------------------------------
    def _build_one(self, config: GRUConfig, seed: int) -> Any:
        # Implementations with their own random init (torch's, NumPy's or Python's global
        # generators) are built reproducibly, and the generators are left as they were.
        numpy_state, python_state = np.random.get_state(), random.getstate()
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)  # the CPU generator only: torch.manual_seed
            # also seeds every accelerator's, which costs milliseconds
            np.random.seed(seed % 2**32)
            random.seed(seed)
            try:
                return self.adapter.build(config)
            except Exception as exc:  # noqa: BLE001 - everything the adapter raises is reported
                raise AdapterFailure(f"build raised {_text(exc)}", "build") from None
            finally:
                np.random.set_state(numpy_state)
                random.setstate(python_state)

    def _load_one(self, obj: Any, params: CanonicalParams, config: GRUConfig) -> None:
        try:
            if self.load_takes_config:
                self.adapter.load(obj, params, config)  # type: ignore[call-arg]
            else:
                self.adapter.load(obj, params)
        except Exception as exc:  # noqa: BLE001
            raise AdapterFailure(f"load raised {_text(exc)}", "load") from None

    @staticmethod
    def _params(request: dict[str, Any]) -> CanonicalParams | None:
        arrays = request.get("params")
        if arrays is None:
            return None
        meta = request.get("param_meta") or {}
        return CanonicalParams(arrays, input_size=int(meta["input_size"]), hidden_size=int(meta["hidden_size"]),
                               num_layers=int(meta.get("num_layers", 1)),
                               bidirectional=bool(meta.get("bidirectional", False)),
                               bias=bool(meta.get("bias", True)))

    @staticmethod
    def _cell_config(config: GRUConfig, layer: int) -> GRUConfig:
        """A cell's own configuration: layer k > 0 reads the D*H outputs of the layer below."""
        in_size = config.input_size if layer == 0 else config.num_directions * config.hidden_size
        return GRUConfig(input_size=in_size, hidden_size=config.hidden_size, bias=config.bias, dtype=config.dtype,
                         device=config.device)

    def build(self, request: dict[str, Any]) -> dict[str, Any]:
        config = GRUConfig.from_json(request["config"])
        seed = int(request.get("seed", 0))
        params = self._params(request)
        built = Built(config)
        if not self.is_cell:
            built.impl = self._build_one(config, seed)
            if params is not None:
                self._load_one(built.impl, params, config)
        else:
            for layer in range(config.num_layers):
                for d in range(config.num_directions):
                    cell_config = self._cell_config(config, layer)
                    cell = self._build_one(cell_config, seed + 7919 * (2 * layer + d))
                    if params is not None:
                        self._load_one(cell, params.cell(layer, reverse=d == 1), cell_config)
                    built.cells[(layer, d)] = cell
        handle = request.get("instance")
        if not isinstance(handle, int) or isinstance(handle, bool):
            handle = self.next_id
        self.next_id = max(self.next_id, handle) + 1
        self.instances[handle] = built
        while len(self.instances) > MAX_INSTANCES:
            self.instances.popitem(last=False)
        return {"instance": handle}

    def load(self, request: dict[str, Any]) -> dict[str, Any]:
        """Canonical parameters loaded again into an instance that already exists (and may
        have run): the adapter's ``load``, as for a fresh one."""
        built = self._instance(request)
        built.pending = None
        params = self._params(request)
        if params is None:
            raise AdapterFailure("a load request without parameters", "protocol")
        if not self.is_cell:
            self._load_one(built.impl, params, built.config)
        for (layer, d), cell in built.cells.items():
            self._load_one(cell, params.cell(layer, reverse=d == 1), self._cell_config(built.config, layer))
        return {}

    def _objects(self, built: Built) -> list[tuple[Any, Any]]:
        """(key, object) of what the adapter built: the layer, or every cell by (layer, direction)."""
        return list(built.cells.items()) if self.is_cell else [(None, built.impl)]

    def convert(self, request: dict[str, Any]) -> dict[str, Any]:
        """The instance converted to another dtype after construction (the adapter's ``convert``)."""
        built = self._instance(request)
        built.pending = None
        dtype = DTYPES[str(request.get("dtype"))]
        for key, obj in self._objects(built):
            try:
                converted = self.adapter.convert(obj, dtype)
            except Unsupported as exc:
                raise AdapterFailure(str(exc), UNSUPPORTED) from None
            except Exception as exc:  # noqa: BLE001
                raise AdapterFailure(f"convert raised {_text(exc)}", "convert") from None
            if key is None:
                built.impl = converted
            else:
                built.cells[key] = converted
        built.config = dataclasses.replace(built.config, dtype=dtype)
        return {}

    def _set_training(self, built: Built, training: bool) -> list[tuple[Any, bool]]:
        """Every built object put in training (or inference) mode; returns each object with the
        mode it had (read from ``.training`` where it has one, inference otherwise)."""
        before = []
        for _, obj in self._objects(built):
            was = getattr(obj, "training", False)
            try:
                self.adapter.train_mode(obj, training)
            except Unsupported as exc:
                raise AdapterFailure(str(exc), UNSUPPORTED) from None
            except Exception as exc:  # noqa: BLE001
                raise AdapterFailure(f"train_mode raised {_text(exc)}", "train_mode") from None
            before.append((obj, was if isinstance(was, bool) else False))
        return before

    def _restore_training(self, before: list[tuple[Any, bool]]) -> None:
        for obj, was in before:
            try:
                self.adapter.train_mode(obj, was)
            except Exception as exc:  # noqa: BLE001
                raise AdapterFailure(f"train_mode raised {_text(exc)}", "train_mode") from None

    def built_then(self, request: dict[str, Any]) -> dict[str, Any]:
        """A call or backward, after the build that came with it (if one did)."""
        build = request.get("build")
        if build is not None:
            try:
                self.build(build)
            except AdapterFailure as exc:
                return {"ok": True, "built": False, "build_error": str(exc)}
        try:
            answer = {"call": self.call, "backward": self.backward, "measure": self.measure, "load": self.load,
                      "convert": self.convert, "reread": self.reread}[request["op"]](request)
        except AdapterFailure as exc:
            answer = {"ok": False, "error": str(exc), "where": exc.where}
        if build is not None:
            answer["built"] = True
        return answer

    def _instance(self, request: dict[str, Any]) -> Built:
        handle = request.get("instance")
        if handle not in self.instances:
            raise AdapterFailure(f"no instance {handle!r} in this process (dropped or never built)", "protocol")
        return self.instances[handle]

    # Calling ----------------------------------------------------------------------------
    def prepare(self, built: Built, request: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Time-major float64 arrays -> tensors in the instance's dtype, layout and device
        (or the dtypes and strides a request asks for)."""
        config = built.config
        x_dtype = DTYPES[request["x_dtype"]] if request.get("x_dtype") else config.dtype
        h_dtype = DTYPES[request["h0_dtype"]] if request.get("h0_dtype") else config.dtype
        x_array, h_array = request["x"], request.get("h0")
        xt = torch.tensor(np.ascontiguousarray(x_array), dtype=x_dtype, device=config.device)
        ht = None if h_array is None else torch.tensor(np.ascontiguousarray(h_array), dtype=h_dtype,
                                                         device=config.device)
        if request.get("unbatched"):
            xt = xt[:, 0, :].contiguous()
            ht = None if ht is None else ht[:, 0, :].contiguous()
        elif config.batch_first and not self.is_cell:
            xt = xt.transpose(0, 1).contiguous()
        layout = request.get("strides", "contiguous")
        if layout == "misread":  # what a kernel ignoring strides reads from a strided view
            return input_views.misread(input_views.strided(xt)), None if ht is None else input_views.misread(input_views.strided(ht))
        # Expanded: x's first step repeated over time, h0's first row shared by every sample.
        time_axis = 1 if (config.batch_first and not self.is_cell and not request.get("unbatched")) else 0
        try:
            xt = input_views.view(xt, layout, expand_axis=time_axis)
            ht = None if ht is None else input_views.view(ht, layout, expand_axis=1 if ht.dim() == 3 else 0)
        except input_views.LayoutError as exc:
            raise AdapterFailure(str(exc), "protocol") from None
        return xt, ht

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        built = self._instance(request)
        built.pending = None
        x, h0 = self.prepare(built, request)
        grad = bool(request.get("grad"))
        if grad:
            x = x.detach().requires_grad_(request.get("x_requires_grad", True) is not False)
            h0 = None if h0 is None else h0.detach().requires_grad_(True)
        keep = bool(request.get("keep_inputs"))
        before = {"x": x.detach().clone(), "h0": None if h0 is None else h0.detach().clone()} if keep else {}
        lengths = request.get("lengths")
        device = request.get("default_device")
        seed = request.get("seed")
        mode = "grad" if grad else str(request.get("mode") or "no_grad")
        if mode not in GRAD_MODES:
            raise AdapterFailure(f"unknown grad mode {mode!r}", "protocol")
        training = request.get("training")
        with contextlib.ExitStack() as stack:
            if seed is not None:
                stack.enter_context(torch.random.fork_rng(devices=[]))
                torch.default_generator.manual_seed(int(seed))
            # Autograd on is the process's own mode, left as it is: a context manager would put back
            # on exit a mode the implementation changed, and hide the change from the state guard.
            if not (mode == "grad" and torch.is_grad_enabled()):
                stack.enter_context(GRAD_MODES[mode]())
            if device:
                stack.enter_context(_ProbeDevice(device) if device == "meta" else torch.device(device))
            modes = self._set_training(built, bool(training)) if training is not None else []
            try:
                output, h_n, problems = self.invoke(built, x, h0, lengths, request.get("packed_order"))
            finally:
                self._restore_training(modes)
        answer: dict[str, Any] = {"output": _describe_value(output), "h_n": _describe_value(h_n),
                                  "shape_problems": problems}
        if keep:  # the inputs as handed over and as they are after the call, in their own dtype
            for key, tensor in (("x", x), ("h0", h0)):
                if tensor is not None:
                    answer[f"{key}_before"] = _float64(before[key])
                    answer[f"{key}_after"] = _float64(tensor)
        if grad:
            built.pending = {"x": x, "h0": h0, "output": _as_tensor(output), "h_n": _as_tensor(h_n)}
        if request.get("keep_results"):
            built.kept = (output, h_n)
        return answer

    def reread(self, request: dict[str, Any]) -> dict[str, Any]:
        """The values of what the call made with ``keep_results`` returned, read again now: the
        same objects, so a workspace a later call wrote into shows there."""
        built = self._instance(request)
        if built.kept is None:
            raise AdapterFailure("reread without a call made with keep_results", "protocol")
        output, h_n = built.kept
        return {"output": _describe_value(output), "h_n": _describe_value(h_n), "shape_problems": []}

    def invoke(self, built: Built, x: torch.Tensor, h0: torch.Tensor | None,
               lengths: list[int] | None, packed_order: list[int] | None = None) -> tuple[Any, Any, list[str]]:
        if self.is_cell:
            if lengths is not None:
                raise AdapterFailure("variable-length batches are graded on layer adapters only", "protocol")
            return self._unroll(built, x, h0)
        adapter: LayerAdapter = self.adapter  # type: ignore[assignment]
        if h0 is not None and self.caps.h0_shared:
            h0 = h0[0]  # one state for every layer and direction (the cases make the slots equal)
        if lengths is not None:
            return self._invoke_lengths(built, x, h0, torch.as_tensor(list(lengths), dtype=torch.int64),
                                        packed_order)
        try:
            returned = adapter.run(built.impl, x, h0)
        except Exception as exc:  # noqa: BLE001
            raise AdapterFailure(f"run raised {_text(exc)}", "run") from None
        output, h_n = self._pair(returned)
        return output, h_n, []

    def _pair(self, returned: Any) -> tuple[Any, Any]:
        """What ``run`` returned as (output, h_n); an implementation returning only one of
        them (``Capabilities.returns``) gets None for the other."""
        returns = self.caps.returns
        if returns != "both" and not isinstance(returned, (tuple, list)):
            return (returned, None) if returns == "output" else (None, returned)
        if not isinstance(returned, (tuple, list)) or len(returned) != 2:
            shape = "(output, h_n)" if returns == "both" else f"its {returns} (or a pair with None)"
            raise AdapterFailure(f"run returned {type(returned).__name__}, but should return {shape}", "run")
        output, h_n = returned
        if returns == "output":
            h_n = None
        elif returns == "state":
            output = None
        return output, h_n

    def _invoke_lengths(self, built: Built, x: torch.Tensor, h0: torch.Tensor | None,
                        lengths: torch.Tensor, packed_order: list[int] | None = None) -> tuple[Any, Any, list[str]]:
        """``run_lengths`` if the adapter has it, else ``run`` on a PackedSequence;
        a packed output is padded back to the input's T steps (zeros past each length)."""
        from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

        adapter: LayerAdapter = self.adapter  # type: ignore[assignment]
        batch_first = built.config.batch_first
        try:
            if adapter.takes_lengths():
                returned = adapter.run_lengths(built.impl, x, lengths, h0)
            else:
                sequence = packed(x, lengths, batch_first, packed_order)
                try:
                    returned = adapter.run(built.impl, sequence, h0)
                except Exception as exc:  # noqa: BLE001
                    raise AdapterFailure(f"run raised {_text(exc)}{_packed_hint(adapter)}", "run") from None
        except AdapterFailure:
            raise
        except Exception as exc:  # noqa: BLE001
            raise AdapterFailure(f"run raised {_text(exc)}", "run") from None
        output, h_n = self._pair(returned)
        if isinstance(output, PackedSequence):
            total = x.shape[1] if batch_first else x.shape[0]
            try:
                output, _ = pad_packed_sequence(output, batch_first=batch_first, total_length=total)
            except Exception as exc:  # noqa: BLE001
                raise AdapterFailure(f"its PackedSequence output cannot be padded: {_text(exc)}", "run") from None
        return output, h_n, []

    def _unroll(self, built: Built, x: torch.Tensor, h0: torch.Tensor | None) -> tuple[Any, Any, list[str]]:
        """Run a cell adapter as a layer: every layer and direction, one step at a time."""
        adapter: CellAdapter = self.adapter  # type: ignore[assignment]
        config = built.config
        # Unbatched (T, I) input (a cell claiming it): each step gets x_t (I,) and h (H,).
        unbatched = x.dim() == 2
        steps, batch = x.shape[0], (None if unbatched else x.shape[1])
        state_shape = (config.hidden_size,) if unbatched else (batch, config.hidden_size)
        problems: list[str] = []
        layer_input = x
        finals = []
        for layer in range(config.num_layers):
            halves = []
            for d in range(config.num_directions):
                index = layer * config.num_directions + d
                h = h0[index] if h0 is not None else torch.zeros(*state_shape, dtype=x.dtype, device=x.device)
                outs: list[torch.Tensor] = [None] * steps  # type: ignore[list-item]
                for t in reversed(range(steps)) if d == 1 else range(steps):
                    where = f"step at t={t}, layer {layer}, direction {d}"
                    try:
                        h_new = adapter.step(built.cells[(layer, d)], layer_input[t], h)
                    except Exception as exc:  # noqa: BLE001
                        raise AdapterFailure(f"step raised {_text(exc)} ({where})", "step") from None
                    h_new = _as_tensor(h_new)
                    if not isinstance(h_new, torch.Tensor):
                        raise AdapterFailure(f"step returned a {type(h_new).__name__}, not a tensor ({where})",
                                             "step")
                    if tuple(h_new.shape) != state_shape:
                        if h_new.numel() != int(np.prod(state_shape)):
                            raise AdapterFailure(f"step returned shape {tuple(h_new.shape)}, but should return "
                                                 f"{state_shape} ({where})", "step")
                        problem = f"step returned shape {tuple(h_new.shape)}, but should return {state_shape}"
                        if problem not in problems:
                            problems.append(problem)
                        h_new = h_new.reshape(state_shape)
                    h = h_new
                    outs[t] = h
                halves.append(torch.stack(outs) if steps else torch.zeros(0, *state_shape, dtype=x.dtype))
                finals.append(h)
            layer_input = torch.cat(halves, dim=-1)
        return layer_input, torch.stack(finals), problems

    # Benchmarks ---------------------------------------------------------------------------
    def measure(self, request: dict[str, Any]) -> dict[str, Any]:
        """Time or weigh the instance here, beside nn.GRU (``conformance.running.timing``): only the
        figures go back, so the process boundary is outside every timed region."""
        from conformance.running.timing import measure

        built = self._instance(request)
        try:
            return measure(self, built, request)
        except AdapterFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the implementation raises while measured
            raise AdapterFailure(f"measuring raised {_text(exc)}", "measure") from None

    # Gradients ----------------------------------------------------------------------------
    def backward(self, request: dict[str, Any]) -> dict[str, Any]:
        """Back-propagate sum(output * output_grad) + sum(h_n * h_n_grad) from the last call
        made with ``grad``; the upstream gradients come in the shapes the call returned."""
        built = self._instance(request)
        pending, built.pending = built.pending, None
        if pending is None:
            raise AdapterFailure("backward without a call made with grad", "protocol")
        transposed = request.get("upstream") == "transposed"
        terms = []
        for key in ("output", "h_n"):
            value, upstream = pending[key], request.get(f"{key}_grad")
            if isinstance(value, torch.Tensor) and value.requires_grad and upstream is not None:
                # In float64, as the reference gradients' loss is (conformance.model.reference_autograd).
                weights = torch.tensor(upstream, dtype=torch.float64, device=value.device).reshape(value.shape)
                value = value.to(torch.float64)
                if transposed and value.dim() >= 2:
                    # The same loss read through views: the gradient reaching value is a transposed view.
                    value, weights = value.transpose(0, 1), weights.transpose(0, 1).contiguous()
                terms.append((value * weights).sum())
        answer: dict[str, Any] = {}
        if terms:
            try:
                sum(terms).backward()  # type: ignore[union-attr]
            except Exception as exc:  # noqa: BLE001
                raise AdapterFailure(f"backward raised {_text(exc)}", "backward") from None
        for key in ("x", "h0"):
            leaf = pending[key]
            if leaf is not None:
                grad = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
                answer[key] = grad.detach().to("cpu", torch.float64).numpy().copy()
        if request.get("parameters") and self.adapter.has_grads():
            answer["parameters"] = self.parameter_grads(built)
        return answer

    def parameter_grads(self, built: Built) -> dict[str, Any]:
        """The adapter's ``grads`` by canonical name (a cell's layer-0 names mapped to its
        layer and direction): float64 arrays, or a string saying why there is none."""
        sources = list(built.cells.items()) if self.is_cell else [(None, built.impl)]
        grads: dict[str, Any] = {}
        for slot, obj in sources:
            try:
                given = dict(self.adapter.grads(obj))
            except Exception as exc:  # noqa: BLE001
                raise AdapterFailure(f"grads raised {_text(exc)}", "grads") from None
            for name, value in given.items():
                name = str(name)
                if slot is not None:
                    name = param_name(name.removesuffix("_l0"), slot[0], slot[1] == 1)
                value = _as_tensor(value)
                if value is None:
                    grads[name] = "None: no gradient reached it"
                elif isinstance(value, torch.Tensor):
                    grads[name] = value.detach().to("cpu", torch.float64).numpy().copy()
                else:
                    grads[name] = f"a {type(value).__name__}, not a tensor"
        return grads
