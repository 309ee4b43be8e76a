"""The results document, typed: what a results file holds (schema ``gru-conformance-results/1``,
described in ``conformance.grading.results``) as dataclasses that read and write that JSON.

Plain data: nothing here grades, and no verdict is decided here (``conformance.grading.results.judge``
decides it). Each class reads its JSON object leniently (a missing key takes the field's default,
a value is kept as it came) and writes it back as it was read: the keys it does not know
(``extra``) are kept, the keys are written in the order they were read, and a key the object
lacked is not added while its field keeps its default. So a file read and written again is
unchanged, whichever version of the suite, or which command (``grade-folder`` adds ``grading``),
wrote it.

Objects whose schema belongs to another module stay JSON objects (dicts): the environment
(``results.environment``), the tolerances (``conformance.base.tolerances``), the checks' metadata
(``catalogue.Check.to_json``), an adapter's declarations (``adapter.AdapterInfo``), a diagnosis
(``conformance.diagnosis``, or a string in hand-written files), each of a check's distinct
failures (``outcome.FAILURE_FIELDS``) and the benchmarks (``conformance.reporting.bench``).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

SCHEMA = "gru-conformance-results/1"

_Record = TypeVar("_Record", bound="JsonRecord")
#: Field metadata: how a field's JSON value is read (default: a copy of it as it is).
READ = "read"
#: Field metadata: a section written only when it holds something (None leaves the key out).
OPTIONAL = "optional"


@dataclass
class JsonRecord:
    """A dataclass written as a JSON object whose keys are its fields (see the module docstring)."""

    #: The keys this suite does not know, with their values as read.
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)
    #: The keys of the object this was read from, in their order (empty when built here).
    read_keys: tuple[str, ...] = field(default=(), kw_only=True, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """This record as a JSON object (fresh containers: changing it does not change the record)."""
        written: dict[str, Any] = {}
        for f in _data_fields(type(self)):
            value = getattr(self, f.name)
            if f.metadata.get(OPTIONAL) and value is None:
                continue
            if self.read_keys and f.name not in self.read_keys and _holds_default(self, f):
                continue  # the file had no such key: write none
            written[f.name] = _plain(value)
        for key, value in self.extra.items():
            written.setdefault(key, _plain(value))
        return _in_order(written, self.read_keys)

    @classmethod
    def from_json(cls: type[_Record], data: Any) -> _Record:
        """The record a JSON object holds; ``ValueError`` when ``data`` is not an object."""
        if not isinstance(data, Mapping):
            raise ValueError(f"got a {type(data).__name__}, but a {cls.__name__} is read from a JSON object")
        fields = {f.name: f for f in _data_fields(cls)}
        values = {key: fields[key].metadata.get(READ, copy.deepcopy)(value)
                  for key, value in data.items() if key in fields}
        extra = {key: copy.deepcopy(value) for key, value in data.items() if key not in fields}
        return cls(**values, extra=extra, read_keys=tuple(data))


def _data_fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if f.name not in ("extra", "read_keys")]


def _holds_default(record: JsonRecord, f: dataclasses.Field[Any]) -> bool:
    if f.default is not dataclasses.MISSING:
        return bool(getattr(record, f.name) == f.default)
    if f.default_factory is not dataclasses.MISSING:
        return bool(getattr(record, f.name) == f.default_factory())
    return False


def _plain(value: Any) -> Any:
    """``value`` as JSON values, in fresh containers."""
    if isinstance(value, JsonRecord):
        return value.to_json()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def as_written(value: Any) -> Any:
    """``value`` as a results file holds it (tuples become lists, and what JSON cannot hold its
    ``str``, as the writer writes it): a document built here then equals the one read back."""
    return json.loads(json.dumps(value, default=str))


def _in_order(written: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """The keys in the order they were read; keys the source lacked after them, as written."""
    if not order:
        return written
    rank = {key: n for n, key in enumerate(order)}
    return {key: written[key] for key in sorted(written, key=lambda k: rank.get(k, len(rank)))}


def _reader(cls: type[_Record]) -> Callable[[Any], _Record]:
    """Reads one record; a null (or another non-object) reads as the record's defaults."""
    return lambda value: cls.from_json(value) if isinstance(value, Mapping) else cls()


def _map_reader(cls: type[_Record]) -> Callable[[Any], dict[str, _Record]]:
    return lambda value: {key: cls.from_json(item) for key, item in (value or {}).items()}


def _list_reader(cls: type[_Record]) -> Callable[[Any], list[_Record]]:
    return lambda value: [cls.from_json(item) for item in value or []]


# The records -----------------------------------------------------------------------------
@dataclass
class Score(JsonRecord):
    """Checks passed of those that decide conformance; warnings are counted apart."""

    passed: int = 0
    applicable: int = 0
    warnings: int = 0


@dataclass
class Coverage(JsonRecord):
    """How much of the catalogue was graded (the ``graded`` key)."""

    #: Checks with an outcome (run, not applicable or blocked).
    checks: int = 0
    #: Checks in the catalogue.
    of: int = 0
    #: Some checks were not run (a ``-k`` selection, a quick subset, grading that did not finish).
    partial: bool = False


