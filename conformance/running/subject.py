"""The implementation under test, as the grader sees it: one uniform layer
behind a request channel.

Data flows one way: a generated ``Case`` (float64 arrays) goes out as a request
(configuration, canonical parameters, time-major inputs); the implementation's
side (``conformance.running.executor``, in a worker process or, with isolation off, in
this one) builds, loads and calls the adapter and answers with what it
returned, as plain data. Here every answer is validated (types, shapes,
dtypes) and read into time-major float64 arrays. Anything the adapter raised,
and anything it returned that cannot be read as ``(output, h_n)``, becomes an
``AdapterError`` (status "error"), never a crash of the suite.
"""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from conformance.model.contract import AdapterInfo, Capabilities, GRUConfig, _Adapter
from conformance.cases.generated import DTYPES, Case, CaseSpec, dtype_name
from conformance.cases.catalogue import Check
from conformance.cases.compare import NOT_RETURNED, NotApplicable, NotReturned
from conformance.base.conventions import RESETS, UPDATES, complement_grads, complement_params
from conformance.base.params import CanonicalParams
from conformance.base.tolerances import PRECISIONS, Tolerance, tolerance


T = TypeVar("T")


class AdapterError(Exception):
    """The adapter raised, or returned something the suite cannot read."""

    def __init__(self, message: str, call: str = "") -> None:
        super().__init__(f"{message} [{call}]" if call else message)
        self.call = call


