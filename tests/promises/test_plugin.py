"""The pytest plugin, driven as a user drives it: ``pytest conformance/checks -p
conformance.commands.grading_plugin --impl ...`` in a subprocess (pytester), reading the JSON it writes.

Each test runs a few checks only (``-k``): what is under test is the plugin's handling
of implementations, statuses and files, not the checks themselves."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import conformance
import conformance.checks
from conformance.grading.results import SCHEMA

pytestmark = pytest.mark.slow  # each test grades through a pytest run of its own

ROOT = Path(conformance.__file__).resolve().parents[1]
CHECKS_DIR = Path(conformance.checks.__file__).resolve().parent

#: Adapters that go wrong in the ways the plugin must report.
ADAPTERS = '''
import torch
from conformance import Capabilities, LayerAdapter


class Base(LayerAdapter):
    """nn.GRU, one layer, float32, unbatched accepted."""

    reset = "after"
    capabilities = Capabilities(unbatched=True, dtypes=(torch.float32,))

    def build(self, config):
        return torch.nn.GRU(config.input_size, config.hidden_size, dtype=config.dtype).eval()

    def load(self, gru, params):
        gru.load_state_dict(params.tensors(torch.float32))

    def run(self, gru, x, h0):
        return gru(x, h0)


class RaisesOnUnbatched(Base):
    def run(self, gru, x, h0):
        if x.dim() == 2:
            raise RuntimeError("unbatched input is not supported by this build")
        return gru(x, h0)


class SqueezedState(Base):
    def run(self, gru, x, h0):
        output, h_n = gru(x, h0)
        return output, h_n[0]  # (B, H): readable, but not nn.GRU's (1, B, H)


class TruncatedOutput(Base):
    def run(self, gru, x, h0):
        output, h_n = gru(x, h0)
        return output[:-1], h_n  # one step short: unreadable
'''


@pytest.fixture
def grading(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """Run the checks under the plugin in a subprocess; returns (result, JSON or None)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(pytester.path)]))
    (pytester.path / "adapters_under_test.py").write_text(ADAPTERS)

    def run(*args: str, results: str = "results.json"):
        path = pytester.path / results
        result = pytester.runpytest_subprocess(
            str(CHECKS_DIR), "-p", "conformance.commands.grading_plugin", "--results", str(path), *args, timeout=900)
        data = json.loads(path.read_text()) if path.exists() else None
        return result, data

    return run


