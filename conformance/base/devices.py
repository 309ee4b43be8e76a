"""Devices the suite can grade on, and why one is not applicable here.

CPU is always present. CUDA and MPS checks apply when the implementation
claims the device and the machine has it; otherwise they are reported not
applicable with the reason (never failed), so CPU-only machines grade cleanly.
"""

from __future__ import annotations

from typing import Any

import torch

DEVICES: tuple[str, ...] = ("cpu", "cuda", "mps")

#: Dtypes a device cannot compute in (MPS has no float64).
UNSUPPORTED_DTYPES: dict[str, tuple[str, ...]] = {"mps": ("float64",)}


def device_available(device: str) -> bool:
    if device == "cpu":
        return True
    if device == "cuda":
        return torch.cuda.is_available()
    if device == "mps":
        backend = getattr(torch.backends, "mps", None)
        return bool(backend is not None and backend.is_available())
    return False


def unavailable_reason(device: str) -> str:
    if device == "cuda":
        return "no CUDA device on this machine (torch.cuda.is_available() is False)"
    if device == "mps":
        return "no MPS device on this machine (torch.backends.mps.is_available() is False)"
    return f"unknown device {device!r}"


def claimed_devices(subject: Any) -> list[str]:
    """Devices the subject claims; CPU is implied (every adapter runs there)."""
    claimed = [d for d in subject.capabilities.devices if d in DEVICES]
    return ["cpu", *[d for d in claimed if d != "cpu"]]


def device_requirement(device: str):
    """A requirement test for the catalogue: the reason ``device`` checks do not
    apply to a subject, or None when they do."""

    def reason(subject: Any) -> str | None:
        if device not in claimed_devices(subject):
            return f"the implementation does not claim the {device} device"
        if not device_available(device):
            return unavailable_reason(device)
        return None

    return reason


def cross_device_requirement(subject: Any) -> str | None:
    """Cross-device comparison needs a second device, claimed and present."""
    claimed = claimed_devices(subject)
    others = [d for d in claimed if d != "cpu"]
    if not others:
        return "the implementation claims only the cpu device"
    present = [d for d in others if device_available(d)]
    if not present:
        return "only the cpu device is available here: " + "; ".join(unavailable_reason(d) for d in others)
    return None


def dtypes_on(device: str, dtypes: list[str]) -> list[str]:
    """The dtypes among ``dtypes`` that ``device`` can compute in."""
    return [d for d in dtypes if d not in UNSUPPORTED_DTYPES.get(device, ())]