class Backend(Protocol):
    """Where the implementation runs: ``request`` sends one request and returns the answer."""

    #: Counts the processes started: an instance is valid only in the one that built it.
    generation: int
    #: A process is running (a request would not have to start one).
    alive: bool

    def request(self, message: dict[str, Any], answer_bytes: int | None = None) -> dict[str, Any]: ...

    # Optional: a request in two halves (``send`` now, ``receive`` its answer later), so that
    # the grader can work while the implementation does.

    def begin(self, seconds: float | None) -> None: ...

    def end(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class InProcess:
    """The implementation in the grading process (isolation off: debugging, the self-tests).

    Requests and answers still pass through the wire's encoding, so this hands
    over exactly what a worker would."""

    generation = 0
    alive = True

    def __init__(self, adapter: _Adapter) -> None:
        from conformance.running.executor import Executor

        self.executor = Executor(adapter)
        self._answer: dict[str, Any] | None = None

    def begin(self, seconds: float | None) -> None:
        pass  # no time limit in-process: nothing could stop a hang

    def end(self) -> dict[str, Any]:
        return {"text": "", "bytes": 0, "truncated": False}  # output goes where the process's goes

    def request(self, message: dict[str, Any], answer_bytes: int | None = None) -> dict[str, Any]:
        from conformance.running.wire import TooLarge, array_bytes, roundtrip

        answer = roundtrip(self.executor.handle(roundtrip(message)))
        size = array_bytes(answer)
        if answer_bytes and size > answer_bytes:  # the bound a worker's answer is read under, for the same verdict
            raise AdapterError(TooLarge(size, answer_bytes).answer(str(message.get("op"))) + ", so it was refused")
        return answer

    def send(self, message: dict[str, Any], answer_bytes: int | None = None) -> None:
        self._answer = self.request(message, answer_bytes)  # in one process, the work is done at once

    def receive(self) -> dict[str, Any]:
        answer, self._answer = self._answer, None
        assert answer is not None, "receive without send"
        return answer

    def close(self) -> None:
        pass


def _shape(shape: tuple[int, ...] | list[int] | None) -> str:
    return "x".join(str(s) for s in shape) if shape is not None else "None"


def describe_call(name: str, x_shape: tuple[int, ...], dtype: str, h0_shape: tuple[int, ...] | None) -> str:
    h = "None" if h0_shape is None else f"({_shape(h0_shape)})"
    return f"{name}(x=({_shape(x_shape)}) {dtype}, h0={h})"


@dataclass
class Instance:
    """A built (and, for white-box adapters, loaded) implementation, held by its side."""

    config: GRUConfig
    handle: int
    #: The worker process (its generation) that holds it; None until it is built there.
    generation: int | None
    #: The build request, sent with the first call.
    build: dict[str, Any] | None = None


@dataclass
class Value:
    """One returned value (output or h_n) as the implementation gave it."""

    kind: str  # "tensor" (tensors and numeric NumPy arrays), else the type's name
    dtype: str = ""
    device: str = ""
    shape: tuple[int, ...] = ()
    requires_grad: bool = False
    values: np.ndarray | None = None  # float64, in ``shape``
    unreadable: str = ""


@dataclass
class Returned:
    """What one call returned, before it is read as nn.GRU's (output, h_n)."""

    output: Value
    h_n: Value
    call: str
    #: The shapes of x and h0 as handed over (the implementation's own layout).
    x_shape: tuple[int, ...]
    h0_shape: tuple[int, ...] | None
    shape_problems: list[str] = field(default_factory=list)
    #: With ``keep_inputs``: x and h0 as handed over and after the call (float64, as given).
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    unbatched: bool = False


@dataclass
class Result:
    """What one call returned, read into time-major float64 arrays."""

    #: (T, B, D*H), or (T, D*H) unbatched; ``NOT_RETURNED`` when the implementation does not return it.
    output: Any
    #: (L*D, B, H), or (L*D, H) unbatched; ``NOT_RETURNED`` when the implementation does not return it.
    h_n: Any
    call: str
    returned: Returned
    #: Shapes that differed from nn.GRU's but could be read (same number of elements).
    shape_problems: list[str] = field(default_factory=list)

    @property
    def output_dtype(self) -> str:
        return self.returned.output.dtype

    @property
    def h_n_dtype(self) -> str:
        return self.returned.h_n.dtype


# Reading answers: nothing from the implementation's side is trusted ------------------
MAX_NAME = 200
MAX_NOTES = 4000
MAX_MESSAGE = 4000
MAX_STATE_TEXT = 400


#: What a layer adapter's ``run`` may return (``Capabilities.returns``).
RETURNS = ("both", "output", "state")
#: ``where`` of an answer saying the implementation lacks what the request needs
#: (``conformance.running.executor``): the check is not applicable.
UNSUPPORTED = "unsupported"
#: How autograd is set during a call (``conformance.running.executor.GRAD_MODES``).
GRAD_MODES = ("no_grad", "grad", "inference")
#: How the upstream gradients reach output and h_n in ``backward``: as the call returned them,
#: or through ``transpose(0, 1)`` (a loss on batch-first views of time-major results).
UPSTREAM_LAYOUTS = ("contiguous", "transposed")


class Malformed(Exception):
    """An answer that does not have the form of the protocol's answers."""


def _get(data: Any, key: str, kinds: type | tuple[type, ...], default: Any = ...) -> Any:
    if not isinstance(data, dict):
        raise Malformed(f"expected an object, got {type(data).__name__}")
    if key not in data:
        if default is ...:
            raise Malformed(f"{key!r} is missing")
        return default
    value = data[key]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,))):
        raise Malformed(f"{key!r} is a {type(value).__name__}")
    return value


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def read_info(data: Any) -> AdapterInfo:
    """The adapter's declarations from its answer to "describe", validated."""
    kind = _get(data, "kind", str)
    if kind not in ("cell", "layer"):
        raise Malformed(f"kind is {kind!r}, not 'cell' or 'layer'")
    reset = _get(data, "reset", str)
    if reset not in RESETS:
        raise Malformed(f"reset is {reset!r}, not 'after' or 'before'")
    update = _get(data, "update", str, "pytorch")
    if update not in UPDATES:
        raise Malformed(f"update is {update!r}, not 'pytorch' or 'complement'")
    caps = _get(data, "capabilities", dict)
    known = {f.name: f for f in dataclasses.fields(Capabilities)}
    checked: dict[str, Any] = {}
    for key, value in caps.items():
        if key not in known:
            raise Malformed(f"unknown capability {key!r}")
        if key == "dtypes":
            if not isinstance(value, list) or not all(v in DTYPES for v in value):
                raise Malformed(f"dtypes {value!r} are not among {sorted(DTYPES)}")
            checked[key] = list(value)
        elif key == "devices":
            if not isinstance(value, list) or not all(isinstance(v, str) and len(v) < 20 for v in value):
                raise Malformed(f"devices {value!r}")
            checked[key] = list(value)
        elif key == "returns":
            if value not in RETURNS:
                raise Malformed(f"returns {value!r} is not one of {', '.join(RETURNS)}")
            checked[key] = value
        elif key == "precision":
            if value != "" and value not in PRECISIONS:
                raise Malformed(f"precision {value!r} is not one of {', '.join(PRECISIONS)} (or \"\" for float32's)")
            checked[key] = value
        elif isinstance(value, bool):
            checked[key] = value
        else:
            raise Malformed(f"capability {key!r} is {value!r}, not true or false")
    return AdapterInfo(
        kind=kind,
        name=_text(_get(data, "name", str), MAX_NAME),
        reset=reset,
        update=update,
        white_box=_get(data, "white_box", bool),
        capabilities=checked,
        notes=_text(_get(data, "notes", str, ""), MAX_NOTES),
        # Said inside the verdict's text: one line, so it cannot pose as another line of the summary.
        graded_part=_text(" ".join(_get(data, "graded_part", str, "").split()), MAX_NAME),
        parameter_grads=_get(data, "parameter_grads", bool, False),
        takes_lengths=_get(data, "takes_lengths", bool, False),
    )


def _read_value(data: Any) -> Value:
    kind = _text(_get(data, "kind", str), 100)
    if kind != "tensor":
        return Value(kind)
    shape = _get(data, "shape", list)
    if len(shape) > 6 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise Malformed(f"shape {shape!r}")
    dtype = _text(_get(data, "dtype", str), 40)
    values = data.get("values")
    if values is not None:
        if not isinstance(values, np.ndarray) or values.dtype != np.float64 or list(values.shape) != shape:
            raise Malformed("values do not match the stated shape")
    return Value(kind, dtype, _text(_get(data, "device", str), 40), tuple(shape),
                 _get(data, "requires_grad", bool, False), values, _text(_get(data, "unreadable", str, ""), 400))


