"""The suite as a user's project gets it: the wheel is built from this clone, installed with
uv in a fresh environment in a directory outside the clone (torch pinned to this one's version,
taken from the wheel directory in $PIP_FIND_LINKS where there is one), and from that directory
a GRU is graded through the public function, the pytest plugin and the command line of the CI
workflow example (examples/ci/github-actions.yml), each with its true verdict: a correct GRU
conforms and one with swapped gates does not.

Cost, on this project's 2-core machine: see the README ("In your own project"); every grading
runs the quick profile on the equations checks only, since what is under test is the path to
a verdict, not the checks (graded in full elsewhere).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch


ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
#: Each grading: quick profile, the equations checks (a wrong GRU fails them; a right one passes)
#: and inputs.wrong-shape (GoodGRU warns there: a warning must not fail it). A -k expression
#: without spaces, so that it passes through the workflow's unquoted options.
QUICK = ("quick", "(equations)or(wrong_shapes)")

USER_GRU = textwrap.dedent('''
    import torch


    class GoodGRU(torch.nn.GRU):
        """torch.nn.GRU under a name of its own, forgiving: an initial state of batch 1 is
        broadcast to the batch (conformant, with a warning: nn.GRU raises there)."""

        def forward(self, x, h0=None):
            if isinstance(x, torch.Tensor) and x.dim() == 3 and h0 is not None and h0.dim() == 3:
                batch = x.shape[0] if self.batch_first else x.shape[1]
                if h0.shape[1] == 1 and batch > 1:
                    h0 = h0.expand(-1, batch, -1).contiguous()
            return super().forward(x, h0)


    class SwappedGRU(torch.nn.Module):
        """nn.GRU's constructor and parameters, computing with the r and z blocks exchanged."""

        def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                     bidirectional=False):
            super().__init__()
            self.inner = torch.nn.GRU(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
            for name, value in self.inner.named_parameters():
                self.register_parameter(name, value)

        def forward(self, x, h0=None):
            hidden = self.inner.hidden_size
            swapped = {name: torch.cat([p[hidden:2 * hidden], p[:hidden], p[2 * hidden:]])
                       for name, p in self.inner.named_parameters()}
            return torch.func.functional_call(self.inner, swapped, (x, h0))
''')


#: The user's own pytest configuration: strict, and every warning an error. Grading runs must not
#: read it (a warning-level finding would fail a conformant GRU), though it is the first one
#: above the installed suite.
USER_CONFIG = textwrap.dedent('''
    [tool.pytest.ini_options]
    filterwarnings = ["error"]
    addopts = "--strict-markers"
''')


@dataclass
class Installed:
    venv: Path
    project: Path
    wheel: Path
    env: dict[str, str]

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def run(self, argv: list[str], *, timeout: float = 900, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=self.project, env={**self.env, **(env or {})}, capture_output=True,
                              text=True, timeout=timeout)


def _tail(done: subprocess.CompletedProcess[str], lines: int = 40) -> str:
    return "\n".join((done.stdout + done.stderr).splitlines()[-lines:])


def _checked(done: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"got exit {done.returncode} from {what}, but it should succeed:\n{_tail(done)}"
    return done


def find_uv() -> str | None:
    """uv on PATH, else beside tox (tox-uv installs it there)."""
    tox = shutil.which("tox")
    beside = Path(tox).parent / "uv" if tox else None
    return shutil.which("uv") or (str(beside) if beside is not None and beside.is_file() else None)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not on PATH nor beside tox (it comes with tox-uv, which tox.ini requires): the wheel "
                    "cannot be installed the way the README says")
    work = tmp_path_factory.mktemp("user-project")
    assert ROOT not in work.parents, f"got {work} inside the clone, but the test must run outside it"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "PYTHONPATH", "VIRTUAL_ENV"))}
    _checked(subprocess.run([uv, "build", "--quiet", "--out-dir", str(work / "dist"), str(ROOT)], env=env,
                            capture_output=True, text=True, timeout=900), "uv build")
    shutil.rmtree(ROOT / "gru_conformance.egg-info", ignore_errors=True)  # what building the sdist leaves
    wheel = next((work / "dist").glob("gru_conformance-*.whl"))
    project = work / "my-project"
    project.mkdir()
    (project / "my_gru.py").write_text(USER_GRU)
    (project / "pyproject.toml").write_text(USER_CONFIG)
    venv = project / ".venv"  # inside the project, as uv and poetry make it: below the user's configuration
    _checked(subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env=env,
                            capture_output=True, text=True, timeout=300), "uv venv")
    links = [arg for path in os.environ.get("PIP_FIND_LINKS", "").split() for arg in ("--find-links", path)]
    pin = f"torch=={torch.__version__.split('+')[0]}"  # never an unpinned torch: it pulls a CUDA build
    _checked(subprocess.run([uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *links,
                             pin, str(wheel)], env=env, capture_output=True, text=True, timeout=900),
             "uv pip install")
    env = {**env, "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", "VIRTUAL_ENV": str(venv)}
    done = Installed(venv, project, wheel, env)
    # Compile the hot modules' bytecode once: every later process (and sandboxed, read-only worker) reads it.
    _checked(done.run([done.python, "-c", "import torch, hypothesis, numpy, pytest, conformance.commands.cli"],
                      env={"PYTHONDONTWRITEBYTECODE": ""}), "the first import")
    return done


@pytest.mark.slow  # each test here installs or grades: one environment, built once, in one test worker
@pytest.mark.xdist_group("wheel-install")
def test_the_wheel_installs_the_suite_and_no_generic_top_level_name(installed: Installed):
    names = zipfile.ZipFile(installed.wheel).namelist()
    tops = sorted({name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")})
    assert tops == ["conformance"], f"got top-level names {tops} in the wheel, but should be only conformance"
    assert "conformance/implementations/registry.py" in names, "got no registered implementations in the wheel"
    points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(installed.wheel).read(points).decode()
    assert "gru_conformance = conformance.commands.user_plugin" in text and "gru-conformance = conformance.commands.cli:main" in text, (
        f"got entry points {text!r}, but the pytest plugin and the command should be registered")
    done = _checked(installed.run([installed.python, "-c", (
        "import conformance, importlib.util; print(conformance.__file__); "
        "print(importlib.util.find_spec('implementations'))")]), "importing the suite")
    where, generic = done.stdout.split()
    assert Path(where).is_relative_to(installed.venv), f"got conformance from {where}, but should be the venv's"
    assert generic == "None", f"got a top-level implementations package ({generic}), but should be none"


@pytest.mark.slow  # each test here installs or grades: one environment, built once, in one test worker
@pytest.mark.xdist_group("wheel-install")
def test_the_public_function_gives_true_verdicts(installed: Installed):
    profile, checks = QUICK
    script = textwrap.dedent(f'''
        from conformance import run_conformance_test
        from my_gru import GoodGRU, SwappedGRU

        good = run_conformance_test(GoodGRU, profile={profile!r}, checks={checks!r}, html="reports/good.html")
        print("GOOD", good.verdict, good.html.is_file(), good.record["checks"]["inputs.wrong-shape"]["status"])
        try:
            run_conformance_test(SwappedGRU, profile={profile!r}, checks={checks!r})
        except AssertionError as exc:
            print("BAD-RAISED", str(exc).replace("\\n", " | "))
    ''')
    (installed.project / "check_gru.py").write_text(script)
    done = _checked(installed.run([installed.python, "check_gru.py"]), "run_conformance_test")
    lines = {line.split(" ", 1)[0]: line for line in done.stdout.splitlines() if line.startswith(("GOOD", "BAD"))}
    assert lines.get("GOOD") == "GOOD conformant-pytorch True warn", (
        f"got {lines.get('GOOD')!r}, but GoodGRU should conform (with a warning) and its report be written:"
        f"\n{_tail(done)}")
    bad = lines.get("BAD-RAISED", "")
    assert bad.startswith("BAD-RAISED SwappedGRU: nonconformant"), (
        f"got {bad!r}, but SwappedGRU should raise AssertionError with its verdict:\n{_tail(done)}")
    assert "first failing check: equations." in bad and "got " in bad and "should be" in bad, (
        f"got {bad!r}, but the message should give the first divergence (got X, but should be Y)")
    assert "r and z swapped" in bad, f"got {bad!r}, but the diagnosis should name the swapped gates"


@pytest.mark.slow  # each test here installs or grades: one environment, built once, in one test worker
@pytest.mark.xdist_group("wheel-install")
def test_the_pytest_plugin_gives_true_verdicts(installed: Installed):
    """From the command line (a wrong GRU, a registered id) and from a test function (the fixture:
    a conformant GRU with a warning, under the user's filterwarnings = error)."""
    profile, checks = QUICK
    (installed.project / "test_my_gru.py").write_text(textwrap.dedent('''
        from my_gru import GoodGRU


        def test_good_gru_conforms(gru_conformance):
            result = gru_conformance(GoodGRU)
            assert result.verdict == "conformant-pytorch"
    '''))
    done = installed.run([installed.python, "-m", "pytest", "-p", "no:cacheprovider", "-rA",
                          "--gru-conformance", "my_gru.py:SwappedGRU", "--gru-conformance", "torch-gru",
                          "--gru-conformance-profile", profile, "--gru-conformance-checks", checks,
                          "--gru-conformance-report", "reports"])
    assert done.returncode == 1, f"got exit {done.returncode}, but one GRU fails, so pytest should exit 1:\n{_tail(done)}"
    out = done.stdout
    for outcome, test in (("PASSED", "test_my_gru.py::test_good_gru_conforms"),
                          ("PASSED", "::gru-conformance[torch-gru]"),
                          ("FAILED", "::gru-conformance[my_gru.py:SwappedGRU]")):
        assert re.search(rf"^{outcome} {re.escape(test)}", out, re.M), (
            f"got no '{outcome} {test}' in the run's summary, but it should be:\n{_tail(done, 60)}")
    assert "SwappedGRU: nonconformant" in out and "first failing check: equations." in out, (
        f"got no verdict and first divergence in the failure:\n{_tail(done, 60)}")
    for folder in ("my_gru-SwappedGRU", "torch-gru", "my_gru-GoodGRU"):
        for name in ("results.json", "junit.xml", "index.html"):
            assert (installed.project / "reports" / folder / name).is_file(), f"got no reports/{folder}/{name}"


def workflow_steps(text: str) -> list[dict[str, str]]:
    """The steps of the example workflow, each a dict of its keys (name, if, uses, run; a ``|``
    block as its text). The example is written in this subset of YAML, and
    ``test_the_workflow_example_is_what_its_test_reads`` holds it to it."""
    lines = text.split("\n")
    i = next(n for n, line in enumerate(lines) if line.strip() == "steps:") + 1
    steps: list[dict[str, str]] = []
    key_indent = -1
    while i < len(lines):
        found = re.match(r"^(\s*)(- )?([\w-]+): ?(.*)$", lines[i])
        if found and found.group(2):
            steps.append({})
            key_indent = len(found.group(1)) + 2
        if found and steps and len(found.group(1)) + len(found.group(2) or "") == key_indent:
            key, value = found.group(3), found.group(4).strip()
            if value == "|":
                block = []
                while i + 1 < len(lines) and (not lines[i + 1].strip()
                                              or len(lines[i + 1]) - len(lines[i + 1].lstrip()) > key_indent):
                    i += 1
                    block.append(lines[i])
                value = textwrap.dedent("\n".join(block)).strip()
            steps[-1][key] = value
        i += 1
    return steps


def test_the_workflow_example_is_what_its_test_reads():
    steps = workflow_steps(WORKFLOW.read_text())
    names = [s.get("name") or s.get("uses") for s in steps]
    assert names == ["actions/checkout@v4", "actions/setup-python@v5", "Install the suite", "Grade", "Badge",
                     "Upload the report, JUnit XML and badge"], f"got steps {names}"
    install = steps[2]["run"]
    assert 'torch==' in install and '"$GRU_CONFORMANCE_WHEEL"' in install, (
        f"got an install step {install!r}, but it should pin torch and install the suite's wheel")
    for step in steps[4:]:
        assert step.get("if") == "always()", f"got {step}, but the badge and upload should run after a failed grade"
    assert steps[5]["uses"].startswith("actions/upload-artifact@"), f"got {steps[5]}"


@pytest.mark.slow  # each test here installs or grades: one environment, built once, in one test worker
@pytest.mark.xdist_group("wheel-install")
@pytest.mark.parametrize("gru, exit_ok, message", [("my_gru.py:GoodGRU", True, "conformant (PyTorch)"),
                                                   ("my_gru.py:SwappedGRU", False, "nonconformant")])
def test_the_ci_workflow_grades_and_fails_on_a_nonconformant_verdict(installed: Installed, gru, exit_ok, message):
    """The workflow's Grade and Badge steps, run as written with its environment (the install
    step is the uv install above: the same wheel and torch pin, through uv instead of pip)."""
    profile, checks = QUICK
    steps = {s["name"]: s["run"] for s in workflow_steps(WORKFLOW.read_text()) if "run" in s}
    folder = installed.project / "gru-conformance"
    shutil.rmtree(folder, ignore_errors=True)
    # The project's own configuration asks filterwarnings = error, and its CI sets PYTEST_ADDOPTS for
    # its own tests: neither may change the verdict (GoodGRU's warning must not fail the job).
    env = {"GRU": gru, "GRU_CONFORMANCE_PROFILE": profile, "GRU_CONFORMANCE_OPTIONS": f"-k {checks}",
           "PYTEST_ADDOPTS": "--an-option-of-the-projects-own-plugins"}
    graded = installed.run(["bash", "-e", "-c", steps["Grade"]], env=env)
    assert (graded.returncode == 0) == exit_ok, (
        f"got exit {graded.returncode} from the Grade step for {gru}, but it should "
        f"{'pass' if exit_ok else 'fail the job'}:\n{_tail(graded)}")
    _checked(installed.run(["bash", "-e", "-c", steps["Badge"]], env=env), "the Badge step")
    results = json.loads((folder / "results.json").read_text())
    # The verdict, whatever the text adds (a -k selection is a partial grade, and says so).
    assert [i["verdict"].split("-")[0] for i in results["implementations"]] == [
        "conformant" if exit_ok else "nonconformant"], f"got {results['implementations'][0]['verdict_text']}"
    if exit_ok:
        status = results["implementations"][0]["checks"]["inputs.wrong-shape"]["status"]
        assert status == "warn", f"got inputs.wrong-shape {status}, but GoodGRU should warn there"
    badge = (folder / "badge.svg").read_text()
    assert message in badge, f"got a badge without {message!r}: {badge[:300]}"
    junit = (folder / "junit.xml").read_text()
    assert ("<failure" in junit) != exit_ok, f"got JUnit XML {'with' if exit_ok else 'without'} a failure for {gru}"
    assert (folder / "index.html").is_file(), "got no HTML report to upload"