@dataclass
class CheckResult(JsonRecord):
    """One check's outcome, as ``conformance.grading.outcome.Outcome.to_json`` writes it."""

    status: str = ""
    message: str = ""
    #: The minimal failing case (CaseSpec fields), when there is one.
    counterexample: dict[str, Any] | None = None
    falsifying_example: str = ""
    #: A number, or "inf" (JSON has no infinity).
    max_error: float | str | None = None
    tolerance: dict[str, Any] | None = None
    duration: float = 0.0
    measurements: dict[str, Any] = field(default_factory=dict)
    #: What the implementation printed: {"text", "bytes", "truncated"}.
    output: dict[str, Any] | None = None
    #: Every distinct failure (main first) when there are several.
    failures: list[dict[str, Any]] = field(default_factory=list)
    elsewhere: str = ""
    #: The error is the suite's own and decides no verdict (written only when true).
    suite_fault: bool = False

    @classmethod
    def of(cls, outcome: Any) -> CheckResult:
        """The result of an ``Outcome`` (anything with its ``to_json``), as its file holds it."""
        return cls.from_json(as_written(outcome.to_json()))


@dataclass
class Grading(JsonRecord):
    """How ``grade-folder`` ran one submission's grading process (the ``grading`` key)."""

    #: What ``python -m conformance grade`` was given.
    spec: str = ""
    exit_code: int | None = None
    seconds: float = 0.0
    timed_out: bool = False
    time_limit_s: float | None = None
    memory_limit_mb: int | None = None
    scratch_mb: int | None = None
    #: The log file's name beside the results file ("" when there is none).
    log: str = ""


@dataclass
class ImplementationResult(JsonRecord):
    """One graded implementation: its declarations, every check's result and the verdict."""

    id: str = ""
    #: What it was loaded from (registry id, module:Class, path.py:Class).
    source: str = ""
    document: str = ""
    description: str = ""
    #: The adapter's declarations (``AdapterInfo``'s fields); None when it could not be loaded.
    adapter: dict[str, Any] | None = None
    #: The convention claimed, in words.
    claimed_variant: str = ""
    #: A ``conventions.VERDICTS`` id, set by ``conformance.grading.results.judge`` only.
    verdict: str = ""
    verdict_text: str = ""
    graded: Coverage = field(default_factory=Coverage, metadata={READ: _reader(Coverage)})
    score: Score = field(default_factory=Score, metadata={READ: _reader(Score)})
    #: Why it could not be graded, or why grading stopped ("" when it was graded).
    load_error: str = ""
    checks: dict[str, CheckResult] = field(default_factory=dict, metadata={READ: _map_reader(CheckResult)})
    diagnosis: Any = None
    #: Why there is no diagnosis ("" when there is one).
    diagnosis_note: str = ""
    grading: Grading | None = field(default=None, metadata={READ: _reader(Grading), OPTIONAL: True})

    def declared(self, name: str, default: Any = None) -> Any:
        """One of the adapter's declarations (``default`` when there is none)."""
        return self.adapter.get(name, default) if isinstance(self.adapter, Mapping) else default

    @property
    def reset(self) -> str:
        return self.declared("reset", "")

    @property
    def update(self) -> str:
        return self.declared("update", "pytorch")

    @property
    def white_box(self) -> bool:
        return bool(self.declared("white_box", False))

    @property
    def graded_part(self) -> str:
        """What was graded when it is a part of what was named ("its submodule gru"), else ""."""
        return self.declared("graded_part", "")

    @property
    def capabilities(self) -> dict[str, Any]:
        value = self.declared("capabilities")
        return value if isinstance(value, dict) else {}


@dataclass
class ResultsDocument(JsonRecord):
    """A results file: how it was graded, the checks' metadata and every implementation."""

    schema: str = SCHEMA
    environment: dict[str, Any] = field(default_factory=dict)
    #: dtype -> tolerance kind -> {"atol", "rtol"}.
    tolerances: dict[str, Any] = field(default_factory=dict)
    #: check id -> the check's metadata.
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: False while grading runs, or when it was stopped.
    complete: bool = True
    #: How far grading got ({"checks_done", "checks_total"}), or how many merged files did not finish
    #: ({"incomplete_files"}); written when not complete.
    progress: dict[str, Any] | None = field(default=None, metadata={OPTIONAL: True})
    implementations: list[ImplementationResult] = field(
        default_factory=list, metadata={READ: _list_reader(ImplementationResult)})
    #: Known-failures entries that match no graded check.
    stale_known_failures: list[str] | None = field(default=None, metadata={OPTIONAL: True})
    #: The benchmarks section (schema ``gru-conformance-benchmarks/2``).
    benchmarks: dict[str, Any] | None = field(default=None, metadata={OPTIONAL: True})

    def implementation(self, impl_id: str) -> ImplementationResult | None:
        return next((impl for impl in self.implementations if impl.id == impl_id), None)
