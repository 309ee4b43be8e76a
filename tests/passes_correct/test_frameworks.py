"""Other frameworks' GRUs (implementations/frameworks): the adapters convert and
claim correctly, and every finding is pinned with its counterexample, so a
framework release that changes the behaviour fails here and is noticed.

Each framework's tests are skipped when its lane's extra is not installed; the
registry, runner and scoreboard tests need no framework. Test names carry their
lane's name: each ``tox -e frameworks-<lane>`` runs ``-k "<lane> and not graded"``
after grading (the ``graded`` tests re-grade whole ids, which the lane run has just
done against the registry).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conformance.cases.generated import CaseSpec
from conformance.grading.engine import grade, run_check
from conformance.grading.loading import load_subject, registry, registry_by_id
from conformance.model.oracle import gru_forward
from conformance.running.subject import Subject
from conformance.implementations.frameworks.registry import EXTRAS, FRAMEWORKS, LANES, MODULE_LANE

ROOT = Path(__file__).resolve().parents[2]
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
            pytest.skip(f"{package} not installed (extra {EXTRAS.get(module, 'of its lane')!r})")
    return importlib.import_module(module)


def onnx_module():
    return framework("conformance.implementations.frameworks.onnx_gru", "onnx", "onnxruntime")


def keras_module():
    return framework("conformance.implementations.frameworks.keras_torch", "keras")


def flax_module():
    return framework("conformance.implementations.frameworks.flax_gru", "jax", "flax")


def export_module():
    return framework("conformance.implementations.frameworks.torch_onnx", "onnx", "onnxruntime", "onnxscript")


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


#: Every framework a lane installs, by import name.
FRAMEWORK_MODULES = ("keras", "jax", "flax", "haiku", "equinox", "onnx", "onnxruntime", "onnxscript", "tensorflow",
                     "tf_keras", "openvino", "paddle", "mlx", "mindspore")


def test_registry_imports_no_framework():
    """Importing the framework registry (as every load of a registry id does) imports
    no framework, so the core install resolves every id without them."""
    code = (f"FRAMEWORK_MODULES = {FRAMEWORK_MODULES!r}\n"
            "import sys, conformance.implementations.frameworks.registry, conformance.grading.loading as l; l.registry_by_id(); "
            "print(sorted(m for m in FRAMEWORK_MODULES if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"got {out.stdout.strip()} imported, but should be []"


@pytest.mark.slow
def test_missing_framework_is_a_clear_load_error():
    """Without its framework, an id gives one AdapterLoadError naming the extra to install."""
    code = ("import sys; sys.modules['keras'] = None\n"
            "from conformance.grading.loading import load_subject, AdapterLoadError\n"
            "try:\n    load_subject('keras-torch-gru-reset-after')\n"
            "except AdapterLoadError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "pip install 'gru-conformance[keras]'" in out.stdout, (
        f"got {out.stdout.strip()!r}, but should name the extra to install")


def test_core_install_pulls_no_framework():
    """The frameworks are optional extras, one per lane: the core dependencies pull none,
    and only the lanes' tox environments install them."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib (reading pyproject.toml) is in the standard library from Python 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = ("keras", "jax", "flax", "onnx", "tensorflow", "tf-keras", "openvino", "paddle", "mlx",
             "mindspore", "dm-haiku", "equinox")
    core = [d for d in project["dependencies"] if d.lower().startswith(names)]
    assert not core, f"got {core} in the core dependencies, but should be in extras only"
    extras = project["optional-dependencies"]
    for extra in {lane.extra for lane in LANES.values()} | {"frameworks"}:
        assert extra in extras, f"got extras {sorted(extras)}, but should include {extra!r}"
    tox = (ROOT / "tox.ini").read_text()
    sections = [s for s in tox.split("\n[") if "\nextras" in s]
    assert all(s.startswith("testenv:frameworks-") for s in sections), (
        f"got extras in {[s.split(']')[0] for s in sections]}, but should be in testenv:frameworks-<lane> only")


