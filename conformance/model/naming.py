"""The grammar of implementation names, in one place.

A name is one of:

* a registry id (``torch-gru``) or an installed entry point's name (group
  ``gru_conformance.adapters``): a name with no ``:``, looked up by ``conformance.grading.loading``;
* ``module:Class`` (``my_pkg.layers:MyGRU``), imported from the import path;
* ``path/to/file.py:Class`` (a ``.py`` file, or any ``where`` holding a path separator);

and a class named by module or file may carry the narrowing of its claims after a ``#``:
``my_gru.py:MyGRU#no-bidirectional,dtypes=float32+float64,reset=before,toolchain=compile``.
Only a ``#`` after the last ``:`` counts (a path may hold one).

Parsing only: nothing is imported or looked up here, and no torch. The grading process
reads names with it (``conformance.grading.loading``), the implementation's worker reads the
narrowing it was given (``conformance.model.gru_like_adapter``), and the command line's options that
write a narrowing are ``conformance.commands.claim_options``. Malformed names raise ``ValueError``.
"""

from __future__ import annotations

import re
from typing import Any

from conformance.model.toolchains import NAMES as TOOLCHAIN_NAMES

#: Separates a class name from the narrowing of its claims.
NARROWING_MARK = "#"
#: What the claims of a class graded without an adapter can be narrowed by.
BOOLEAN_CLAIMS = ("bidirectional", "multi_layer", "time_major", "batch_first", "h0", "unbatched", "autograd",
                  "lengths", "bias_free", "dropout")
LIST_CLAIMS = ("dtypes", "devices")
CONVENTION_CLAIMS = {"reset": ("after", "before"), "update": ("pytorch", "complement")}
#: Not a claim: what the class is passed through before it is called (conformance.model.toolchains).
BUILD_OPTIONS = {"toolchain": TOOLCHAIN_NAMES}
DTYPE_NAMES = ("float32", "float64", "float16", "bfloat16")

_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def names_a_class(name: str) -> bool:
    """Whether ``name`` is ``where:Class`` (a module or file) rather than an id or an entry point."""
    return ":" in name


def split_spec(target: str) -> tuple[str, str, bool]:
    """``where:attr`` -> (where, attr, is a file path)."""
    if not names_a_class(target):
        raise ValueError(f"{target!r} is neither a registered id nor 'module:Class' / 'path/to/file.py:Class'")
    where, _, attr = target.rpartition(":")
    is_file = where.endswith(".py") or "/" in where or "\\" in where
    if not attr or not _DOTTED_NAME.fullmatch(attr):
        raise ValueError(f"{target!r}: {attr!r} is not a class name")
    return where, attr, is_file


def split_narrowing(name: str) -> tuple[str, str]:
    """``"file.py:MyGRU#no-bidirectional"`` -> ``("file.py:MyGRU", "no-bidirectional")``.
    Only a mark after the last ``:`` counts (a path may hold one)."""
    head, colon, tail = name.rpartition(":")
    if NARROWING_MARK not in tail:
        return name, ""
    attr, _, narrowing = tail.partition(NARROWING_MARK)
    return f"{head}{colon}{attr}", narrowing


def parse_narrowing(text: str) -> dict[str, Any]:
    """``"no-bidirectional,dtypes=float32+float64,reset=before"`` -> claims to change.
    Checks the syntax and the values it can check without the adapter's classes."""
    claims: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            claims[_capability(item, key)] = False
        elif key in LIST_CLAIMS:
            claims[key] = _listed(item, key, value)
        elif key in CONVENTION_CLAIMS or key in BUILD_OPTIONS:
            allowed = CONVENTION_CLAIMS.get(key) or BUILD_OPTIONS[key]
            if value not in allowed:
                raise ValueError(f"{item!r}: {key} is one of {', '.join(allowed)}")
            claims[key] = value
        else:
            known = LIST_CLAIMS + tuple(CONVENTION_CLAIMS) + tuple(BUILD_OPTIONS)
            raise ValueError(f"{item!r}: {key!r} is not one of {', '.join(known)}")
    return claims


def _capability(item: str, key: str) -> str:
    """``no-batch-first`` -> ``batch_first`` (which the worker checks against its claims)."""
    if not key.startswith("no-"):
        raise ValueError(f"{item!r}: say no-<capability> (no-bidirectional) or <claim>=<value>")
    name = key[3:].replace("-", "_")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"{item!r} does not name a capability")
    return name


def _listed(item: str, key: str, value: str) -> tuple[str, ...]:
    """``dtypes=float32+float64`` -> ``("float32", "float64")``."""
    values = tuple(v for v in value.split("+") if v)
    if not values:
        raise ValueError(f"{item!r}: name at least one (e.g. {key}=float32+float64)")
    if key == "dtypes" and any(v not in DTYPE_NAMES for v in values):
        raise ValueError(f"{item!r}: dtypes are among {', '.join(DTYPE_NAMES)}")
    return values


def format_narrowing(claims: dict[str, Any]) -> str:
    """The inverse of ``parse_narrowing``."""
    items = []
    for key, value in claims.items():
        if value is False:
            items.append(f"no-{key.replace('_', '-')}")
        elif isinstance(value, (tuple, list)):
            items.append(f"{key}={'+'.join(value)}")
        else:
            items.append(f"{key}={value}")
    return ",".join(items)


def with_narrowing(name: str, claims: dict[str, Any]) -> str:
    """``name`` with ``claims`` appended (names of classes only: ``where:Class``)."""
    if not claims:
        return name
    base, existing = split_narrowing(name)
    merged = {**parse_narrowing(existing), **claims}
    return f"{base}{NARROWING_MARK}{format_narrowing(merged)}"
