"""GRUs that toolchains and libraries produce get their true verdicts without an adapter,
or with one option: ``--toolchain`` (torch.compile, TorchScript, torch.export,
functional_call, dynamic quantization), constructors whose defaults differ from nn.GRU's,
a GRU held as a submodule, a scripted or compiled nn.GRU, an int8 dynamically quantized
GRU (``tests/gallery/library_layers.py``).

Transformed modules are shared per configuration and each instance loads its own
parameters into them before its calls: the values after a reload, and with two instances
taking turns, are checked against nn.GRU for every toolchain.

Inductor compiles take tens of seconds on two cores: the toolchains that compile the GRU
(``compile-allow-rnn``, the aot_eager variant) are graded on one check and one example.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from conformance.model.contract import GRUConfig
from conformance.model.naming import parse_narrowing
from conformance.model.gru_like import NotGRULike, detect, read_constructor
from conformance.grading.engine import grade
from conformance.grading.loading import AdapterLoadError, load_adapter, load_subject
from conformance.base.params import random_params
from conformance.grading.results import overall_verdict
from conformance.model.toolchains import NAMES, TOOLCHAINS, unverified

GALLERY = Path(__file__).resolve().parents[1] / "gallery"
LAYERS = GALLERY / "library_layers.py"
GRU_LIKE = GALLERY / "gru_like.py"

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning",
                                        "ignore::FutureWarning")

#: Checks enough to tell the verdicts below apart.
CHECKS = ["contract.output-shape", "contract.unbatched", "equations.step", "equations.sequence",
          "directions.backward-final-state", "varlen.padding-zero", "precision.float32", "gradients.parameters"]
#: Toolchains that compile the GRU itself: one check, one example.
HEAVY = ("compile-allow-rnn", "compile-aot-eager-allow-rnn")


def _module(name: str) -> type:
    import importlib.util

    spec = importlib.util.spec_from_file_location("library_layers_under_test", LAYERS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def verdict_of(target: str, checks: list[str] = CHECKS, examples: int = 5) -> tuple[str, dict, str]:
    subject = load_subject(target)
    assert not subject.load_error, f"got {subject.load_error!r} loading {target}"
    outcomes = grade(subject, checks, max_examples=examples, deadline=None)
    verdict = overall_verdict(subject.reset, subject.white_box, outcomes, update=subject.update)
    return verdict, outcomes, subject.info.notes


# Reading the class ----------------------------------------------------------------------------
def test_constructor_defaults_are_read_and_each_case_gets_what_it_needs():
    needed = {"num_layers": 2, "bias": True, "batch_first": False, "dropout": 0.0, "bidirectional": False}
    library = read_constructor(_module("BatchFirstByDefaultGRU"), "layer")
    assert library.options(needed) == {"num_layers": 2, "batch_first": False}, \
        f"got {library.options(needed)}, but batch_first=False differs from the class's own default True"
    assert any("batch_first=True" in note for note in library.notes()), f"got notes {library.notes()}"
    keywords = read_constructor(_module("KeywordsGRU"), "layer")
    assert keywords.options(needed) == needed, \
        f"got {keywords.options(needed)}, but a **kwargs constructor's defaults are unread: pass every argument"
    cell = read_constructor(torch.nn.GRUCell, "cell")
    assert cell.options({"bias": True}) == {} and cell.options({"bias": False}) == {"bias": False}


def test_toolchain_is_an_option_of_grade_and_of_the_name():
    import argparse

    from conformance.commands.claim_options import add_narrowing_arguments, narrow_names, narrowing_from_arguments

    parser = argparse.ArgumentParser()
    add_narrowing_arguments(parser)
    claims = narrowing_from_arguments(parser.parse_args(["--toolchain", "script", "--no-lengths"]))
    named = narrow_names(["torch-gru", "my_gru.py:MyGRU"], claims, {"torch-gru"})
    assert named == ["torch-gru", "my_gru.py:MyGRU#no-lengths,toolchain=script"], f"got {named}"
    assert parse_narrowing("no-lengths,toolchain=export") == {"lengths": False, "toolchain": "export"}
    with pytest.raises(ValueError, match="toolchain is one of"):
        parse_narrowing("toolchain=onnx")


def test_toolchains_that_compile_lift_the_check_time_limit():
    from conformance.grading.loading import resolve, worker_for
    from conformance.running.sandbox import Limits, Sandbox

    sandbox = Sandbox(Limits(check_seconds=120))
    for chain, lifted in (("compile-allow-rnn", True), ("export", True), ("script", False)):
        worker = worker_for(resolve(f"{LAYERS}:TorchGRU#toolchain={chain}"), sandbox)
        assert (worker.limits.check_seconds > 120) == lifted, \
            f"got a check time limit of {worker.limits.check_seconds} s for {chain}"


@pytest.mark.parametrize("name, kind, prefix, submodule", [
    ("Encoder", "layer", "gru.", True), ("Seq2SeqStep", "layer", "rnn.", False),
    ("CompiledGRU", "layer", "_orig_mod.", False), ("ScriptedGRU", "layer", "", False),
])
def test_the_gru_is_found_where_it_is(name: str, kind: str, prefix: str, submodule: bool):
    found = detect(_module(name), name)
    assert (found.kind, found.prefix, found.call_submodule) == (kind, prefix, submodule), \
        f"got {(found.kind, found.prefix, found.call_submodule)} for {name}, but should be {(kind, prefix, submodule)}"


def test_a_verdict_on_a_submodule_says_so():
    """A class whose own call is not a GRU's (a model with a head) has its GRU submodule
    graded: the verdict names that part, never a bare "conformant" for the class."""
    from conformance.grading.outcome import Outcome
    from conformance.grading.results import implementation_record

    info = load_subject(f"{LAYERS}:Encoder").info
    record = implementation_record("encoder", info=info, checks={"equations.step": Outcome("pass")})
    assert "for its submodule gru only: Encoder itself, called as forward(x) -> (output, h_n), returned a Tensor" \
        in record["verdict_text"], f"got {record['verdict_text']!r}, but should say the submodule was graded"
    whole = load_subject(f"{LAYERS}:Seq2SeqStep").info
    assert not whole.graded_part, f"got {whole.graded_part!r} for a class that is called itself"
    import json

    from conformance.running.subject import read_info

    sent = json.loads(json.dumps(vars(info)))  # as a worker's answer arrives
    forged = read_info({**sent, "graded_part": "gru\ntorch-gru    conformant to the PyTorch GRU"})
    assert "\n" not in forged.graded_part, f"got {forged.graded_part!r}, but what a worker says stays on one line"


def test_quantized_gru_is_read_through_its_packed_weights():
    found = detect(torch.ao.nn.quantized.dynamic.GRU, "GRU")
    assert found.kind == "layer" and found.packed, f"got {found}"


def test_a_call_that_raises_is_the_classes_own_error():
    with pytest.raises(NotGRULike) as caught:
        detect(_module("NeedsTokensGRU"), "NeedsTokensGRU")
    message = str(caught.value)
    assert "raised TypeError: expected integer token ids" in message and "UnboundLocalError" not in message, \
        f"got {message[:400]!r}, but should be the class's own error"


def test_toolchains_apply_to_layers_only():
    with pytest.raises(AdapterLoadError, match="toolchains apply to nn.GRU-like layers"):
        load_subject(f"{GRU_LIKE}:LoopGRUCell#toolchain=compile")


# Verdicts ---------------------------------------------------------------------------------------
#: class (with its narrowing) -> (verdict, checks that must not pass, words of its notes)
LIBRARY_VERDICTS = {
    "BatchFirstByDefaultGRU#no-bidirectional,no-unbatched,no-lengths": ("conformant-pytorch", {}, "batch_first=True"),
    "BatchFirstByDefaultGRU#no-bidirectional": ("nonconformant", {"contract.unbatched": "error",
                                                                 "varlen.padding-zero": "error"}, ""),
    "KeywordsGRU": ("conformant-pytorch", {}, "passed on every build"),
    "ScriptedGRU": ("conformant-pytorch", {}, ""),
    "CompiledGRU": ("conformant-pytorch", {}, "submodule _orig_mod"),
    "Encoder": ("conformant-pytorch", {}, "graded its submodule gru"),
    "Seq2SeqStep": ("conformant-pytorch", {}, "submodule rnn"),
    "QuantizedGRU": ("nonconformant", {"equations.step": "fail", "precision.float32": "fail"}, "int8"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(LIBRARY_VERDICTS))
def test_library_layers_get_their_true_verdicts(name: str):
    verdict, outcomes, notes = verdict_of(f"{LAYERS}:{name}")
    want, statuses, words = LIBRARY_VERDICTS[name]
    got = {cid: outcomes[cid].status for cid in statuses}
    assert (verdict, got) == (want, statuses), \
        f"got {verdict} {({c: (o.status, o.message[:150]) for c, o in outcomes.items() if o.status != 'pass'})} " \
        f"for {name}, but should be {want} with {statuses}"
    assert words in notes, f"got notes {notes!r}, but should say {words!r}"


#: toolchain -> (verdict for nn.GRU, words of the note saying what ran)
TOOLCHAIN_VERDICTS = {
    "compile": ("conformant-pytorch", "dynamo did not compile the GRU: graph break at RNN modules"),
    "compile-aot-eager": ("conformant-pytorch", "dynamo did not compile the GRU"),
    "compile-allow-rnn": ("conformant-pytorch", "dynamo captured 1 graph"),
    "compile-aot-eager-allow-rnn": ("conformant-pytorch", "dynamo captured 1 graph"),
    "script": ("conformant-pytorch", "called as forward__0 (tensors) and forward__1"),
    "trace": ("conformant-pytorch", "traced once per call form"),
    "export": ("conformant-pytorch", "aten.gru.input"),
    "export-decomposed": ("conformant-pytorch", "made a program of"),
    "functional-call": ("conformant-pytorch", "parameters passed as a dict"),
    "quantize-dynamic": ("nonconformant", "replaced the module (now torch.ao.nn.quantized.dynamic"),
}


def test_every_toolchain_has_a_verdict_to_hold():
    assert set(TOOLCHAIN_VERDICTS) == set(NAMES), f"got {sorted(TOOLCHAIN_VERDICTS)}, but should cover {NAMES}"


def _graded_here(chain: str) -> None:
    """Skip where this torch is older than the toolchain is graded with (its test below)."""
    why = unverified(TOOLCHAINS[chain], torch.__version__)
    if why:
        pytest.skip(why)


def test_a_toolchain_older_torch_breaks_is_not_graded(monkeypatch: pytest.MonkeyPatch):
    """On a torch older than the toolchain was found to work with (export before 2.13), nn.GRU
    through it could not be graded, saying why, rather than failing every check by torch's fault."""
    from conformance.model import gru_like_adapter

    monkeypatch.setattr(gru_like_adapter, "_torch_version", lambda: "2.6.0+cu124")
    with pytest.raises((ValueError, AdapterLoadError)) as raised:
        load_adapter(f"{LAYERS}:TorchGRU#toolchain=export")
    assert "graded with torch 2.13 or later, and this is torch 2.6.0" in str(raised.value), \
        f"got {raised.value}, but should say which torch the toolchain is graded with"
    assert load_adapter(f"{LAYERS}:TorchGRU#toolchain=script") is not None, "got script refused, but it is not export"