def _read_array(data: dict[str, Any], key: str, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, np.ndarray) or value.dtype != np.float64:
        raise Malformed(f"{key} is not a float64 array")
    if shape is not None and value.shape != shape:
        raise Malformed(f"{key} has shape {value.shape}, expected {shape}")
    return value


#: An answer may hold this many times the bytes its case calls for, plus ``ANSWER_ROOM``:
#: an array of a wrong shape is still read and reported as such, while an answer far
#: larger than the case is refused before it is read (``conformance.running.isolation``).
ANSWER_SLACK = 4
ANSWER_ROOM = 1 << 20


def answer_bytes(config: GRUConfig, x_shape: tuple[int, ...], *, keep_inputs: bool = False,
                 backward: bool = False, parameters: bool = False) -> int:
    """The most array bytes an answer about time-major ``x_shape`` (T, B, I) may hold: a
    call's output and h_n (with ``keep_inputs``, x and h0 before and after), or a
    backward's gradients of x, h0 and (``parameters``) every canonical parameter; float64."""
    steps, batch, inputs = (int(n) for n in x_shape)
    directions, hidden, layers = config.num_directions, config.hidden_size, config.num_layers
    state = layers * directions * batch * hidden
    if backward:
        values = steps * batch * inputs + state
        if parameters:
            for layer in range(layers):
                width = inputs if layer == 0 else directions * hidden
                values += directions * (3 * hidden * (width + hidden) + 6 * hidden)
    else:
        values = steps * batch * directions * hidden + state
        if keep_inputs:
            values += 2 * (steps * batch * inputs + state)
    return ANSWER_SLACK * 8 * values + ANSWER_ROOM


@dataclass
class CheckRecord:
    """What one check noted while it ran: created by the engine for that check, written by
    the check's body and the subject while it runs, and read back into its outcome. The
    subject itself keeps only what outlives a check (the claims, the channel to the worker)."""

    #: The check's id, or a name for work outside the catalogue (``"diagnosis"``).
    check_id: str
    #: The check's metadata when it is a catalogued one (the tolerance kind it declares).
    check: Check | None = None
    #: The last case the check drew: the minimal one after hypothesis has shrunk.
    spec: CaseSpec | None = None
    #: What the check measured (the largest error per dtype, notes), kept with its outcome.
    measurements: dict[str, Any] = field(default_factory=dict)


#: The record in place while no check runs: what is noted then belongs to no check.
def _no_check() -> CheckRecord:
    return CheckRecord("")


