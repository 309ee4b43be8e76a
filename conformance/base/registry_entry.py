"""A registered implementation: what the registries (``implementations/registry.py``,
``implementations/frameworks/registry.py``) are made of. Names only: nothing here
imports an implementation."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entry:
    """One registered implementation (``implementations/registry.py``).

    ``expected_failures`` says what the suite must find, check id -> why: the
    self-tests hold the suite to it, and ``--check-expectations`` grades against it.
    """

    id: str
    adapter: str
    description: str
    document: str = ""
    expected_failures: dict[str, str] = field(default_factory=dict)
    #: Checks expected not applicable are not listed: applicability follows from the claims.