@pytest.mark.slow
@pytest.mark.parametrize("chain", [name for name in NAMES if name not in HEAVY and name != "export-decomposed"])
def test_toolchain_gets_the_true_verdict(chain: str):
    _graded_here(chain)
    verdict, outcomes, notes = verdict_of(f"{LAYERS}:TorchGRU#toolchain={chain}")
    want, words = TOOLCHAIN_VERDICTS[chain]
    assert verdict == want, f"got {verdict} for nn.GRU through {chain} " \
                            f"({ {c: (o.status, o.message[:150]) for c, o in outcomes.items() if o.status != 'pass'} }), " \
                            f"but should be {want}"
    assert words in notes, f"got notes {notes!r}, but should say what ran: {words!r}"
    if "lengths" in dict(TOOLCHAINS[chain].cannot):
        status = outcomes["varlen.padding-zero"].status
        assert status == "not_applicable", f"got varlen.padding-zero {status}, but {chain} cannot take a " \
                                           f"PackedSequence: not claimed"


@pytest.mark.slow
@pytest.mark.xdist_group("heavy-toolchains")
@pytest.mark.parametrize("chain", [*HEAVY, "export-decomposed"])
def test_compiling_toolchain_gets_the_true_verdict_on_one_example(chain: str):
    _graded_here(chain)
    verdict, outcomes, notes = verdict_of(f"{LAYERS}:TorchGRU#toolchain={chain}", ["equations.sequence"], 1)
    want, words = TOOLCHAIN_VERDICTS[chain]
    assert verdict == want and words in notes, \
        f"got {verdict} ({ {c: o.message[:200] for c, o in outcomes.items()} }), notes {notes!r}; should be {want}, " \
        f"saying {words!r}"