class Subject:
    """One implementation under test: its declarations, the channel to its worker, and calls
    into it. What a running check notes goes into that check's ``check_record``."""

    def __init__(self, impl_id: str, adapter: _Adapter | None = None, *, backend: Backend | None = None,
                 source: str = "", entry: Any = None) -> None:
        if backend is None:
            if adapter is None:
                raise TypeError("Subject needs an adapter (graded in this process) or a backend")
            backend = InProcess(adapter)
        self.id = impl_id
        self.backend = backend
        self.source = source
        self.entry = entry
        self._info: AdapterInfo | None = None
        self._load_error = ""
        #: The running check's record (``begin_check`` puts it in place, ``end_check`` takes it away).
        self.check_record = _no_check()
        #: Process-wide state the implementation changed: [{"text", "restored", "note", "check"}]
        #: ("note": what changes no other computation's result, reported but not failed).
        self.state_changes: list[dict[str, Any]] = []
        #: Checks in a row that lost the implementation's process, and the last cause.
        self.lost_in_a_row = 0
        self.last_loss = ""
        self._dropped: list[int] = []
        self._handles = 0
        self._capabilities: tuple[AdapterInfo, Capabilities] | None = None

    def __repr__(self) -> str:
        # Shown in hypothesis' falsifying examples; keep it the id.
        return f"<{self.id}>"

    # Declarations -----------------------------------------------------------
    def _describe(self) -> None:
        if self._info is not None or self._load_error:
            return
        from conformance.running.isolation import LoadFailed, WorkerLost

        try:
            answer = self.backend.request({"op": "describe"})
            self._note_state(answer, "loading")
            self._info = read_info(answer.get("info"))
        except (LoadFailed, WorkerLost) as exc:
            self._load_error = str(exc)
        except Malformed as exc:
            self._load_error = f"its adapter's declarations are malformed: {exc}"
        if self._info is None:
            self._info = AdapterInfo(kind="layer", name=self.id, reset="after", white_box=False)
        else:
            # Report what is graded: for cells, the claims completed by the suite's unroller.
            self._info.capabilities = self.capabilities.to_json()

    @property
    def load_error(self) -> str:
        """Why the implementation could not be loaded at all (empty when it was)."""
        self._describe()
        return self._load_error

    @property
    def info(self) -> AdapterInfo:
        self._describe()
        assert self._info is not None
        return self._info

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def kind(self) -> str:
        return self.info.kind

    @property
    def is_cell(self) -> bool:
        return self.info.kind == "cell"

    @property
    def white_box(self) -> bool:
        return self.info.white_box

    @property
    def reset(self) -> str:
        return self.info.reset

    @property
    def update(self) -> str:
        """The update polarity claimed: "pytorch" or "complement"."""
        return self.info.update

    @property
    def has_grads(self) -> bool:
        return self.info.parameter_grads

    @property
    def capabilities(self) -> Capabilities:
        """The adapter's claims; for cells, completed with what the suite's unroller
        provides (layers, directions, time-major layout, h0), since a cell has no say."""
        info = self.info
        if self._capabilities is None or self._capabilities[0] is not info:
            self._capabilities = (info, self._completed_claims(info))  # read once: checks ask often
        return self._capabilities[1]

    def _completed_claims(self, info: AdapterInfo) -> Capabilities:
        data = dict(info.capabilities)
        if "dtypes" in data:
            data["dtypes"] = tuple(DTYPES[d] for d in data["dtypes"])
        if "devices" in data:
            data["devices"] = tuple(data["devices"])
        caps = Capabilities(**data)
        if self.is_cell:
            caps = dataclasses.replace(caps, bidirectional=True, multi_layer=True, time_major=True,
                                       batch_first=False, h0=True, unidirectional=True, h0_shared=False,
                                       returns="both")  # unbatched: the cell's own claim
        return caps

    def dtypes(self, allowed: tuple[str, ...] = ("float32", "float64")) -> list[str]:
        claimed = [dtype_name(d) for d in self.capabilities.dtypes]
        return [d for d in claimed if d in allowed]

    def directions(self) -> list[bool]:
        """Supported values of bidirectional."""
        caps = self.capabilities
        return [v for v, ok in ((False, caps.unidirectional), (True, caps.bidirectional)) if ok]

    def fitted(self, spec: CaseSpec) -> CaseSpec:
        """A fixed case made to fit the claims: a direction, layout and dtype claimed, one
        layer for an implementation of one, no h0 for one that takes none, no biases for one
        without, equal h0 slots for one taking a shared initial state."""
        caps = self.capabilities
        if spec.num_layers > 1 and not caps.multi_layer:
            spec = spec.with_(num_layers=1)
        if spec.with_h0 and not (self.is_cell or caps.h0):
            spec = spec.with_(with_h0=False)
        claimed = self.dtypes(("float64", "float32", "float16", "bfloat16"))
        if claimed and spec.dtype not in claimed:
            spec = spec.with_(dtype=claimed[0])
        if spec.bidirectional not in self.directions():
            spec = spec.with_(bidirectional=self.directions()[0])
        if spec.batch_first not in self.layouts():
            spec = spec.with_(batch_first=self.layouts()[0])
        if not caps.biases:
            spec = spec.with_(bias=False)
        if caps.h0_shared and spec.with_h0:
            spec = spec.with_(h0_shared=True)
        return spec

    def layouts(self) -> list[bool]:
        """Supported values of batch_first."""
        if self.is_cell:
            return [False]
        caps = self.capabilities
        return [v for v, ok in ((False, caps.time_major), (True, caps.batch_first)) if ok]

    # Measurements -----------------------------------------------------------
    def tolerance(self, dtype: str) -> Tolerance:
        """The running check's own tolerance for ``dtype``: the kind its metadata declares."""
        kind = self.check_record.check.tolerance if self.check_record.check is not None else None
        if kind is None:
            raise RuntimeError(f"the running check ({self.check_record.check_id or 'none'}) declares no tolerance")
        return tolerance(dtype, kind, self.capabilities.precision)

    def measured(self) -> dict[str, Any]:
        """The running check's measurements, to add to."""
        return self.check_record.measurements

    def note_case(self, spec: CaseSpec | None) -> None:
        """The running check drew ``spec``: the last one drawn is its counterexample."""
        self.check_record.spec = spec

    def record_error(self, dtype: str, error: float) -> None:
        """Keep the largest error the running check saw per dtype, shown against its tolerance."""
        per_dtype = self.measured().setdefault("max_error", {})
        if not np.isfinite(error) or error > per_dtype.get(dtype, -1.0):
            per_dtype[dtype] = float(error)

    def record(self, key: str, value: Any) -> None:
        """Keep ``value`` among the running check's measurements."""
        self.measured()[key] = value

    # The channel ----------------------------------------------------------------
    def _note_state(self, answer: dict[str, Any], during: str = "") -> None:
        changes = answer.get("state")
        if not isinstance(changes, list):
            return
        for change in changes[:20]:
            if not isinstance(change, dict):
                continue
            text = _text(change.get("text", ""), MAX_STATE_TEXT)
            self.state_changes.append({"text": text, "restored": bool(change.get("restored", True)),
                                       "note": change.get("note") is True, "check": during or self.check_record.check_id})

    def request(self, message: dict[str, Any], call: str = "", answer_bytes: int | None = None) -> dict[str, Any]:
        """Send one request; the answer, or ``AdapterError`` when the adapter failed."""
        return self._checked(self._request(message, answer_bytes), call)

    def _request(self, message: dict[str, Any], answer_bytes: int | None = None) -> dict[str, Any]:
        if self._dropped:
            message = {**message, "drop": self._dropped}
            self._dropped = []
        answer = self.backend.request(message, answer_bytes) if answer_bytes else self.backend.request(message)
        self._note_state(answer)
        return answer

    @staticmethod
    def _checked(answer: dict[str, Any], call: str) -> dict[str, Any]:
        if answer.get("ok") is not True:
            error = _text(answer.get("error", "the implementation's side gave no reason"), MAX_MESSAGE)
            if answer.get("where") == UNSUPPORTED:
                # The implementation's own declaration, like a claim it does not make: it can only
                # take a check away from its own grading, never change another's.
                raise NotApplicable(error)
            raise AdapterError(error, call)
        return answer

    def _forget(self, handle: int, generation: int | None) -> None:
        if generation is not None and generation == self.backend.generation:
            self._dropped.append(handle)

    def _send(self, instance: Instance, message: dict[str, Any], call: str,
              answer_bytes: int | None = None) -> dict[str, Any]:
        """A request about ``instance``: its build goes first, in the same round trip."""
        return self._start(instance, message, call, answer_bytes)()

    def _start(self, instance: Instance, message: dict[str, Any], call: str,
               answer_bytes: int | None = None) -> Callable[[], dict[str, Any]]:
        """Send a request about ``instance`` (its build first, in the same round trip) and
        return the function that reads and checks the answer, whose arrays may hold at most
        ``answer_bytes``: the grader may work in between, while the implementation's process
        computes."""
        if instance.build is None and instance.generation != self.backend.generation:
            from conformance.running.isolation import WorkerLost

            raise WorkerLost("the instance was built in a worker process that has since ended")
        building = instance.build is not None
        if building:
            message = {**message, "build": instance.build}
        if self._dropped:
            message = {**message, "drop": self._dropped}
            self._dropped = []
        bound = (answer_bytes,) if answer_bytes else ()
        send = getattr(self.backend, "send", None)
        if send is None:  # a backend without the two halves: the whole round trip now
            sent = self.backend.request(message, *bound)
            receive: Callable[[], dict[str, Any]] = lambda: sent  # noqa: E731
        else:
            send(message, *bound)
            receive = self.backend.receive

        def answer() -> dict[str, Any]:
            got = receive()
            self._note_state(got)
            if building:
                if got.get("built") is not True:  # build or load raised: the call was not made
                    raise AdapterError(_text(got.get("build_error", "build failed"), MAX_MESSAGE),
                                       f"{self.name}.build({instance.config})")
                instance.build, instance.generation = None, self.backend.generation
                weakref.finalize(instance, self._forget, instance.handle, instance.generation)
            return self._checked(got, call)

        return answer

    # Building -----------------------------------------------------------------
    def instantiate(self, case: Case, params: CanonicalParams | None = None, *, load: bool = True) -> Instance:
        """A fresh implementation for the case's configuration, loaded with ``params``
        (default: the case's own) for white-box adapters. The build request travels with
        the instance's first call (one round trip instead of two); what build or load
        raise is reported there."""
        config = case.config
        params = case.params if params is None else params
        self._handles += 1
        message: dict[str, Any] = {"op": "build", "instance": self._handles, "config": config.to_json(),
                                   "seed": case.spec.seed}
        if load and self.white_box:
            message.update(self._params_message(params))
        return Instance(config, self._handles, None, message)

    def _params_message(self, params: CanonicalParams) -> dict[str, Any]:
        if self.update == "complement":  # the implementation's own convention (conformance.base.conventions)
            params = complement_params(params)
        return {"params": {k: np.asarray(v, dtype=np.float64) for k, v in params.items()},
                "param_meta": {"input_size": params.input_size, "hidden_size": params.hidden_size,
                               "num_layers": params.num_layers, "bidirectional": params.bidirectional,
                               "bias": params.bias}}

    def reload(self, instance: Instance, params: CanonicalParams) -> str:
        """Load ``params`` again into ``instance``, which may already have run (white-box
        adapters); returns how the call is shown."""
        call = f"{self.name}.load(<the instance>, <new parameters>)"
        self._send(instance, {"op": "load", "instance": instance.handle, **self._params_message(params)}, call)
        return call

    def convert(self, instance: Instance, dtype: str) -> str:
        """Convert ``instance`` to ``dtype`` after construction (the adapter's ``convert``, by
        default ``module.to(dtype)``); later calls hand it inputs of that dtype. Raises
        ``NotApplicable`` when the implementation cannot be converted."""
        call = f"{self.name}.convert(<the {dtype_name(instance.config.dtype)} instance>, torch.{dtype})"
        self._send(instance, {"op": "convert", "instance": instance.handle, "dtype": dtype}, call)
        instance.config = dataclasses.replace(instance.config, dtype=DTYPES[dtype])
        return call

    # Calling ------------------------------------------------------------------
    def handed_shapes(self, instance: Instance, x_shape: tuple[int, ...], h0_shape: tuple[int, ...] | None,
                      *, unbatched: bool = False) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
        """The shapes of time-major ``x`` and ``h0`` as the implementation gets them."""
        if unbatched:
            return (x_shape[0], x_shape[2]), None if h0_shape is None else (h0_shape[0], h0_shape[2])
        if instance.config.batch_first and not self.is_cell:
            return (x_shape[1], x_shape[0], *x_shape[2:]), h0_shape
        return tuple(x_shape), h0_shape

    def describe_call(self, instance: Instance, x_shape: tuple[int, ...], h0_shape: tuple[int, ...] | None, *,
                      dtype: str | None = None, op: str = "") -> str:
        """The call as the implementation sees it, from the shapes it is handed."""
        name = f"{self.name}.{op or ('step' if self.is_cell else 'run')}"
        return describe_call(name, x_shape, dtype or dtype_name(instance.config.dtype), h0_shape)

    def execute(self, instance: Instance, x: np.ndarray, h0: np.ndarray | None, **options: Any) -> Returned:
        """Call the implementation on time-major float64 ``x`` (T, B, I) from ``h0`` (L*D, B, H)
        or None, and return what it gave, unread (the options are ``start``'s)."""
        return self.start(instance, x, h0, **options)()

    def start(
        self,
        instance: Instance,
        x: np.ndarray,
        h0: np.ndarray | None,
        *,
        unbatched: bool = False,
        lengths: Any = None,
        x_dtype: str | None = None,
        h0_dtype: str | None = None,
        strides: str = "contiguous",
        default_device: str | None = None,
        seed: int | None = None,
        grad: bool = False,
        x_requires_grad: bool = True,
        keep_inputs: bool = False,
        keep_results: bool = False,
        mode: str = "no_grad",
        training: bool | None = None,
        packed_order: list[int] | None = None,
    ) -> Callable[[], Returned]:
        """Send a call of the implementation on time-major float64 ``x`` (T, B, I) from ``h0``
        (L*D, B, H) or None; returns the function that reads what it gave, unread (the
        grader may work before reading it: ``call_beside``). Options: ``unbatched``
        (x given as (T, 1, I) is handed over as (T, I)); ``lengths`` (B ints, a padded
        variable-length batch); other dtypes for x or h0; ``strides`` "strided" (the
        same values as non-contiguous views) or "misread" (what a kernel ignoring strides
        reads from them); a ``default_device`` during the call; a torch ``seed`` set for
        the call; ``grad`` (autograd on, for ``backward``; with ``x_requires_grad`` False x is
        data, as a training batch is, and only h0 and the parameters require a gradient); ``keep_inputs`` (x and h0 as
        handed over and after the call); ``keep_results`` (what it returns kept, for ``reread``); ``mode``, how autograd is set during the call
        ("no_grad", "grad" or "inference": ``torch.inference_mode``); ``training`` (the
        instance in training or inference mode for this call; ``NotApplicable`` when it has
        none); ``packed_order`` (with ``lengths``: samples of equal length packed in this order,
        so that the PackedSequence's ``sorted_indices`` is not the identity). ``strides`` is
        one of ``conformance.running.input_views.LAYOUTS`` ("transposed", "permuted", "offset", "expanded"...)."""
        x = np.asarray(x, dtype=np.float64)
        h0 = None if h0 is None else np.asarray(h0, dtype=np.float64)
        x_shape, h0_shape = self.handed_shapes(instance, x.shape, None if h0 is None else h0.shape,
                                               unbatched=unbatched)
        call = self.describe_call(instance, x_shape, h0_shape, dtype=x_dtype)
        if lengths is not None:
            lengths = [int(n) for n in lengths]
            call = call.replace(", h0=", f", lengths={lengths}, h0=")
        if mode not in GRAD_MODES:
            raise ValueError(f"mode is {mode!r}, not one of {GRAD_MODES}")
        message = {
            "op": "call", "instance": instance.handle, "x": x, "h0": h0, "unbatched": unbatched,
            "lengths": lengths, "x_dtype": x_dtype, "h0_dtype": h0_dtype, "strides": strides,
            "default_device": default_device, "seed": seed, "grad": grad, "keep_inputs": keep_inputs,
        }
        if keep_results:
            message["keep_results"] = True
        if grad and not x_requires_grad:
            message["x_requires_grad"] = False
            call += " with x requiring no gradient"
        if mode != "no_grad":
            message["mode"] = mode
        if training is not None:
            message["training"] = training
        if packed_order is not None:
            message["packed_order"] = [int(b) for b in packed_order]
        answer = self._start(instance, message, call, answer_bytes(instance.config, x.shape, keep_inputs=keep_inputs))

        def returned() -> Returned:
            got = answer()
            try:
                output, h_n = _read_value(got.get("output")), _read_value(got.get("h_n"))
                problems = [_text(p, MAX_MESSAGE) for p in _get(got, "shape_problems", list, [])][:10]
                inputs = {}
                if keep_inputs:
                    for key in ("x_before", "x_after", "h0_before", "h0_after"):
                        array = _read_array(got, key)
                        if array is not None:
                            inputs[key] = array
            except Malformed as exc:
                raise AdapterError(f"the implementation's side sent a malformed answer: {exc}", call) from None
            return Returned(output, h_n, call, x_shape, h0_shape, [f"{p} [{call}]" for p in problems], inputs,
                            unbatched)

        return returned

    def reread(self, instance: Instance, earlier: Returned) -> Result:
        """The results of ``earlier`` (a call made with ``keep_results``, the last such call on
        ``instance``) read again now, from the objects it returned, as ``read`` reads a call."""
        call = f"the results of {earlier.call}, read again after the next call"
        x_shape = earlier.x_shape
        time_major = ((x_shape[0], 1, x_shape[1]) if earlier.unbatched else
                      (x_shape[1], x_shape[0], x_shape[2]) if instance.config.batch_first and not self.is_cell
                      else x_shape)
        got = self._send(instance, {"op": "reread", "instance": instance.handle}, call,
                         answer_bytes(instance.config, time_major))
        try:
            output, h_n = _read_value(got.get("output")), _read_value(got.get("h_n"))
        except Malformed as exc:
            raise AdapterError(f"the implementation's side sent a malformed answer: {exc}", call) from None
        return self.read(instance, dataclasses.replace(earlier, output=output, h_n=h_n, call=call))

    def read(self, instance: Instance, returned: Returned) -> Result:
        """Check that what came back can be read as nn.GRU's (output, h_n) and convert it."""
        config = instance.config
        call = returned.call
        unbatched = returned.unbatched
        problems = list(returned.shape_problems)
        x_shape = returned.x_shape
        given = {"both": ("output", "h_n"), "output": ("output",), "state": ("h_n",)}[self.capabilities.returns]
        for what, value in (("output", returned.output), ("h_n", returned.h_n)):
            if value.kind == "none" and what not in given:
                continue  # not returned, as claimed: comparisons of it are not made
            if value.kind != "tensor":
                kind = "None" if value.kind == "none" else f"a {value.kind}"
                raise AdapterError(f"{what} is {kind}, not a tensor", call)
        batch_major = config.batch_first and not self.is_cell and not unbatched
        if unbatched:
            steps, batch = x_shape[0], None
        elif batch_major:
            batch, steps = x_shape[0], x_shape[1]
        else:
            steps, batch = x_shape[0], x_shape[1]
        width = config.num_directions * config.hidden_size
        states = config.num_layers * config.num_directions
        if unbatched:
            out_shape, hn_shape = (steps, width), (states, config.hidden_size)
        elif batch_major:
            out_shape, hn_shape = (batch, steps, width), (states, batch, config.hidden_size)
        else:
            out_shape, hn_shape = (steps, batch, width), (states, batch, config.hidden_size)
        arrays: list[Any] = []
        for what, value, shape in (("output", returned.output, out_shape), ("h_n", returned.h_n, hn_shape)):
            if value.kind == "none":
                arrays.append(NOT_RETURNED)
                continue
            if value.shape != shape:
                if int(np.prod(value.shape)) != int(np.prod(shape)):
                    raise AdapterError(f"{what} has shape {value.shape}, but should have shape {shape}", call)
                problems.append(f"{what} has shape {value.shape}, but should have shape {shape} [{call}]")
            if value.values is None:
                raise AdapterError(f"{what} cannot be read ({value.dtype} on {value.device}): {value.unreadable}",
                                   call)
            arrays.append(value.values.reshape(shape))
        out, hn = arrays
        if batch_major and not isinstance(out, NotReturned):
            out = out.transpose(1, 0, 2)
        return Result(out, hn, call, returned, problems)

    def call(self, instance: Instance, x: np.ndarray, h0: np.ndarray | None, **options: Any) -> Result:
        """``execute`` then ``read``: time-major float64 ``output`` and ``h_n``."""
        return self.read(instance, self.execute(instance, x, h0, **options))

    def run_case(self, case: Case) -> Result:
        """Build, load and run one case in one go."""
        return self.call(self.instantiate(case), case.x, case.h0)

    def measure(self, instance: Instance, x: np.ndarray, h0: np.ndarray | None, **request: Any) -> dict[str, Any]:
        """Time or weigh the implementation on time-major float64 ``x`` and ``h0`` inside
        its own process (``conformance.running.timing``: ``mode``, ``what``, ``contenders``...).
        The answer is unread: the figures an implementation's process sends are the
        benchmarks' to check (``conformance.reporting.bench``), and never decide a verdict."""
        x_shape, h0_shape = self.handed_shapes(instance, x.shape, None if h0 is None else h0.shape)
        call = f"measuring {self.describe_call(instance, x_shape, h0_shape)}"
        message = {"op": "measure", "instance": instance.handle, "x": np.asarray(x, dtype=np.float64),
                   "h0": None if h0 is None else np.asarray(h0, dtype=np.float64), **request}
        return self._send(instance, message, call)

    def call_beside(self, instance: Instance, x: np.ndarray, h0: np.ndarray | None, work: Callable[[], T],
                    **options: Any) -> tuple[Result, T]:
        """``call``, with ``work()`` (the reference's side of a comparison) done in this process
        while the implementation computes: in its own process, on another core."""
        finish = self.start(instance, x, h0, **options)
        try:
            value = work()
        except BaseException:
            with contextlib.suppress(Exception):
                finish()  # the answer is read all the same: the next request must not get it
            raise
        return self.read(instance, finish()), value

    def run_case_beside(self, case: Case, work: Callable[[], T]) -> tuple[Result, T]:
        """``run_case``, with ``work()`` done meanwhile (``call_beside``)."""
        return self.call_beside(self.instantiate(case), case.x, case.h0, work)

    # Gradients ----------------------------------------------------------------
    def backward(self, instance: Instance, returned: Returned, output_grad: np.ndarray | None,
                 h_n_grad: np.ndarray | None,
                 *, parameters: bool = False, upstream: str = "contiguous") -> dict[str, np.ndarray]:
        """Back-propagate ``sum(output * output_grad) + sum(h_n * h_n_grad)`` (time-major
        upstream gradients) through the last call made with ``grad``; returns the
        gradients with respect to "x" (T, B, I), "h0" (when given) and, with
        ``parameters``, every canonical parameter the adapter's ``grads`` reads.
        ``upstream`` "transposed": the loss reads output and h_n through ``transpose(0, 1)``,
        so the gradients reaching them are non-contiguous views (innermost stride 1)."""
        if upstream not in UPSTREAM_LAYOUTS:
            raise ValueError(f"upstream is {upstream!r}, not one of {UPSTREAM_LAYOUTS}")
        config = instance.config
        batch_major = config.batch_first and not self.is_cell
        message: dict[str, Any] = {"op": "backward", "instance": instance.handle, "parameters": parameters,
                                   "output_grad": None, "h_n_grad": None, "upstream": upstream}
        if output_grad is not None and returned.output.kind == "tensor":
            out_grad = output_grad.transpose(1, 0, 2) if batch_major else output_grad
            message["output_grad"] = np.ascontiguousarray(out_grad).reshape(returned.output.shape)
        if h_n_grad is not None and returned.h_n.kind == "tensor":
            message["h_n_grad"] = np.ascontiguousarray(h_n_grad).reshape(returned.h_n.shape)
        call = f"{returned.call}, then backward of the generated loss"
        handed = returned.x_shape
        time_major = ((handed[0], 1, handed[1]) if returned.unbatched
                      else (handed[1], handed[0], handed[2]) if batch_major else handed)
        bound = answer_bytes(config, time_major, backward=True, parameters=parameters)
        answer = self._send(instance, message, call, bound)
        grads: dict[str, np.ndarray] = {}
        try:
            x_grad = _read_array(answer, "x", returned.x_shape)
            if x_grad is None:
                raise Malformed("no gradient for x")
            grads["x"] = x_grad.transpose(1, 0, 2) if batch_major else x_grad
            if returned.h0_shape is not None:
                h0_grad = _read_array(answer, "h0", returned.h0_shape)
                if h0_grad is not None:
                    grads["h0"] = h0_grad
            for name, value in (_get(answer, "parameters", dict, {}) if parameters else {}).items():
                name = _text(name, 100)
                if isinstance(value, str):
                    raise AdapterError(f"grads gave {_text(value, 200)} for {name}", f"{self.name}.grads(...) after {call}")
                if not isinstance(value, np.ndarray) or value.dtype != np.float64:
                    raise Malformed(f"gradient {name} is not a float64 array")
                grads[name] = value
        except Malformed as exc:
            raise AdapterError(f"the implementation's side sent a malformed answer: {exc}", call) from None
        if self.update == "complement":
            grads = complement_grads(grads, config.hidden_size)
        return grads

    # Checks ------------------------------------------------------------------------
    def begin_check(self, record: CheckRecord, seconds: float | None = None) -> None:
        """A check starts: what it notes, the state changes and the output are filed under
        its ``record``; ``seconds`` bounds it."""
        self.check_record = record
        self.backend.begin(seconds)

    def checkpoint(self) -> None:
        """Ask the implementation's side to look for replaced functions now (the deep
        state comparison, which puts them back); changes are recorded as usual."""
        from conformance.running.isolation import LoadFailed, WorkerLost

        if self.backend.alive:
            try:
                self.request({"op": "checkpoint"})
            except (AdapterError, LoadFailed, WorkerLost):
                pass

    def end_check(self) -> dict[str, Any]:
        """A check ended: look for replaced functions (the deep comparison, which puts
        them back), then what the implementation printed during the check."""
        self.checkpoint()
        printed = self.backend.end()
        self.check_record = _no_check()
        return printed

    def close(self) -> None:
        self.backend.close()


__all__ = ["AdapterError", "CheckRecord", "Instance", "Result", "Returned", "Value", "Subject", "CaseSpec", "DTYPES",
           "InProcess", "describe_call"]

