"""Other frameworks' GRUs (implementations/frameworks): the adapters convert and
claim correctly, and every finding is pinned with its counterexample, so a
framework release that changes the behaviour fails here and is noticed.

Each framework's tests are skipped when its extra is not installed
(``pip install -e '.[frameworks]'``, or ``tox -e frameworks``); the registry
tests need no framework.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conformance.cases import CaseSpec
from conformance.engine import grade, run_check
from conformance.loading import load_subject, registry, registry_by_id
from conformance.oracle import gru_forward
from conformance.subject import Subject
from implementations.frameworks.registry import EXTRAS, FRAMEWORKS

ROOT = Path(__file__).resolve().parents[1]
BY_ID = {entry.id: entry for entry in FRAMEWORKS}


def failing_checks(outcomes) -> set[str]:
    return {cid for cid, o in outcomes.items() if o.status in ("fail", "error")}


def framework(module: str, *packages: str):
    """Import an adapter module, skipping the test when its framework is not installed.
    (The module imports the framework itself: Keras must see KERAS_BACKEND first.)"""
    import importlib
    import importlib.util

    for package in packages:
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} not installed (extra {EXTRAS[module]!r})")
    return importlib.import_module(module)


def onnx_module():
    return framework("implementations.frameworks.onnx_gru", "onnx", "onnxruntime")


def keras_module():
    return framework("implementations.frameworks.keras_gru", "keras")


def flax_module():
    return framework("implementations.frameworks.flax_gru", "jax", "flax")


def export_module():
    return framework("implementations.frameworks.torch_onnx", "onnx", "onnxruntime", "onnxscript")


# Registry and install (no framework needed) ------------------------------------

def test_framework_ids_resolve_but_stay_out_of_all():
    """Framework ids name adapters like registry ids do, but ``--all`` (the core
    registry) does not include them: grading them needs the extras."""
    core = {entry.id for entry in registry()}
    ids = [entry.id for entry in FRAMEWORKS]
    assert len(set(ids)) == len(ids), f"got duplicate framework ids {ids}, but should be unique"
    assert not core & set(ids), f"got ids {sorted(core & set(ids))} in both registries, but should be in one"
    for entry in FRAMEWORKS:
        assert registry_by_id()[entry.id] is entry, f"got no registry entry for {entry.id}, but should resolve"
        module = entry.adapter.partition(":")[0]
        assert module in EXTRAS, f"got {module} for {entry.id}, but should be a module with an extra in EXTRAS"


def test_registry_imports_no_framework():
    """Importing the framework registry (as every load of a registry id does) imports
    no framework, so the core install resolves every id without them."""
    code = ("import sys, implementations.frameworks.registry, conformance.loading as l; l.registry_by_id(); "
            "print(sorted(m for m in ('keras', 'jax', 'flax', 'onnx', 'onnxruntime', 'onnxscript') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"got {out.stdout.strip()} imported, but should be []"


def test_missing_framework_is_a_clear_load_error():
    """Without its framework, an id gives one AdapterLoadError naming the extra to install."""
    code = ("import sys; sys.modules['keras'] = None\n"
            "from conformance.loading import load_subject, AdapterLoadError\n"
            "try:\n    load_subject('keras-gru-reset-after')\n"
            "except AdapterLoadError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "pip install 'gru-conformance[keras]'" in out.stdout, (
        f"got {out.stdout.strip()!r}, but should name the extra to install")


def test_core_install_pulls_no_framework():
    """The frameworks are optional extras: the core dependencies and every tox
    environment but ``frameworks`` install none of them."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = ("keras", "jax", "flax", "onnx")
    core = [d for d in project["dependencies"] if d.lower().startswith(names)]
    assert not core, f"got {core} in the core dependencies, but should be in extras only"
    extras = project["optional-dependencies"]
    for extra in ("keras", "flax", "onnx", "frameworks"):
        assert extra in extras, f"got extras {sorted(extras)}, but should include {extra!r}"
    tox = (ROOT / "tox.ini").read_text()
    sections = [s for s in tox.split("\n[") if "extras" in s and "frameworks" in s.split("\n", 1)[1]]
    assert all(s.startswith("testenv:frameworks]") for s in sections), (
        f"got extras in {[s.split(']')[0] for s in sections]}, but should be in testenv:frameworks only")