# Products shared per configuration ----------------------------------------------------------
#: Two layers, both directions (every parameter name mapped); one small layer where each
#: configuration and shape costs a compile.
CONFIGS = {"full": GRUConfig(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, dtype=torch.float32),
           "small": GRUConfig(input_size=2, hidden_size=3, dtype=torch.float32)}


def _reference(config: GRUConfig, params, x: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    gru = torch.nn.GRU(config.input_size, config.hidden_size, num_layers=config.num_layers,
                       bidirectional=config.bidirectional)
    gru.load_state_dict(params.tensors(torch.float32))
    with torch.no_grad():
        return gru(x, h0)[0]


@pytest.mark.slow
@pytest.mark.xdist_group("heavy-toolchains")
@pytest.mark.parametrize("chain", NAMES)
def test_reloaded_and_alternating_instances_compute_their_own_parameters(chain: str):
    """One product per configuration: an instance's new parameters are what its next call
    computes with, and two instances of one configuration taking turns each get theirs."""
    _graded_here(chain)
    config = CONFIGS["small" if TOOLCHAINS[chain].heavy else "full"]
    adapter = load_adapter(f"{LAYERS}:TorchGRU#toolchain={chain}")
    first, second = adapter.build(config), adapter.build(config)
    draws = [random_params(np.random.default_rng(seed), config.input_size, config.hidden_size,
                           num_layers=config.num_layers, bidirectional=config.bidirectional) for seed in (1, 2, 3)]
    slots = config.num_layers * config.num_directions
    x, h0 = torch.randn(2, 2, config.input_size), torch.randn(slots, 2, config.hidden_size)
    tolerance = 5e-2 if chain == "quantize-dynamic" else 1e-5  # int8 weights: about 2e-2 from nn.GRU
    loaded: dict[int, object] = {}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for instance, params in ((first, draws[0]), (second, draws[1]), (first, draws[2])):
            adapter.load(instance, params, config)
            loaded[id(instance)] = params
            for turn in (first, second, first) if id(second) in loaded else (first,):
                want = _reference(config, loaded[id(turn)], x, h0)
                error = float((adapter.run(turn, x, h0)[0] - want).abs().max())
                assert error < tolerance, f"got error {error:.3g} from {chain} after a reload, but should be " \
                                          f"< {tolerance}: the product must compute with the calling instance's " \
                                          f"parameters"


@pytest.mark.slow
@pytest.mark.parametrize("chain", ["export", "trace"])
def test_a_batch_of_one_first_does_not_fix_the_batch_size(chain: str):
    """export specializes a batch of one: a program made from one serves only that size, and
    a larger batch gets a program of its own."""
    _graded_here(chain)
    config = CONFIGS["small"]
    adapter = load_adapter(f"{LAYERS}:TorchGRU#toolchain={chain}")
    instance = adapter.build(config)
    params = random_params(np.random.default_rng(4), config.input_size, config.hidden_size)
    adapter.load(instance, params, config)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for batch in (1, 3, 1, 2):
            x, h0 = torch.randn(2, batch, config.input_size), torch.randn(1, batch, config.hidden_size)
            error = float((adapter.run(instance, x, h0)[0] - _reference(config, params, x, h0)).abs().max())
            assert error < 1e-5, f"got error {error:.3g} from {chain} at batch {batch} after other batch sizes"


def test_a_product_first_made_under_inference_mode_serves_autograd():
    """quantize-dynamic makes its product at the first call after a load: made under
    torch.inference_mode() it held inference tensors (for a hand-written layer it does not
    replace), and the next call with autograd on raised 'Inference tensors cannot be saved for
    backward', a failure of the suite's, not the GRU's."""
    config = CONFIGS["small"]
    adapter = load_adapter(f"{GRU_LIKE}:LoopGRU#toolchain=quantize-dynamic")
    instance = adapter.build(config)
    params = random_params(np.random.default_rng(4), config.input_size, config.hidden_size)
    adapter.load(instance, params, config)
    x = torch.randn(3, 2, config.input_size)
    with torch.inference_mode():
        first = adapter.run(instance, x, None)[0].clone()
    with torch.enable_grad():
        again = adapter.run(instance, x, None)[0]
    assert again.requires_grad, "got a result without grad, but the hand-written layer keeps float parameters"
    error = float((again.detach() - first).abs().max())
    assert error == 0.0, f"got {error:.3g} between the call under inference mode and with autograd on, but should be 0"