def by_id(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {impl["id"]: impl for impl in data["implementations"]}


def status(impl: dict[str, Any], check_id: str) -> str:
    return impl["checks"][check_id]["status"]


def test_adapter_trouble_is_reported_and_grading_goes_on(grading):
    """A wrong adapter path gives an "error" row with a clear message; an adapter that
    raises gives status "error" with its own message on that check while its other checks
    go on; an unreadable result is an error and a readable wrong shape a failure; the
    other implementations are still graded, the JSON (with its documented fields) is
    written, and pytest exits non-zero."""
    result, data = grading(
        "--impl", "missing/nowhere.py:Adapter",
        "--impl", "torch-grucell",
        "--impl", "adapters_under_test.py:RaisesOnUnbatched",
        "--impl", "adapters_under_test.py:SqueezedState",
        "--impl", "adapters_under_test.py:TruncatedOutput",
        "-k", "contract",
    )
    assert result.ret != 0, f"got exit code {result.ret}, but should be non-zero (an adapter could not be loaded)"
    assert data is not None, "got no results file, but should be written even when an adapter fails to load"
    impls = by_id(data)

    missing = impls["missing/nowhere.py:Adapter"]
    assert missing["verdict"] == "error", f"got verdict {missing['verdict']!r}, but should be 'error'"
    assert "adapter file not found: missing/nowhere.py" in missing["load_error"], (
        f"got load_error {missing['load_error']!r}, but should say the adapter file was not found")
    result.stdout.fnmatch_lines(["*adapter file not found: missing/nowhere.py*"])

    grucell = impls["torch-grucell"]
    assert grucell["checks"], "got no checks for torch-grucell, but should be graded despite the bad path"
    statuses = {c: o["status"] for c, o in grucell["checks"].items()}
    assert set(statuses.values()) <= {"pass", "not_applicable"}, (
        f"got {statuses} for torch-grucell, but should pass")

    raising = impls["RaisesOnUnbatched"]
    unbatched = raising["checks"]["contract.unbatched"]
    assert unbatched["status"] == "error", f"got {unbatched['status']!r}, but should be 'error'"
    assert "RuntimeError: unbatched input is not supported by this build" in unbatched["message"], (
        f"got message {unbatched['message']!r}, but should carry the adapter's own message")
    others = {c: o["status"] for c, o in raising["checks"].items()
              if c != "contract.unbatched" and o["status"] != "not_applicable"}
    assert others and set(others.values()) == {"pass"}, (
        f"got {others} for the other checks of RaisesOnUnbatched, but should be graded and pass")

    squeezed = impls["SqueezedState"]["checks"]["contract.output-shape"]
    assert squeezed["status"] == "fail" and "h_n has shape" in squeezed["message"], (
        f"got {squeezed['status']}: {squeezed['message']!r}, but should be a fail naming h_n's shape")
    truncated = impls["TruncatedOutput"]["checks"]["contract.output-shape"]
    assert truncated["status"] == "error" and "output has shape" in truncated["message"], (
        f"got {truncated['status']}: {truncated['message']!r}, but should be an error naming output's shape")

    # The documented fields (conformance/grading/results.py).
    assert data["schema"] == SCHEMA, f"got schema {data['schema']!r}, but should be {SCHEMA!r}"
    missing_top = {"schema", "environment", "tolerances", "checks", "implementations",
                   "stale_known_failures"} - set(data)
    assert not missing_top, f"got no {sorted(missing_top)} in the results, but should have them"
    for impl in data["implementations"]:
        missing_impl = {"id", "source", "adapter", "document", "claimed_variant", "verdict", "verdict_text",
                        "score", "load_error", "checks"} - set(impl)
        assert not missing_impl, f"got no {sorted(missing_impl)} in {impl['id']}, but should have them"
        for cid, outcome in impl["checks"].items():
            missing_outcome = {"status", "message", "counterexample", "falsifying_example", "max_error",
                               "tolerance", "duration", "measurements"} - set(outcome)
            assert not missing_outcome, f"got no {sorted(missing_outcome)} in {impl['id']} {cid}"
    for cid, meta in data["checks"].items():
        missing_meta = {"id", "family", "title", "statement", "reference", "requires", "depends_on",
                        "tolerance"} - set(meta)
        assert not missing_meta, f"got no {sorted(missing_meta)} in check {cid}, but should have them"
    assert {"suite_version", "python", "torch", "hypothesis", "date", "hypothesis_profile"} <= set(
        data["environment"]), f"got environment {sorted(data['environment'])}, but should name the versions"


def test_known_failures_file(grading, pytester: pytest.Pytester):
    """A listed failing check becomes xfail, a listed passing check xpass, and entries
    that match no graded implementation or no check are reported as stale."""
    known = pytester.path / "known.txt"
    known.write_text(
        "doc000-cell::equations.step   # the precedence slip\n"
        "torch-grucell::contract.dtype # listed, but passes\n"
        "\n"
        "nosuch-impl::contract.dtype   # no such implementation graded\n"
        "doc000-cell::no.such-check    # no such check\n"
    )
    result, data = grading("--impl", "doc000-cell", "--impl", "torch-grucell", "--known-failures", str(known),
                           "-k", "test_step_matches_oracle or test_dtype_preserved")
    impls = by_id(data)
    assert status(impls["doc000-cell"], "equations.step") == "xfail", \
        f"got {status(impls['doc000-cell'], 'equations.step')!r}, but should be 'xfail'"
    assert status(impls["doc000-cell"], "contract.dtype") == "pass", "an unlisted check keeps its status"
    assert status(impls["torch-grucell"], "contract.dtype") == "xpass", \
        f"got {status(impls['torch-grucell'], 'contract.dtype')!r}, but should be 'xpass'"
    stale = set(data["stale_known_failures"])
    assert stale == {"nosuch-impl::contract.dtype", "doc000-cell::no.such-check"}, (
        f"got stale entries {sorted(stale)}, but should be exactly the two that match nothing")
    result.stdout.fnmatch_lines(["*stale known-failures entry*nosuch-impl::contract.dtype*"])


def test_check_expectations_exit_zero_when_registry_matches(grading):
    """With --check-expectations, a registry entry whose expected failures are what the
    suite finds (doc000-cell: the precedence slip) makes pytest exit 0, while the JSON
    keeps the true statuses."""
    result, data = grading("--impl", "doc000-cell", "--check-expectations", "-k", "equations or bounds")
    assert result.ret == 0, f"got exit code {result.ret}, but should be 0:\n{result.stdout.str()[-3000:]}"
    checks = by_id(data)["doc000-cell"]["checks"]
    for cid in ("equations.step", "bounds.unit-interval", "bounds.saturation"):
        assert checks[cid]["status"] == "fail", f"got {cid}={checks[cid]['status']}, but the JSON should keep 'fail'"


def _normalized(data: Any) -> Any:
    """The results without what legitimately changes between runs: durations, the date
    and the command line (which names the results path)."""
    if isinstance(data, dict):
        return {k: _normalized(v) for k, v in data.items()
                if k != "duration" and k not in ("date", "command")}
    if isinstance(data, list):
        return [_normalized(v) for v in data]
    return data


def test_grading_is_reproducible(grading):
    """Grading the same implementations twice gives the same JSON, minimal counterexamples
    included, apart from durations and the date."""
    args = ("--impl", "doc000-cell", "--impl", "torch-gru", "-k", "contract or equations or bounds")
    _, first = grading(*args, results="first.json")
    _, second = grading(*args, results="second.json")
    assert first is not None and second is not None, "got no results file, but should be written"
    a, b = _normalized(first), _normalized(second)
    if a != b:
        diffs = [f"{impl['id']}::{cid}" for impl, other in zip(a["implementations"], b["implementations"])
                 for cid in impl["checks"] if impl["checks"][cid] != other["checks"].get(cid)]
        raise AssertionError(f"got different results in two runs (checks {diffs}), but should be identical "
                             f"apart from durations and the date")
    failed = [cid for cid, o in by_id(first)["doc000-cell"]["checks"].items() if o["status"] == "fail"]
    assert failed, "got no failing check for doc000-cell, so reproducibility of failures was not exercised"


def test_k_selects_by_check_id_and_an_empty_selection_says_so(grading):
    """``-k`` takes the check ids the README and the report use (``equations.step``); a
    selection that runs no check gives the verdict that says so, not "no violation found",
    and a non-zero exit."""
    result, data = grading("--impl", "adapters_under_test:Base", "-k", "equations.step or contract.dtype")
    graded = by_id(data)["Base"]["checks"]
    assert set(graded) == {"equations.step", "contract.dtype"}, \
        f"got checks {sorted(graded)}, but -k 'equations.step or contract.dtype' should select those two"
    assert all(c["status"] == "pass" for c in graded.values()), f"got {graded}"
    assert result.ret == 0, f"got exit {result.ret}: {result.stdout.str()[-2000:]}"
    # Selected, but not applicable to it (float64 is not claimed): nothing ran.
    result, data = grading("--impl", "adapters_under_test:Base", "-k", "precision.float64")
    record = by_id(data)["Base"]
    assert record["verdict"] == "none-run" and "no applicable check ran" in record["verdict_text"], \
        f"got verdict {record['verdict']!r} ({record['verdict_text']!r}) for a selection running no check"
    assert result.ret != 0, f"got exit 0 for a selection that ran no check:\n{result.stdout.str()[-2000:]}"