# ONNX ---------------------------------------------------------------------------

#: Fast enough to grade whole (every check) in the self-tests.
ONNX_IDS = [e.id for e in FRAMEWORKS if e.adapter.startswith("implementations.frameworks.onnx_gru")]


@pytest.mark.parametrize("entry_id", ONNX_IDS)
def test_onnx_findings_match_registry(entry_id: str):
    """Grading each ONNX operator adapter finds exactly its registry entry's expected failures."""
    onnx_module()
    entry = BY_ID[entry_id]
    outcomes = grade(load_subject(entry_id), max_examples=10)
    failing, expected = failing_checks(outcomes), set(entry.expected_failures)
    assert failing == expected, (
        f"got failing checks {sorted(failing)} for {entry_id}, but should be {sorted(expected)}: "
        + "; ".join(f"{c}: {outcomes[c].message.splitlines()[0]}" for c in sorted(failing - expected)))
    assert outcomes["equations.step"].status == "pass", (
        f"got equations.step={outcomes['equations.step'].status} for {entry_id}, but should be pass")


def test_onnx_linear_before_reset_is_what_the_claim_tests():
    """The adapters are not vacuous: the linear_before_reset=0 node graded against the
    PyTorch claim fails equations.step (reset placement differs by ~0.1 with random weights)."""
    module = onnx_module()

    class WrongClaim(module.OnnxRuntimeGRUResetBefore):
        reset = "after"

    outcome = run_check("equations.step", Subject("wrong-claim", WrongClaim()), max_examples=10)
    assert outcome.status == "fail", f"got {outcome.status}, but should be fail (lbr=0 is reset-before)"


def test_onnx_weight_layout():
    """W, R, B are z, r, h row blocks, B = [Wb; Rb], one row per direction, reverse second."""
    module = onnx_module()
    case = CaseSpec(steps=1, batch=1, input_size=2, hidden_size=3, bidirectional=True, seed=5).materialize()
    weights = module.onnx_gru_weights(case.params, True, np.dtype(np.float64))
    p = case.params
    assert weights["W"].shape == (2, 9, 2) and weights["R"].shape == (2, 9, 3) and weights["B"].shape == (2, 18)
    np.testing.assert_array_equal(weights["W"][1, :3], p.get("weight_ih", 0, True, gate="z"))
    np.testing.assert_array_equal(weights["R"][0, 3:6], p.get("weight_hh", 0, False, gate="r"))
    np.testing.assert_array_equal(weights["B"][0, 15:], p.get("bias_hh", 0, False, gate="n"))


def _varlen_case():
    case = CaseSpec(steps=4, batch=2, input_size=2, hidden_size=3, bidirectional=True, seed=11).materialize()
    lengths = np.array([4, 2])
    return case, lengths


def _instance(adapter, case):
    subject = Subject("s", adapter)
    return subject, subject.instantiate(case)


def test_onnxruntime_sequence_lens_follows_the_spec():
    """ONNX Runtime with sequence_lens [4, 2]: sample 1's outputs past step 2 are 0, its
    Y_h is its state after step 1, and its reverse direction starts at step 1."""
    module = onnx_module()
    case, lengths = _varlen_case()
    subject, instance = _instance(module.OnnxRuntimeGRUSequenceLens(), case)
    got = subject.call(instance, case.x, case.h0, lengths=lengths)
    alone = gru_forward(case.x[:2, 1:2], case.params, case.h0[:, 1:2])
    np.testing.assert_array_equal(got.output[2:, 1], 0.0)
    np.testing.assert_allclose(got.output[:2, 1], alone.output[:, 0], atol=1e-6)
    np.testing.assert_allclose(got.h_n[:, 1], alone.h_n[:, 0], atol=1e-6)


