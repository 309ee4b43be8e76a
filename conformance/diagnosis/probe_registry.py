"""The probes run after the fit, registered the way checks are.

A probe is a function of the shared context (``conformance.diagnosis.context.Context``)
that calls the implementation on cases of its own and records findings::

    @probe("non-contiguous", requires=("layer",),
           title="the same values as strided views give the same result")
    def non_contiguous(ctx: Context) -> None:
        ...
        ctx.finding("input", "a non-contiguous x or h0 ... gives other results")

``requires`` uses the checks' requirement names (``conformance.cases.catalogue.REQUIREMENTS``:
"layer", "h0", "bidirectional", "unbatched", "lengths", a dtype...): a probe whose
requirement the implementation does not claim is skipped, as a check would be "not
applicable". Probes run in registration order (the order their modules are imported
in ``conformance/diagnosis/__init__.py``, then definition order); an adapter error in
one becomes the finding "the <id> probe failed: ..." and the others still run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance.cases.catalogue import REQUIREMENTS, unmet_requirement


@dataclass(frozen=True)
class RegisteredProbe:
    id: str
    title: str
    requires: tuple[str, ...]
    run: Callable[[Any], None]
    after: tuple[str, ...] = ()


#: Every registered probe, in the order it runs.
PROBES: dict[str, RegisteredProbe] = {}


def probe(id: str, *, title: str, requires: tuple[str, ...] = (),
          after: tuple[str, ...] = ()) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register a probe function under ``id`` (a duplicate id is refused)."""
    for requirement in requires:
        if requirement not in REQUIREMENTS:
            raise ValueError(f"got requirement {requirement!r} for probe {id!r}, but should be one of "
                             f"{sorted(REQUIREMENTS)}")

    def register(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        if id in PROBES and PROBES[id].run.__qualname__ != fn.__qualname__:
            raise ValueError(f"got a second probe with id {id!r}, but ids should be unique")
        PROBES[id] = RegisteredProbe(id, title, tuple(requires), fn, tuple(after))
        return fn

    return register


def applicable(registered: RegisteredProbe, subject: Any) -> bool:
    """Whether the subject claims what the probe requires (the checks' rule)."""
    return unmet_requirement(registered, subject) is None  # type: ignore[arg-type]


def ordered() -> list[RegisteredProbe]:
    """Every probe, each after those it names in ``after``, otherwise in registration order."""
    done: dict[str, RegisteredProbe] = {}

    def place(registered: RegisteredProbe, path: tuple[str, ...]) -> None:
        if registered.id in done:
            return
        if registered.id in path:
            raise ValueError(f"got probes that wait for each other: {' -> '.join(path + (registered.id,))}")
        for name in registered.after:
            if name not in PROBES:
                raise ValueError(f"got probe {registered.id!r} after {name!r}, but no probe has that id")
            place(PROBES[name], path + (registered.id,))
        done[registered.id] = registered

    for registered in PROBES.values():
        place(registered, ())
    return list(done.values())
