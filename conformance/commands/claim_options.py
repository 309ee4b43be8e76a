"""``grade``'s options that narrow the claims of classes graded without an adapter.

``--no-bidirectional``, ``--dtypes float32,float64``, ``--devices cpu``, ``--reset``,
``--update`` and ``--toolchain`` are written into each such class's name as its
narrowing (``my_gru.py:MyGRU#no-bidirectional,dtypes=float32+float64``: the grammar is
``conformance.model.naming``), which is how they reach the worker that imports it.
"""

from __future__ import annotations

import argparse
from typing import Any

from conformance.model.naming import BOOLEAN_CLAIMS, BUILD_OPTIONS, CONVENTION_CLAIMS, LIST_CLAIMS, names_a_class, with_narrowing
from conformance.model.toolchains import NAMES as TOOLCHAIN_NAMES


def add_narrowing_arguments(parser: argparse.ArgumentParser) -> None:
    """``grade``'s options for classes graded without an adapter."""
    group = parser.add_argument_group(
        "classes graded without an adapter (nn.GRU-like or nn.GRUCell-like)",
        "A class named by file or module that has nn.GRU's (or nn.GRUCell's) constructor, parameter names and "
        "call form is graded directly, claiming everything the class it imitates does. These options narrow "
        "those claims (or change the convention claimed) for every such class named.")
    for claim in BOOLEAN_CLAIMS:
        flag = claim.replace("_", "-")
        group.add_argument(f"--no-{flag}", dest="narrow", action="append_const", const=claim,
                           help=f"do not claim {claim}")
    group.add_argument("--dtypes", metavar="LIST", help="claim only these dtypes, comma-separated (float32,float64)")
    group.add_argument("--devices", metavar="LIST", help="claim only these devices, comma-separated (cpu)")
    group.add_argument("--reset", choices=CONVENTION_CLAIMS["reset"], help="claim this reset placement")
    group.add_argument("--update", choices=CONVENTION_CLAIMS["update"], help="claim this update polarity")
    group.add_argument("--toolchain", choices=TOOLCHAIN_NAMES,
                       help="build the class, load the parameters, then pass it through this toolchain "
                            "(torch.compile, TorchScript, torch.export, functional_call, dynamic quantization) "
                            "and grade what comes out (README, \"Toolchains\")")


def narrowing_from_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The claims the options given change (``naming.parse_narrowing``'s form)."""
    claims: dict[str, Any] = {name: False for name in (getattr(args, "narrow", None) or [])}
    for key in LIST_CLAIMS:
        value = getattr(args, key, None)
        if value:
            claims[key] = tuple(v.strip() for v in value.split(",") if v.strip())
    for key in (*CONVENTION_CLAIMS, *BUILD_OPTIONS):
        value = getattr(args, key, None)
        if value:
            claims[key] = value
    return claims


def narrow_names(names: list[str], claims: dict[str, Any], adapters: set[str]) -> list[str]:
    """``grade``'s names with ``claims`` appended to each class named by file or module
    (``adapters``, the registered ids and entry points, claim for themselves)."""
    if not claims:
        return names
    narrowed_names = [with_narrowing(n, claims) if names_a_class(n) and n not in adapters else n for n in names]
    if narrowed_names == names:
        raise ValueError("the claim options (--no-bidirectional, --dtypes ...) narrow classes graded without an "
                         "adapter, named as path/to/file.py:Class or module:Class; none is named")
    return narrowed_names