def test_finding_onnx_reference_ignores_sequence_lens():
    """Finding (onnx.reference, the ONNX reference implementation): its GRU ignores
    ``sequence_lens``. Counterexample: lengths [4, 2], sample 1 gets the outputs and
    Y_h of all 4 steps instead of zeros past step 2 and its state after step 1."""
    module = onnx_module()
    case, lengths = _varlen_case()
    subject, instance = _instance(module.OnnxReferenceGRUSequenceLens(), case)
    got = subject.call(instance, case.x, case.h0, lengths=lengths)
    full = gru_forward(case.x, case.params, case.h0)
    np.testing.assert_allclose(got.output, full.output, atol=1e-6,
                               err_msg="onnx.reference now reads sequence_lens: update the registry and README")
    assert np.abs(got.output[2:, 1]).max() > 0.01, (
        f"got outputs past the length of magnitude {np.abs(got.output[2:, 1]).max():.3g}, but should be "
        "non-zero while onnx.reference ignores sequence_lens")


# Keras ---------------------------------------------------------------------------

def test_keras_weight_layout():
    """kernel (I, 3H) and recurrent_kernel (H, 3H) have column blocks z, r, h; reset_after
    keeps the two biases as rows, reset_before sums them."""
    module = keras_module()
    case = CaseSpec(steps=1, batch=1, input_size=2, hidden_size=3, seed=5).materialize()
    p = case.params
    kernel, recurrent, bias = module.keras_gru_weights(p, reset_after=True)
    assert kernel.shape == (2, 9) and recurrent.shape == (3, 9) and bias.shape == (2, 9)
    np.testing.assert_array_equal(kernel[:, 3:6], p.get("weight_ih", gate="r").T)
    np.testing.assert_array_equal(bias[1, 6:], p.get("bias_hh", gate="n"))
    _, _, summed = module.keras_gru_weights(p, reset_after=False)
    np.testing.assert_array_equal(summed[:3], p.get("bias_ih", gate="z") + p.get("bias_hh", gate="z"))


#: The minimal counterexample the suite found for keras-gru-reset-before.
KERAS_CASE = CaseSpec(steps=1, batch=1, input_size=1, hidden_size=1, batch_first=True, dtype="float64",
                      with_h0=False)


def _keras_error(adapter_cls, spec: CaseSpec) -> float:
    case = spec.materialize()
    result = Subject("k", adapter_cls()).run_case(case)
    return float(np.abs(result.output - case.oracle(adapter_cls.reset).output).max())


def test_finding_keras_float64_reset_before_computes_in_float32():
    """Finding (Keras 3, torch backend): ``GRU(reset_after=False, dtype="float64")``
    returns float64 with float32 accuracy: ``keras.ops.matmul`` casts to
    ``result_type(float64, float64)``, which is float32 outside TensorFlow. Counterexample
    KERAS_CASE: error 2.7e-9 against the float64 oracle (tolerance 1e-10). The
    reset_after=True layer runs the backend's own GRU loop (torch.matmul) and is exact."""
    module = keras_module()
    assert module.keras.backend.result_type("float64", "float64") == "float32", (
        "keras.backend.result_type('float64', 'float64') is no longer float32: update the finding")
    error = _keras_error(module.KerasGRUResetBefore, KERAS_CASE)
    assert 1e-10 < error < 1e-6, f"got error {error:.3g}, but should be float32-sized (1e-10 .. 1e-6)"
    exact = _keras_error(module.KerasGRUResetAfter, KERAS_CASE)
    assert exact < 1e-12, f"got error {exact:.3g} for reset_after=True, but should be float64-exact"
    float32 = _keras_error(module.KerasGRUResetBefore, KERAS_CASE.with_(dtype="float32"))
    assert float32 < 1e-6, f"got float32 error {float32:.3g}, but should be within the float32 tolerance"


#: What the slower adapters are graded on here (a few examples each); tox -e frameworks grades all.
KEY_CHECKS = ["equations.step", "equations.sequence", "precision.float64", "precision.float32",
              "directions.reverse-is-flipped-forward", "sequence.zero-h0"]