def test_every_lane_has_its_environment_and_extra():
    """Each lane is a tox environment installing its extra, and every framework id's
    module belongs to exactly one lane."""
    tox = (ROOT / "tox.ini").read_text()
    for lane in LANES.values():
        section = tox.split(f"[testenv:{lane.tox_env}]", 1)
        assert len(section) == 2, f"got no [testenv:{lane.tox_env}] in tox.ini, but should have one per lane"
        body = section[1].split("\n[", 1)[0]
        assert f"extras = {lane.extra}" in body, f"got {body!r}, but should install extra {lane.extra!r}"
        assert f"GRU_LANE = {lane.name}" in body, f"got {body!r}, but should grade lane {lane.name!r}"
    for entry in FRAMEWORKS:
        module = entry.adapter.partition(":")[0]
        assert module in MODULE_LANE, f"got {module} for {entry.id} in no lane, but should be in one"
    optional = [name for name, lane in LANES.items() if lane.optional]
    assert optional == ["mindspore"], f"got optional lanes {optional}, but should be ['mindspore'] (the heavy one)"


@pytest.mark.slow
def test_lane_without_its_framework_is_reported_not_failed(tmp_path: Path):
    """A lane whose framework is not installed here exits 0 and writes a results file
    saying so (no implementations), which the scoreboard lists."""
    import importlib.util

    lane = next((name for name, lane in LANES.items()
                 if any(importlib.util.find_spec(m) is None for m in lane.imports)), None)
    if lane is None:
        pytest.skip("every lane's framework is installed here")
    results = tmp_path / "lane.json"
    out = subprocess.run([sys.executable, "-m", "conformance.commands.frameworks_grade", "--lane", lane, "--results",
                          str(results)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, f"got exit status {out.returncode}, but should be 0: {out.stderr[-1000:]}"
    import json

    data = json.loads(results.read_text())
    assert data["implementations"] == [], f"got {len(data['implementations'])} implementations, but should be none"
    status = data["lanes"][0]["status"]
    assert status == "not installed here", f"got lane status {status!r}, but should be 'not installed here'"


def test_scoreboard_escapes_and_loads_nothing(tmp_path: Path):
    """The scoreboard shows adapter text as text, runs no script, loads nothing, and lists
    a lane that could not be installed."""
    from conformance.reporting.framework_scoreboard import render_scoreboard
    from conformance.grading.results import build_results, environment

    hostile = "<script>alert(1)</script>"
    impl = {"id": "evil-gru", "document": hostile, "verdict": "nonconformant", "verdict_text": "nonconformant",
            "score": {"passed": 1, "applicable": 2, "warnings": 0}, "load_error": "",
            "adapter": {"kind": "layer", "name": hostile, "reset": "after", "white_box": True, "notes": hostile,
                        "capabilities": {"bidirectional": True, "batch_first": True, "dtypes": ["float32"]}},
            "checks": {"equations.step": {"status": "fail", "message": hostile},
                       "contract.output-shape": {"status": "pass", "message": ""}}}
    data = build_results([impl], {}, environment())
    data["checks"] = {"equations.step": {"family": "equations"}, "contract.output-shape": {"family": "contract"}}
    data["lanes"] = [{"name": "evil", "ids": ["evil-gru"], "status": "graded", "versions": {"x": hostile}},
                     {"name": "absent", "ids": [], "status": "not installable here", "reason": hostile}]
    html = render_scoreboard(data, tmp_path / "frameworks.html").read_text()
    assert "<script" not in html, "got a <script> element in the scoreboard, but should have none"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, "got adapter text unescaped, but should be escaped"
    assert "default-src 'none'" in html, "got no Content-Security-Policy, but should forbid every load"
    assert "http://" not in html and "https://" not in html, "got an external address, but should load nothing"
    assert "not installable here" in html, "got no line for the lane that could not be installed"


# ONNX ---------------------------------------------------------------------------

#: Fast enough to grade whole (every check) in the self-tests.
ONNX_IDS = [e.id for e in FRAMEWORKS if e.adapter.startswith("conformance.implementations.frameworks.onnx_gru")]


@pytest.mark.parametrize("entry_id", ONNX_IDS)
def test_onnx_graded_findings_match_registry(entry_id: str):
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
    from conformance.checks import load_all

    load_all()  # run_check looks checks up in the catalogue, which grade() would have loaded

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


def test_onnx_finding_reference_ignores_sequence_lens():
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
    keras_module()
    from conformance.implementations.frameworks import _keras_common as module

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


def test_keras_finding_float64_reset_before_computes_in_float32():
    """Finding (Keras 3, torch backend): ``GRU(reset_after=False, dtype="float64")``
    returns float64 with float32 accuracy: ``keras.ops.matmul`` casts to
    ``result_type(float64, float64)``, which is float32 outside TensorFlow. Counterexample
    KERAS_CASE: error 2.7e-9 against the float64 oracle (tolerance 1e-10). The
    reset_after=True layer runs the backend's own GRU loop (torch.matmul) and is exact."""
    module = keras_module()
    assert module.keras.backend.result_type("float64", "float64") == "float32", (
        "keras.backend.result_type('float64', 'float64') is no longer float32: update the finding")
    error = _keras_error(module.KerasTorchGRUResetBefore, KERAS_CASE)
    assert 1e-10 < error < 1e-6, f"got error {error:.3g}, but should be float32-sized (1e-10 .. 1e-6)"
    exact = _keras_error(module.KerasTorchGRUResetAfter, KERAS_CASE)
    assert exact < 1e-12, f"got error {exact:.3g} for reset_after=True, but should be float64-exact"
    float32 = _keras_error(module.KerasTorchGRUResetBefore, KERAS_CASE.with_(dtype="float32"))
    assert float32 < 1e-6, f"got float32 error {float32:.3g}, but should be within the float32 tolerance"


#: What the slower adapters are graded on here (a few examples each); tox -e frameworks grades all.
KEY_CHECKS = ["equations.step", "equations.sequence", "precision.float64", "precision.float32",
              "directions.reverse-is-flipped-forward", "sequence.zero-h0"]


@pytest.mark.parametrize("entry_id", ["keras-torch-gru-reset-after", "keras-torch-gru-reset-before"])
def test_keras_graded_key_checks(entry_id: str):
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


def test_jax_flax_linen_matches_its_documented_equations():
    """linen.GRUCell computes its docstring's equations (b_hn inside r * (.))."""
    module = flax_module()
    case = FLAX_CASE.materialize()
    error = np.abs(_cell_output(module.FlaxLinenGRUCell(), case) - case.oracle("after").output).max()
    assert error < 1e-6, f"got error {error:.3g}, but should match the oracle"


@pytest.mark.parametrize("entry_id", ["flax-linen-grucell", "flax-nnx-grucell"])
def test_jax_flax_graded_key_checks(entry_id: str):
    """The equation and precision checks agree with the registry's findings: nnx fails
    equations.step, and its precision checks are blocked (wrong equations, not precision)."""
    flax_module()
    outcomes = grade(load_subject(entry_id), KEY_CHECKS, max_examples=5)
    failing = failing_checks(outcomes)
    expected = set(BY_ID[entry_id].expected_failures) & set(KEY_CHECKS)
    assert failing == expected, f"got failing {sorted(failing)} for {entry_id}, but should be {sorted(expected)}"


def test_jax_finding_flax_nnx_grucell_has_no_b_hn():
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
def test_onnx_exported_gru_keeps_reset_after(cls_name: str):
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


def test_onnx_finding_dynamo_export_fixes_the_sequence_length():
    """Finding (torch.onnx.export, dynamo=True): nn.GRU is exported for the traced sequence
    length only. ``torch.export`` refuses a dynamic T ("marked T as dynamic but your code
    specialized it"); ``torch.onnx.export`` given the same ``dynamic_shapes`` raises
    nothing and returns a model that fails at any other length (its input declares T
    either as the traced 3 or, in some runs, as symbolic with a Reshape holding 3).
    Counterexample: traced at T=3, run at T=5."""
    export_module()
    import onnxruntime as ort

    from conformance.implementations.frameworks._common import quiet

    gru = torch.nn.GRU(2, 3).eval()
    sample = (torch.zeros(3, 2, 2), torch.zeros(1, 2, 3))
    steps, batch = torch.export.Dim("steps", min=1), torch.export.Dim("batch", min=1)
    shapes = ({0: steps, 1: batch}, {1: batch})
    with quiet(), pytest.raises(Exception, match="specialized"):
        torch.export.export(gru, sample, dynamic_shapes=shapes)
    with quiet():
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

def test_onnx_graded_runner_merges(tmp_path: Path):
    """``python -m conformance.commands.frameworks_grade <id>`` writes one merged results file with
    the framework beside the document results it is given, and exits 0 when the results
    match the registry."""
    onnx_module()
    from conformance.grading.results import read_results

    documents = tmp_path / "results.json"
    code = subprocess.call([sys.executable, "-m", "conformance", "grade", "torch-gru", "--profile", "quick",
                            "--results", str(documents), "--no-html"], cwd=ROOT, stdout=subprocess.DEVNULL)
    assert code == 0, f"got exit status {code} grading torch-gru, but should be 0"
    results = tmp_path / "results-frameworks.json"
    out = subprocess.run([sys.executable, "-m", "conformance.commands.frameworks_grade", "onnxruntime-gru", "--profile", "quick",
                          "--results", str(results), "--documents", str(documents),
                          "--html", str(tmp_path / "index.html")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, f"got exit status {out.returncode}, but should be 0: {out.stderr[-2000:]}"
    graded = [impl["id"] for impl in read_results(results)["implementations"]]
    assert graded == ["onnxruntime-gru"], f"got {graded} in {results.name}, but should be ['onnxruntime-gru']"
    html = (tmp_path / "index.html").read_text()
    for impl in ("torch-gru", "onnxruntime-gru"):
        assert impl in html, f"got no {impl} in the HTML report, but should show both side by side"


@pytest.mark.slow
def test_runner_rejects_unknown_ids():
    out = subprocess.run([sys.executable, "-m", "conformance.commands.frameworks_grade", "no-such-gru"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "unknown framework ids ['no-such-gru']" in out.stderr, (
        f"got {out.returncode}: {out.stderr[-500:]!r}, but should be a usage error naming the id")


# ONNX Runtime, re-measured ------------------------------------------------------------------

def test_onnx_finding_onnxruntime_float64_and_layout1():
    """Finding (ONNX Runtime's CPU GRU): a float64 GRU model now loads but fails on its first
    run, and a ``layout=1`` (batch-major) node is refused; neither is claimed. Counterexample:
    ``CaseSpec(steps=2, batch=1, input_size=1, hidden_size=1)`` as float64 / batch-first."""
    module = onnx_module()
    import onnxruntime as ort

    def session(spec: CaseSpec, layout: int):
        case = spec.materialize()
        dtype = np.dtype(spec.dtype)
        weights = module.onnx_gru_weights(case.params, False, dtype)
        model = module.gru_model(spec.config(), weights, linear_before_reset=1, direction="forward", layout=layout)
        options = ort.SessionOptions()
        options.log_severity_level = 4
        x = case.x.transpose(1, 0, 2) if layout else case.x
        h0 = case.h0.transpose(1, 0, 2) if layout else case.h0
        feeds = {"X": x.astype(dtype), "initial_h": h0.astype(dtype)}
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"]), feeds

    spec = CaseSpec(steps=2, batch=1, input_size=1, hidden_size=1)
    runner, feeds = session(spec.with_(dtype="float64"), 0)  # loads (earlier releases refused it here)
    with pytest.raises(Exception, match="(?i)double|float64|not (yet )?(supported|implemented)"):
        runner.run(None, feeds)
    with pytest.raises(Exception, match="(?i)layout|batchwise"):
        runner, feeds = session(spec.with_(batch_first=True), 1)
        runner.run(None, feeds)


# JAX: dm-haiku, Equinox, Keras on jax and numpy -----------------------------------------------

def _error(adapter, spec: CaseSpec) -> float:
    case = spec.materialize()
    result = Subject("f", adapter).run_case(case)
    return float(np.abs(result.output - case.oracle(adapter.reset).output).max())


def test_jax_haiku_is_the_complement_update_with_swapped_gate_names():
    """hk.GRU computes the reset-before GRU with the complement update h' = (1 - z) h + z a:
    claimed as such (the suite loads it with the update gate negated) it matches the
    reset-before oracle exactly, in float64; claimed with the PyTorch polarity it does not.
    Its docstring calls z and r "reset and update gates", in that order, while z (the first
    block) is the one mixing h and a."""
    module = framework("conformance.implementations.frameworks.haiku_gru", "jax", "haiku")
    spec = CaseSpec(steps=4, batch=3, input_size=2, hidden_size=3, dtype="float64", seed=2)
    error = _error(module.HaikuGRU(), spec)
    assert error < 1e-12, f"got error {error:.3g} against the reset-before oracle, but should be float64-exact"
    assert "are reset and update gates" in module.hk.GRU.__doc__, (
        "hk.GRU's docstring no longer names z and r 'reset and update gates': update the README")

    class PyTorchPolarity(module.HaikuGRU):
        update = "pytorch"

    unmapped = _error(PyTorchPolarity(), spec)
    assert unmapped > 1e-3, f"got error {unmapped:.3g} claimed with the PyTorch polarity, but should differ"


def test_jax_equinox_grucell_is_exact_in_float64():
    module = framework("conformance.implementations.frameworks.equinox_gru", "jax", "equinox")
    error = _error(module.EquinoxGRUCell(), CaseSpec(steps=3, batch=2, input_size=2, hidden_size=3,
                                                    dtype="float64", seed=4))
    assert error < 1e-12, f"got error {error:.3g}, but should be float64-exact"


def _in_subprocess(code: str) -> str:
    """Run ``code`` in a fresh process (Keras' backend and JAX's 64-bit mode are process-wide)."""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, f"got exit status {out.returncode}, but should be 0: {out.stderr[-2000:]}"
    return out.stdout.strip().splitlines()[-1]


_KERAS_PROBE = """
import numpy as np
from conformance.cases.generated import CaseSpec
from conformance.running.subject import Subject
from conformance.implementations.frameworks.{module} import {cls} as Adapter
spec = CaseSpec(steps=1, batch=1, input_size=1, hidden_size=1, batch_first=True, dtype="float64", with_h0=False)
case = spec.materialize()
instance = Adapter().build(spec.config())
Adapter().load(instance, case.params)
import torch
output, _ = Adapter().run(instance, torch.from_numpy(case.x.transpose(1, 0, 2).copy()), None)
error = np.abs(output.double().numpy().transpose(1, 0, 2) - case.oracle(Adapter.reset).output).max()
print(str(output.dtype), float(error))
"""


@pytest.mark.parametrize("module, cls, dtype", [
    ("keras_jax", "KerasJaxGRUResetAfter", "torch.float32"),
    ("keras_jax_x64", "KerasJaxX64GRUResetAfter", "torch.float64"),
    ("keras_numpy", "KerasNumpyGRUResetAfter", "torch.float64"),
])
def test_jax_finding_keras_float64_off_tensorflow(module: str, cls: str, dtype: str):
    """Finding (Keras 3 off TensorFlow): ``GRU(dtype="float64")`` computes at float32
    accuracy on the jax and numpy backends (``keras.ops.matmul`` casts float64 to float32
    off TensorFlow), and with JAX's 64-bit mode off (its default) returns float32 arrays.
    Counterexample ``CaseSpec(steps=1, batch=1, input_size=1, hidden_size=1,
    batch_first=True, dtype='float64', with_h0=False)``: error about 2.5e-8 (> 1e-10)."""
    framework("conformance.implementations.frameworks._keras_common", "jax", "keras")
    got_dtype, error = _in_subprocess(_KERAS_PROBE.format(module=module, cls=cls)).split()
    assert got_dtype == dtype, f"got output dtype {got_dtype}, but should be {dtype} (as found)"
    assert 1e-10 < float(error) < 1e-6, f"got error {float(error):.3g}, but should be float32-sized (1e-10 .. 1e-6)"


# TensorFlow: Keras 3, tf-keras, TFLite ---------------------------------------------------------

def test_tensorflow_keras_and_tf_keras_are_exact_in_float64():
    """On TensorFlow, Keras 3 and Keras 2 keep float64: both reset placements are exact."""
    framework("conformance.implementations.frameworks._keras_common", "tensorflow", "tf_keras")
    for module, cls in [("keras_tensorflow", "KerasTensorFlowGRUResetBefore"),
                        ("tf_keras_gru", "TfKerasGRUResetBefore")]:
        got_dtype, error = _in_subprocess(_KERAS_PROBE.format(module=module, cls=cls)).split()
        assert got_dtype == "torch.float64" and float(error) < 1e-12, (
            f"got {got_dtype} with error {error} for {cls}, but should be float64-exact")


def test_tensorflow_tflite_conversions_keep_the_gru():
    """The TFLite converter keeps a Keras GRU, unrolled or as a WHILE loop (builtin ops only:
    no Flex op is needed here), to float32 accuracy, bidirectional with h0."""
    module = framework("conformance.implementations.frameworks.tflite_gru", "tensorflow")
    spec = CaseSpec(steps=3, batch=2, input_size=2, hidden_size=3, bidirectional=True, batch_first=True, seed=6)
    for adapter in (module.TfliteKerasGRUResetAfter(), module.TfliteKerasGRULoop()):
        error = _error(adapter, spec)
        assert error < 1e-6, f"got error {error:.3g} for {adapter.name}, but should be float32-close"
    case = spec.materialize()
    layer = module.keras_gru_layer(spec.config(), case.params, True, unroll=False)
    runner = module.interpreter(module.convert(layer, 2, 3, 2, 3, None))
    ops = {op["op_name"] for op in runner._get_ops_details()}
    assert "WHILE" in ops and not any(op.startswith("Flex") for op in ops), (
        f"got ops {sorted(ops)}, but should be builtin ops with a WHILE loop")


# OpenVINO ------------------------------------------------------------------------------------

OPENVINO_CASE = CaseSpec(steps=1, batch=1, input_size=1, hidden_size=1, batch_first=True, with_h0=False)


def test_openvino_finding_default_precision_is_bf16_on_bf16_cpus():
    """Finding (OpenVINO CPU plugin): on a CPU with native bf16 the default inference precision
    is bf16, silently, for a float32 model: GRUSequence errs by about 2e-3 (counterexample
    OPENVINO_CASE); INFERENCE_PRECISION_HINT=f32 makes it float32-exact. The registry's
    expected failures follow the same CPU test."""
    module = framework("conformance.implementations.frameworks.openvino_gru", "openvino")
    from conformance.implementations.frameworks.registry import cpu_has_native_bf16

    default = module.default_inference_precision()
    assert (default == "bf16") == cpu_has_native_bf16(), (
        f"got default precision {default} with cpu_has_native_bf16()={cpu_has_native_bf16()}, but should agree")
    f32 = _error(module.OpenVinoGRUSequenceF32(), OPENVINO_CASE)
    assert f32 < 1e-6, f"got error {f32:.3g} with the f32 hint, but should be float32-close"
    error = _error(module.OpenVinoGRUSequence(), OPENVINO_CASE.with_(steps=4, batch=2, hidden_size=4, seed=3))
    if default == "bf16":
        assert 1e-4 < error < 2e-2, f"got error {error:.3g} at the default precision, but should be bf16-sized"
    else:
        assert error < 1e-6, f"got error {error:.3g} at the default (f32) precision, but should be float32-close"


def test_openvino_finding_grusequence_ignores_sequence_lengths():
    """Finding (OpenVINO CPU plugin): GRUSequence's sequence_lengths input is ignored: with
    lengths [1] on ``CaseSpec(steps=2, batch=1, input_size=1, hidden_size=1, with_h0=False,
    batch_first=True)``, output[t=1] got 0.198428 (the state after step 2), should be 0,
    and Ho is the state after both steps."""
    module = framework("conformance.implementations.frameworks.openvino_gru", "openvino")
    spec = CaseSpec(steps=2, batch=1, input_size=1, hidden_size=1, with_h0=False, batch_first=True)
    case = spec.materialize()
    adapter = module.OpenVinoGRUSequenceF32()
    instance = adapter.build(spec.config())
    adapter.load(instance, case.params)
    x = torch.from_numpy(case.x.transpose(1, 0, 2).astype(np.float32).copy())
    output, h_n = adapter.run_lengths(instance, x, torch.tensor([1]), None)
    full = gru_forward(case.x, case.params, None)
    np.testing.assert_allclose(output.numpy()[0, :, 0], full.output[:, 0, 0], atol=1e-6,
                               err_msg="GRUSequence now reads sequence_lengths: update the registry and README")
    np.testing.assert_allclose(h_n.numpy().ravel(), full.h_n.ravel(), atol=1e-6)


def test_openvino_finding_float64_model_is_not_float64():
    """Finding: a float64 GRUSequence model compiles and returns float64 arrays, computed
    at float32 accuracy even with the f32 hint (the CPU plugin converts f64 to f32)."""
    module = framework("conformance.implementations.frameworks.openvino_gru", "openvino")
    spec = OPENVINO_CASE.with_(dtype="float64")
    case = spec.materialize()
    weights = module.openvino_gru_weights(case.params, 1, True, np.dtype(np.float64))
    compiled = module.compile_model(module.gru_sequence_model(spec.config(), weights, True), "f32")
    x = case.x.transpose(1, 0, 2).copy()
    y = compiled({"X": x, "H0": np.zeros((1, 1, 1)), "sequence_lengths": np.array([1], np.int32)})[0]
    error = np.abs(y[:, 0].transpose(1, 0, 2) - case.oracle().output).max()
    assert y.dtype == np.float64, f"got {y.dtype}, but should be float64 arrays (as found)"
    assert 1e-10 < error < 1e-6, f"got error {error:.3g}, but should be float32-sized (1e-10 .. 1e-6)"


def test_openvino_finding_onnx_frontend_layout1_fails_at_inference():
    """Finding (openvino#37820): OpenVINO's ONNX frontend reads and compiles a GRU node with
    ``layout=1`` (batch-major), but the compiled model fails on its first inference.
    Counterexample: ``CaseSpec(steps=3, batch=2, input_size=2, hidden_size=3, batch_first=True)``."""
    framework("conformance.implementations.frameworks.openvino_gru", "openvino", "onnx")
    from conformance.implementations.frameworks import onnx_gru, openvino_convert, openvino_gru

    spec = CaseSpec(steps=3, batch=2, input_size=2, hidden_size=3, batch_first=True, seed=7)
    case = spec.materialize()
    weights = onnx_gru.onnx_gru_weights(case.params, False, np.dtype(np.float32))
    model = onnx_gru.gru_model(spec.config(), weights, linear_before_reset=1, direction="forward", layout=1)
    compiled = openvino_gru.compile_model(openvino_convert.read_onnx(model.SerializeToString()), "f32")
    feeds = {"X": case.x.transpose(1, 0, 2).astype(np.float32).copy(),
             "initial_h": case.h0.transpose(1, 0, 2).astype(np.float32).copy()}
    with pytest.raises(Exception, match="(?i)incompatible|dims|shape"):
        compiled(feeds)


def test_openvino_finding_keras_float64_output_is_sometimes_float32():
    """Finding (Keras 3, openvino backend): a float64 layer sometimes returns a float32 output:
    ``Model.predict`` of a ``Bidirectional`` layer (one direction returns float64), and the
    eager call in the suite's ``contract.dtype`` run (minimal counterexample
    ``CaseSpec(steps=1, batch=1, input_size=1, hidden_size=1, batch_first=True,
    dtype='float64', with_h0=False)`` after the check's earlier examples; alone in a fresh
    process that case returns float64)."""
    framework("conformance.implementations.frameworks._keras_common", "openvino", "keras")
    probe = _KERAS_PROBE.replace("steps=1,", "steps=2,").replace("with_h0=False)", "with_h0=False, bidirectional={bi})")
    cls = "KerasOpenVinoPredictGRUResetAfter"
    one = _in_subprocess(probe.format(module="keras_openvino", cls=cls, bi=False)).split()[0]
    both = _in_subprocess(probe.format(module="keras_openvino", cls=cls, bi=True)).split()[0]
    assert (one, both) == ("torch.float64", "torch.float32"), (
        f"got predict output dtypes {one} (one direction), {both} (bidirectional), but should be "
        "torch.float64, torch.float32 (as found)")
    outcome = grade(load_subject("keras-openvino-gru-reset-after"), ["contract.dtype"], max_examples=8)["contract.dtype"]
    assert outcome.status == "fail" and "got torch.float32" in outcome.message, (
        f"got contract.dtype {outcome.status}: {outcome.message[:200]!r}, but should fail with a float32 output")


# PaddlePaddle -------------------------------------------------------------------------------

def test_paddle_finding_rnn_padding_outputs_are_not_zero():
    """Finding: ``paddle.nn.RNN(GRUCell)`` with ``sequence_length`` holds each sample's state past
    its length but returns the cell's outputs on the padding, where Paddle's ``nn.GRU``
    returns 0. Counterexample: ``CaseSpec(steps=2, batch=1, input_size=1, hidden_size=1,
    with_h0=False)``, lengths [1]: output[t=1] got 0.198428, should be 0."""
    module = framework("conformance.implementations.frameworks.paddle_gru", "paddle")
    spec = CaseSpec(steps=2, batch=1, input_size=1, hidden_size=1, with_h0=False)
    case = spec.materialize()
    outputs = {}
    for adapter in (module.PaddleRNNGRUCell(), module.PaddleGRU()):
        instance = adapter.build(spec.config())
        adapter.load(instance, case.params)
        output, _ = adapter.run_lengths(instance, torch.from_numpy(case.x.astype(np.float32)),
                                        torch.tensor([1]), None)
        outputs[type(adapter).__name__] = float(output[1, 0, 0])
    assert abs(outputs["PaddleRNNGRUCell"]) > 0.1, f"got {outputs}, but RNN's padding output should be non-zero"
    assert outputs["PaddleGRU"] == 0.0, f"got {outputs}, but nn.GRU's padding output should be 0"


def test_paddle_finding_rnn_float64_cells_need_a_float64_default():
    """Finding: ``RNN`` creates missing initial states in Paddle's default dtype, not the cell's:
    float64 cells called without initial states under the float32 default raise."""
    module = framework("conformance.implementations.frameworks.paddle_gru", "paddle")
    paddle = module.paddle
    with module.default_dtype(torch.float64):
        rnn = paddle.nn.RNN(paddle.nn.GRUCell(1, 1))
    x = paddle.to_tensor(np.zeros((1, 2, 1)))
    with pytest.raises(Exception, match="(?i)float64|float32|type"):
        rnn(x)
    with module.default_dtype(torch.float64):
        output, _ = rnn(x)
    assert output.dtype == paddle.float64, f"got {output.dtype}, but should be float64 under the float64 default"


def test_paddle_grucell_weight_shape_is_3h_by_input():
    """Paddle's API page gives GRUCell.weight_ih as [hidden_size, input_size]; it is
    [3 * hidden_size, input_size], PyTorch's layout (which the adapters load as is)."""
    module = framework("conformance.implementations.frameworks.paddle_gru", "paddle")
    cell = module.paddle.nn.GRUCell(2, 3)
    assert tuple(cell.weight_ih.shape) == (9, 2), f"got {tuple(cell.weight_ih.shape)}, but should be (9, 2)"


# MLX --------------------------------------------------------------------------------------

def test_mlx_finding_float64_is_float32_accurate():
    """Finding (mlx#3047): MLX's float64 sigmoid and exp are float32 approximations, so
    ``mlx.nn.GRU`` in float64 errs by about 5.6e-9 on the one-step case
    ``CaseSpec(steps=1, batch=1, input_size=1, hidden_size=1, batch_first=True,
    dtype='float64', with_h0=False)`` (tolerance 1e-10); float32 is exact to float32."""
    module = framework("conformance.implementations.frameworks.mlx_gru", "mlx")
    spec = CaseSpec(steps=1, batch=1, input_size=1, hidden_size=1, batch_first=True, dtype="float64", with_h0=False)
    error = _error(module.MlxGRU(), spec)
    assert 1e-10 < error < 1e-6, f"got error {error:.3g}, but should be float32-sized (1e-10 .. 1e-6)"
    mx = module.mx
    x = mx.array(np.array([5.0]), dtype=mx.float64)
    sigmoid_error = abs(float(np.array(mx.sigmoid(x))[0]) - 1 / (1 + np.exp(-5.0)))
    assert sigmoid_error > 1e-12, f"got float64 sigmoid error {sigmoid_error:.3g}, but should be float32-sized"


# MindSpore (optional lane) -------------------------------------------------------------------

def test_mindspore_finding_tanh_overshoots():
    """Finding: MindSpore's CPU tanh exceeds 1 (tanh(5) = 1.0000098 in float32), so GRU states
    leave [-1, 1] in saturation."""
    module = framework("conformance.implementations.frameworks.mindspore_gru", "mindspore")
    ms = module.ms
    value = float(ms.ops.tanh(ms.Tensor(np.array([5.0], np.float32))).asnumpy()[0])
    assert value > 1.0, f"got tanh(5) = {value!r}, but MindSpore's was found above 1"
