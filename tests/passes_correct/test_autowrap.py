"""Classes graded without an adapter: nn.GRU-like and nn.GRUCell-like modules are wrapped
where they are imported, claim the whole contract of the class they imitate (a missing
feature fails, it is not "not applicable"), and the command line narrows the claims.
A class that is neither gets a message saying what each path needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conformance.model.naming import format_narrowing, parse_narrowing, split_narrowing, with_narrowing
from conformance.grading.engine import grade
from conformance.grading.loading import AdapterLoadError, load_subject, resolve
from conformance.grading.results import overall_verdict

GALLERY = Path(__file__).resolve().parents[1] / "gallery"
GRU_LIKE = GALLERY / "gru_like.py"
ROOT = Path(__file__).resolve().parents[2]
#: The gallery's TorchScript cell uses torch.jit.script_method, which torch marks deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")

#: Checks enough to tell every verdict below apart, kept few for speed.
CHECKS = ["contract.output-shape", "contract.unbatched", "equations.step", "equations.sequence",
          "directions.backward-final-state", "varlen.padding-zero"]

#: class (with the narrowing the command line would append) -> (verdict, checks that must not pass)
EXPECTED = {
    "SubclassedGRU": ("conformant-pytorch", {}),
    "LoopGRU": ("nonconformant", {"varlen.padding-zero": "error", "contract.unbatched": "fail"}),
    "LoopGRU#no-lengths,no-unbatched": ("conformant-pytorch", {"varlen.padding-zero": "not_applicable",
                                                               "contract.unbatched": "not_applicable"}),
    "SwappedLoopGRU#no-lengths,no-unbatched": ("nonconformant", {"equations.step": "fail"}),
    "LoopGRUCell": ("conformant-pytorch", {}),
    "ResetBeforeGRUCell": ("nonconformant", {"equations.step": "fail"}),
    "ResetBeforeGRUCell#reset=before": ("conformant-reset-before", {}),
    "ScriptedGRUCell#no-bias-free": ("conformant-pytorch", {}),
}


def verdict_of(name: str) -> tuple[str, dict]:
    subject = load_subject(f"{GRU_LIKE}:{name}")
    outcomes = grade(subject, CHECKS, max_examples=5, deadline=None)
    return overall_verdict(subject.reset, subject.white_box, outcomes, update=subject.update), outcomes


@pytest.mark.parametrize("name", list(EXPECTED))
def test_gru_like_class_is_graded_without_an_adapter(name: str):
    verdict, outcomes = verdict_of(name)
    want, statuses = EXPECTED[name]
    got = {cid: outcomes[cid].status for cid in statuses}
    assert verdict == want, f"got {verdict} for {name} ({ {c: o.status for c, o in outcomes.items()} }), but " \
                            f"should be {want}"
    assert got == statuses, f"got {got} for {name}, but should be {statuses}"


def test_missing_constructor_argument_fails_instead_of_not_applicable():
    """ScriptedGRUCell has no ``bias`` argument: nn.GRUCell's bias=False cases are errors
    until the claim is narrowed away."""
    subject = load_subject(f"{GRU_LIKE}:ScriptedGRUCell")
    assert "bias" in subject.info.notes, f"got notes {subject.info.notes!r}, but should name the missing argument"
    outcomes = grade(subject, ["equations.step"], max_examples=10, deadline=None)
    assert outcomes["equations.step"].status == "error", \
        f"got {outcomes['equations.step'].status}, but should be error (bias=False cannot be built)"


def test_a_class_without_dropout_is_told_the_option_and_graded_with_it():
    """A GRU without a dropout argument fails the dropout checks, whose error names --no-dropout;
    with it, they do not apply and the rest is graded."""
    dropout_checks = ["contract.dropout-eval", "calls.train-dropout"]
    subject = load_subject(f"{GRU_LIKE}:NoDropoutLoopGRU#no-lengths,no-unbatched")
    assert "--no-dropout" in subject.info.notes, f"got notes {subject.info.notes!r}, but should name --no-dropout"
    outcomes = grade(subject, dropout_checks, max_examples=3, deadline=None)
    for cid in dropout_checks:
        assert outcomes[cid].status == "error" and "--no-dropout leaves out" in outcomes[cid].message, \
            f"got {cid} {outcomes[cid].status}: {outcomes[cid].message!r}, but should be an error naming --no-dropout"
    narrowed = load_subject(f"{GRU_LIKE}:NoDropoutLoopGRU#no-lengths,no-unbatched,no-dropout")
    outcomes = grade(narrowed, [*dropout_checks, "equations.sequence"], max_examples=3, deadline=None)
    got = {cid: o.status for cid, o in outcomes.items()}
    assert got == {"contract.dropout-eval": "not_applicable", "calls.train-dropout": "not_applicable",
                   "equations.sequence": "pass"}, f"got {got}, but --no-dropout should leave the dropout checks out"


def test_wrapped_class_declares_what_it_wrapped():
    subject = load_subject(f"{GRU_LIKE}:LoopGRU#no-bidirectional,dtypes=float32")
    info = subject.info
    assert info.name == "LoopGRU (nn.GRU-like)", f"got {info.name!r}, but should be 'LoopGRU (nn.GRU-like)'"
    assert info.capabilities["bidirectional"] is False and info.capabilities["dtypes"] == ["float32"], \
        f"got {info.capabilities}, but should be narrowed to one direction and float32"
    assert "nn.GRU's constructor" in info.notes and "no-bidirectional" in info.notes, \
        f"got notes {info.notes!r}, but should say it was wrapped and how it was narrowed"


def test_neither_adapter_nor_gru_like_says_what_each_path_needs():
    with pytest.raises(AdapterLoadError) as caught:
        load_subject(f"{GRU_LIKE}:NotAGRU")
    message = str(caught.value)
    for phrase in ("neither an adapter nor", "CellAdapter", "weight_ih_l0 (3H, I)", "forward(x, h) -> h'",
                   "python -m conformance adapt"):
        assert phrase in message or phrase.replace("neither an adapter nor", "not nn.GRU's") in message, \
            f"got {message!r}, but should contain {phrase!r}"


@pytest.mark.parametrize("name, says", [
    ("FoldedBiasGRUCell", "other parameters beside its weights (bias, bias_n): biases in a layout of its own"),
    ("CellStackGRU", "is called as nn.GRU is (forward(x) -> (output, h_n)), but its parameters are "
                     "nn.GRUCell's (its submodule cells.0): a layer built of cells"),
])
def test_nn_gru_names_in_a_layout_of_its_own_are_not_graded_as_nn_gru(name: str, says: str):
    """nn.GRUCell's weight names with biases under other names (loaded as bias=False, the biases
    kept their init: 'nonconformant'), or a layer made of cells (its first cell alone was graded
    and the verdict 'conformant' said nothing of the layer): could not be graded, saying why and
    pointing to adapt."""
    with pytest.raises(AdapterLoadError) as caught:
        load_subject(f"{GRU_LIKE}:{name}")
    message = str(caught.value)
    for phrase in (says, "python -m conformance adapt"):
        assert phrase in message, f"got {message!r}, but should contain {phrase!r}"


def test_narrowing_round_trips_and_rejects_nonsense():
    claims = parse_narrowing("no-bidirectional,no-batch-first,dtypes=float32+float64,reset=before")
    assert claims == {"bidirectional": False, "batch_first": False, "dtypes": ("float32", "float64"),
                      "reset": "before"}, f"got {claims}"
    assert parse_narrowing(format_narrowing(claims)) == claims, "got a different claim set back"
    assert split_narrowing("/a#b/file.py:Cls#no-h0") == ("/a#b/file.py:Cls", "no-h0"), "a path's # is not a mark"
    assert with_narrowing("f.py:C#no-h0", {"autograd": False}) == "f.py:C#no-h0,no-autograd"
    for bad in ("bidirectional", "dtypes=float8", "reset=sideways", "colour=red"):
        with pytest.raises(ValueError):
            parse_narrowing(bad)
    with pytest.raises(AdapterLoadError):
        resolve("torch-gru#no-bidirectional")  # a registered adapter's claims are its own


def test_narrowing_cannot_add_claims():
    with pytest.raises(AdapterLoadError, match="only takes claims away"):
        load_subject(f"{GRU_LIKE}:LoopGRUCell#devices=tpu")


@pytest.mark.slow
@pytest.mark.xdist_group("autowrap-cli")
def test_grade_command_wraps_in_the_worker_with_narrowing_options(tmp_path: Path):
    """The command line: the class is imported only in its worker, the options reach it."""
    results = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "grade", f"{GRU_LIKE}:LoopGRU", "--no-lengths", "--no-unbatched",
         "--dtypes", "float32,float64", "-k", "output_shape or step_matches", "--results", str(results),
         "--no-html"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"got exit {done.returncode}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    assert "LoopGRU" in done.stdout and "conformant to the PyTorch GRU, on 2 of" in done.stdout, done.stdout[-2000:]
    assert "a partial grade" in done.stdout, f"got {done.stdout[-2000:]}, but a -k grade should say it is partial"
    import json

    record = json.loads(results.read_text())["implementations"][0]
    assert record["adapter"]["name"] == "LoopGRU (nn.GRU-like)", f"got {record['adapter']['name']!r}"
    assert record["adapter"]["capabilities"]["lengths"] is False, "got lengths claimed, but should be narrowed"
    refused = subprocess.run([sys.executable, "-m", "conformance", "grade", "torch-gru", "--no-bidirectional"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "none is named" in refused.stderr, \
        f"got exit {refused.returncode} ({refused.stderr[-500:]}), but should refuse options without a class"


def test_the_contract_imitated_is_the_torch_references_claims():
    """A class graded without an adapter claims what nn.GRU or nn.GRUCell does: the same
    claims as the registered torch references, which are graded like any implementation."""
    from conformance.model.gru_like_adapter import full_contract
    from conformance.implementations.torch_reference import TorchGRU, TorchGRUCell

    for kind, reference in (("layer", TorchGRU), ("cell", TorchGRUCell)):
        assert full_contract(kind) == reference.capabilities, \
            f"got {full_contract(kind)} for {kind}, but should be {reference.name}'s {reference.capabilities}"