@pytest.mark.parametrize("entry_id", ["keras-gru-reset-after", "keras-gru-reset-before"])
def test_keras_key_checks(entry_id: str):
    """The equation, precision and direction checks agree with the registry's findings."""
    keras_module()
    checks = KEY_CHECKS
    outcomes = grade(load_subject(entry_id), checks, max_examples=8)
    failing = failing_checks(outcomes)
    expected = set(BY_ID[entry_id].expected_failures) & set(checks)
    assert failing == expected, f"got failing {sorted(failing)} for {entry_id}, but should be {sorted(expected)}"


# Flax ------------------------------------------------------------------------------

#: The minimal counterexample the suite found for flax-nnx-grucell.
FLAX_CASE = CaseSpec(steps=1, batch=1, input_size=1, hidden_size=1, with_h0=False)


def _cell_output(adapter, case) -> np.ndarray:
    return Subject("f", adapter).run_case(case).output


def test_flax_linen_matches_its_documented_equations():
    """linen.GRUCell computes its docstring's equations (b_hn inside r * (.))."""
    module = flax_module()
    case = FLAX_CASE.materialize()
    error = np.abs(_cell_output(module.FlaxLinenGRUCell(), case) - case.oracle("after").output).max()
    assert error < 1e-6, f"got error {error:.3g}, but should match the oracle"


@pytest.mark.parametrize("entry_id", ["flax-linen-grucell", "flax-nnx-grucell"])
def test_flax_key_checks(entry_id: str):
    """The equation and precision checks agree with the registry's findings: nnx fails
    equations.step, and its precision checks are blocked (wrong equations, not precision)."""
    flax_module()
    outcomes = grade(load_subject(entry_id), KEY_CHECKS, max_examples=5)
    failing = failing_checks(outcomes)
    expected = set(BY_ID[entry_id].expected_failures) & set(KEY_CHECKS)
    assert failing == expected, f"got failing {sorted(failing)} for {entry_id}, but should be {sorted(expected)}"


def test_finding_flax_nnx_grucell_has_no_b_hn():
    """Finding (flax.nnx.GRUCell): its docstring says n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
    but ``dense_h`` has no bias, so the cell computes that equation with b_hn = 0.
    Counterexample FLAX_CASE: got 0.13417, but should be 0.122018; with b_hn = 0 in the
    oracle the two agree."""
    module = flax_module()
    case = FLAX_CASE.materialize()
    got = _cell_output(module.FlaxNNXGRUCell(), case)
    documented = case.oracle("after").output
    assert np.abs(got - documented).max() > 1e-3, (
        "nnx.GRUCell now matches its documented equation: it has a b_hn (update the registry and README)")
    b_hh = case.params["bias_hh_l0"].copy()
    b_hh[2 * case.spec.hidden_size:] = 0.0
    without_b_hn = gru_forward(case.x, case.params.replace({"bias_hh_l0": b_hh}), case.h0).output
    np.testing.assert_allclose(got, without_b_hn, atol=1e-6,
                               err_msg="nnx.GRUCell departs from its equation in another way than b_hn = 0")


# torch.onnx.export ----------------------------------------------------------------------

def _gru_nodes(model_bytes: bytes):
    import onnx

    model = onnx.load_from_string(model_bytes)
    return [n for n in model.graph.node if n.op_type == "GRU"]


@pytest.mark.parametrize("cls_name", ["TorchOnnxExportTorchScript", "TorchOnnxExportDynamo"])
def test_exported_gru_keeps_reset_after(cls_name: str):
    """Both exporters emit ONNX GRU nodes with linear_before_reset=1 (the bug class
    "reset placement lost in conversion"), one per layer, and the model computes nn.GRU's
    result (2 layers, bidirectional, h0 given)."""
    module = export_module()
    spec = CaseSpec(steps=3, batch=2, input_size=2, hidden_size=3, num_layers=2, bidirectional=True, seed=3)
    case = spec.materialize()
    adapter = getattr(module, cls_name)()
    nodes = _gru_nodes(adapter.export(spec.config(), case.params, True, spec.steps))
    lbr = [next((a.i for a in n.attribute if a.name == "linear_before_reset"), 0) for n in nodes]
    assert lbr == [1, 1], f"got linear_before_reset {lbr}, but should be [1, 1] (two layers, reset after)"
    result = Subject("e", adapter).run_case(case)
    error = np.abs(result.output - case.oracle().output).max()
    assert error < 1e-5, f"got error {error:.3g} against the oracle, but should be float32-close"


