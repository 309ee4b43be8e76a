"""``python -m conformance adapt path/to/file.py:Thing``: an adapter written for a GRU that
keeps its parameters in a layout of its own.

It builds the thing (asking for constructor arguments it cannot guess, or taking them
from --arg), then probes it in a sandboxed process of its own: which call form it has
(a cell or a layer, argument order, batch-first or time-major, what it returns), which of
its parameters holds which gate of W_ih, W_hh, b_ih and b_hh (gate order, transposed
kernels, a concatenated [x, h] weight per gate, folded biases, a Linear per gate, no
biases), and which convention it computes (reset before or after the recurrent matmul,
update polarity), with random parameters that differ per gate, a non-zero b_hn, H != I
and a batch of 4. A layer whose constructor takes the number of layers, the directions or
the layout is built with two layers, both directions and the other layout, and those are
claimed when its tensors, matched to layer 0's by name, reproduce the equations there. It
writes a plain adapter whose load does the mapping through conformance.layouts with a
comment per step, prints the claims it made, grades the adapter (or, with --no-grade,
loads it in a worker and compares it with the oracle), and only then says how sure it is:
"certain" only when probing decided everything by exact fits and the adapter written
worked in its worker. Where it cannot decide, it says what it could not determine and
writes the closest adapter with a TODO (exit status 1).

Exit status: 0 when it is certain and grading found the adapter conformant; 1 when
something is undetermined, the adapter written failed in its worker, or grading found it
nonconformant; 2 when nothing could be written (the thing cannot be built or called).
"""

from __future__ import annotations

import argparse

from conformance.base.profiles import PROFILES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="path/to/file.py:Class or module:Class (a torch module, or a NumPy "
                        "class holding its weights in attributes or a dict)")
    parser.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                        help="a constructor argument: VALUE is input_size, hidden_size or a Python literal "
                        "(repeatable; asked for when it cannot be guessed and a terminal is attached)")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="the adapter file to write (default: <file>_adapter.py beside the file, or "
                        "<class>_adapter.py here for a module)")
    parser.add_argument("--no-grade", action="store_true", help="write the adapter without grading it")
    parser.add_argument("--profile", choices=list(PROFILES), default="grade",
                        help="hypothesis profile of the grading it runs (default: grade)")
    parser.add_argument("--results", metavar="PATH",
                        help="JSON results of that grading (default: reports/adapt/<class>.json, with the "
                        "HTML report beside it)")
    parser.add_argument("--no-input", action="store_true", help="never ask: fail when an argument is missing")
    parser.add_argument("--no-isolation", action="store_true",
                        help="probe in this process instead of a sandboxed one (for a debugger)")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                        help="wall time the probing may take (default 120)")


def run(args: argparse.Namespace) -> int:
    from conformance.commands.adapt.command import run as run_command

    return run_command(args)
