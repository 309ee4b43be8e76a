"""Devices: the same checks on every device the implementation claims that the
machine has (CPU always; CUDA and MPS when present, otherwise not applicable
with the reason), and the same results on each.

On each device the instance is built for it (``GRUConfig.device``) and given
inputs there; results must stay there and, for white-box adapters, match the
float64 oracle. On CPU, an implementation that claims another device is run
with torch's default device set to "meta": tensors it creates without naming
the input's device then end up elsewhere and the call fails, as it would on
CUDA, so that bug shows on CPU-only machines too. A tensor made there and then
moved to the input's device (``torch.zeros(...).to(x)``) is right on a GPU, but
meta has no values to move: that call is graded without the probe. A 0-dim tensor
made there stays on the CPU, as it does on a GPU, where a 0-dim CPU tensor joins the
GPU's operations as a scalar.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.cases.catalogue import check, check_over
from conformance.cases.compare import assert_close, fail, returned
from conformance.base.devices import claimed_devices, device_available, dtypes_on
from conformance.cases.strategies import draw_case
from conformance.running.subject import AdapterError

#: The default device set while an implementation claiming GPUs runs on CPU.
PROBE_DEVICE = "meta"
#: torch's error for a meta tensor moved to a device with data: a tensor made on the default
#: device and then moved to the input's (``torch.zeros(...).to(x)``), which works on a GPU.
META_COPY = "Cannot copy out of meta tensor"


def _draw_on(data, subject, device: str, devices: list[str]):
    dtypes = subject.dtypes()
    for d in devices:
        dtypes = dtypes_on(d, dtypes)
    return draw_case(data, subject, dtypes=tuple(dtypes) or ("float32",), device=device)


def _run_on(subject, case, *, probe: bool):
    """Build for the case's device, call there; return the result read."""
    instance = subject.instantiate(case)
    device = case.spec.device
    try:
        returned = subject.execute(instance, case.x, case.h0, default_device=PROBE_DEVICE if probe else None)
    except AdapterError as exc:
        if not probe:
            raise
        if META_COPY in str(exc):
            # Moved from the default device to the input's: right on a GPU, and meta has no values to
            # move, so the probe cannot follow it; the call is graded without it.
            return _run_on(subject, case, probe=False)
        fail(f"no output or h_n: the call raised while torch's default device was {PROBE_DEVICE!r} ({exc}); "
             f"it creates tensors on the default device, but should create them on the input's device "
             f"({device}), or it fails on every device but the default one (a GRU meant for the CPU only "
             f"claims it alone: --devices cpu for a class graded without an adapter)", case=case.spec)
    for what, value in (("output", returned.output), ("h_n", returned.h_n)):
        if value.kind == "tensor" and value.device != device:
            fail(f"{what} is on {value.device}, but should be on {device}, the input's device"
                 + (f" (torch's default device was {PROBE_DEVICE!r})" if probe else ""),
                 call=f"{subject.name} on {device}", case=case.spec)
    return subject.read(instance, returned)


DEVICE_STATEMENT = ("built for {device} and given inputs there, the implementation returns output "
                    "and h_n on {device}{extra}, matching the float64 oracle (white-box adapters)")

#: What each device's check states of its own; the rest is shared (``check_over`` below).
BY_DEVICE = {
    "cpu": {
        "title": "Runs on CPU",
        "statement": DEVICE_STATEMENT.format(
            device="cpu", extra="; claiming another device, it also runs with torch's default device "
            "set elsewhere (tensors it creates follow the input's device)"),
        "reference": "nn.GRU: results on the input's device; torch.set_default_device",
        "tolerance": "sequence",
    },
    "cuda": {
        "title": "Runs on CUDA",
        "statement": DEVICE_STATEMENT.format(device="cuda", extra=""),
        "reference": "nn.GRU on CUDA (cuDNN); float32 may use TF32",
    },
    "mps": {
        "title": "Runs on MPS",
        "statement": DEVICE_STATEMENT.format(device="mps", extra=" (float64 is not graded: MPS has none)"),
        "reference": "nn.GRU on MPS",
    },
}


@check_over(
    "device",
    BY_DEVICE,
    id="devices.{device}",
    test="test_runs_on_{device}",
    requires=("{device}",),
    depends_on=("equations.sequence",),
    tolerance="device",
)
def grade_on_device(subject, data, device: str) -> None:
    spec = _draw_on(data, subject, device, [device])
    case = spec.materialize()
    probe = device == "cpu" and any(d != "cpu" for d in claimed_devices(subject))
    result = _run_on(subject, case, probe=probe)
    if not all(np.all(np.isfinite(v)) for v in returned(result.output, result.h_n)):
        fail(f"output or h_n is not finite on {device}", call=result.call, case=spec)
    if subject.white_box:
        want = case.oracle(subject.reset)
        tol = subject.tolerance(spec.dtype)
        error = assert_close(result.output, want.output, tol, what=f"output (on {device})", call=result.call,
                             case=spec, should="the float64 oracle's output")
        error = max(error, assert_close(result.h_n, want.h_n, tol, what=f"h_n (on {device})",
                                        call=result.call, case=spec, should="the float64 oracle's final states"))
        subject.record_error(spec.dtype, error)


# devices.cpu, devices.cuda, devices.mps: one test function each, for pytest to collect.
globals().update(grade_on_device.tests)


@check(
    "devices.cross-device",
    title="Same results on every device",
    statement="the same parameters and inputs give the same output and h_n on every claimed "
    "device present as on CPU, within the device tolerance",
    reference="PyTorch compares CPU and cuDNN GRUs the same way in its own tests",
    requires=("cross_device",),
    tolerance="device",
)
@given(data=st.data())
def test_same_results_on_every_device(subject, data):
    devices = [d for d in claimed_devices(subject) if device_available(d)]
    spec = _draw_on(data, subject, "cpu", devices)
    on_cpu = _run_on(subject, spec.materialize(), probe=False)
    tol = subject.tolerance(spec.dtype)
    worst = 0.0
    for device in devices[1:]:
        elsewhere = _run_on(subject, spec.with_(device=device).materialize(), probe=False)
        worst = max(worst, assert_close(elsewhere.output, on_cpu.output, tol, what=f"output (on {device})",
                                        call=elsewhere.call, case=spec, should="the output on cpu"))
        worst = max(worst, assert_close(elsewhere.h_n, on_cpu.h_n, tol, what=f"h_n (on {device})",
                                        call=elsewhere.call, case=spec, should="h_n on cpu"))
    subject.record_error(spec.dtype, worst)