def test_finding_dynamo_export_fixes_the_sequence_length():
    """Finding (torch.onnx.export, dynamo=True): nn.GRU is exported for the traced sequence
    length only. ``torch.export`` refuses a dynamic T ("marked T as dynamic but your code
    specialized it"); ``torch.onnx.export`` given the same ``dynamic_shapes`` raises
    nothing and returns a model that fails at any other length (its input declares T
    either as the traced 3 or, in some runs, as symbolic with a Reshape holding 3).
    Counterexample: traced at T=3, run at T=5."""
    export_module()
    import onnxruntime as ort

    from implementations.frameworks.torch_onnx import _quiet

    gru = torch.nn.GRU(2, 3).eval()
    sample = (torch.zeros(3, 2, 2), torch.zeros(1, 2, 3))
    steps, batch = torch.export.Dim("steps", min=1), torch.export.Dim("batch", min=1)
    shapes = ({0: steps, 1: batch}, {1: batch})
    with _quiet(), pytest.raises(Exception, match="specialized"):
        torch.export.export(gru, sample, dynamic_shapes=shapes)
    with _quiet():
        program = torch.onnx.export(gru, sample, dynamo=True, dynamic_shapes=shapes,
                                    input_names=["x", "h0"], output_names=["output", "h_n"])
    options = ort.SessionOptions()
    options.log_severity_level = 4
    session = ort.InferenceSession(program.model_proto.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    x = np.zeros((5, 2, 2), np.float32)
    h0 = np.zeros((1, 2, 3), np.float32)
    session.run(None, {"x": x[:3], "h0": h0})  # the traced length runs
    with pytest.raises(Exception, match="dimensions|[Rr]eshape"):
        session.run(None, {"x": x, "h0": h0})


# The runner ----------------------------------------------------------------------------

def test_runner_grades_and_merges(tmp_path: Path):
    """``python -m implementations.frameworks <id>`` writes one merged results file with
    the framework beside the document results it is given, and exits 0 when the results
    match the registry."""
    onnx_module()
    from conformance.results import read_results

    documents = tmp_path / "results.json"
    code = subprocess.call([sys.executable, "-m", "conformance", "grade", "torch-gru", "--profile", "quick",
                            "--results", str(documents), "--no-html"], cwd=ROOT, stdout=subprocess.DEVNULL)
    assert code == 0, f"got exit status {code} grading torch-gru, but should be 0"
    results = tmp_path / "results-frameworks.json"
    out = subprocess.run([sys.executable, "-m", "implementations.frameworks", "onnxruntime-gru", "--profile", "quick",
                          "--results", str(results), "--documents", str(documents),
                          "--html", str(tmp_path / "index.html")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, f"got exit status {out.returncode}, but should be 0: {out.stderr[-2000:]}"
    graded = [impl["id"] for impl in read_results(results)["implementations"]]
    assert graded == ["onnxruntime-gru"], f"got {graded} in {results.name}, but should be ['onnxruntime-gru']"
    if (ROOT / "conformance" / "report.py").is_file():
        html = (tmp_path / "index.html").read_text()
        for impl in ("torch-gru", "onnxruntime-gru"):
            assert impl in html, f"got no {impl} in the HTML report, but should show both side by side"


def test_runner_rejects_unknown_ids():
    out = subprocess.run([sys.executable, "-m", "implementations.frameworks", "no-such-gru"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "unknown framework ids ['no-such-gru']" in out.stderr, (
        f"got {out.returncode}: {out.stderr[-500:]!r}, but should be a usage error naming the id")
