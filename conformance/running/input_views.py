"""The memory layouts in which x and h0 reach an implementation: the same values as a
contiguous tensor, held in the other layouts users hand a GRU.

* ``strided``: every other element of a tensor twice as wide in its last axis;
* ``transposed``: stored with the first two axes swapped and transposed back, as
  ``x.transpose(0, 1)`` of batch-first data is (the last axis keeps stride 1, so a kernel
  that checks only ``stride(-1) == 1`` takes it for contiguous);
* ``permuted``: stored in reversed axis order and permuted back (no axis has stride 1);
* ``offset``: contiguous, at a storage offset inside a larger buffer (a slice of a batch);
* ``expanded``: stride 0 along one axis (``expand``): x's first time step repeated over
  time, h0's first batch row shared by every sample. The values must already be equal
  along that axis (the check draws them so).

``misread`` is what a kernel that ignores strides reads from a ``strided`` view (the
diagnosis uses it to recognize that bug).
"""

from __future__ import annotations

import numpy as np
import torch

#: The layouts a call can hand x and h0 in.
LAYOUTS = ("contiguous", "strided", "transposed", "permuted", "offset", "expanded")
#: Elements before an ``offset`` view in its storage.
OFFSET = 7


class LayoutError(ValueError):
    """A request for a layout that cannot hold these values (a grader's mistake)."""


def strided(t: torch.Tensor) -> torch.Tensor:
    wide = torch.zeros(*t.shape[:-1], 2 * t.shape[-1], dtype=t.dtype, device=t.device)
    wide[..., ::2] = t
    return wide[..., ::2]


def misread(t: torch.Tensor) -> torch.Tensor:
    """What a kernel that ignores strides reads from ``strided(t)``'s storage."""
    strides = [int(np.prod(t.shape[i + 1:])) for i in range(t.dim())]
    return torch.as_strided(t, t.shape, strides, t.storage_offset()).clone()


def transposed(t: torch.Tensor) -> torch.Tensor:
    if t.dim() < 2:
        return t
    return t.transpose(0, 1).contiguous().transpose(0, 1)


def permuted(t: torch.Tensor) -> torch.Tensor:
    order = tuple(reversed(range(t.dim())))
    return t.permute(*order).contiguous().permute(*order)


def offset(t: torch.Tensor) -> torch.Tensor:
    storage = torch.zeros(OFFSET + t.numel(), dtype=t.dtype, device=t.device)
    storage[OFFSET:] = t.reshape(-1)
    return storage[OFFSET:].view(t.shape)


def expanded(t: torch.Tensor, axis: int) -> torch.Tensor:
    if t.dim() <= axis or t.shape[axis] == 0:
        return t
    first = t.narrow(axis, 0, 1)
    if not torch.equal(first.expand_as(t), t):
        raise LayoutError(f"an expanded view along axis {axis} needs equal values along it")
    return first.expand_as(t)


def view(t: torch.Tensor, layout: str, expand_axis: int = 0) -> torch.Tensor:
    """``t``'s values in ``layout`` (see the module's docstring)."""
    if layout == "contiguous":
        return t
    if layout == "expanded":
        return expanded(t, expand_axis)
    makers = {"strided": strided, "transposed": transposed, "permuted": permuted, "offset": offset}
    if layout not in makers:
        raise LayoutError(f"unknown layout {layout!r} (the layouts are {', '.join(LAYOUTS)})")
    return makers[layout](t)
