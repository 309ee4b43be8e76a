"""Small helpers shared by the framework adapters (no framework imported here)."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import logging
import warnings
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import torch

from conformance.model.contract import Capabilities
from conformance.base.params import CanonicalParams


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or fail with the install command that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{module} is not installed: pip install 'gru-conformance[{extra}]' ({exc})"
        ) from exc


def numpy_of(t: torch.Tensor) -> np.ndarray:
    """A tensor's values as a fresh NumPy array (the framework never sees our tensor)."""
    return t.detach().cpu().numpy().copy()


def tensor_of(a) -> torch.Tensor:
    """A framework's array as a torch tensor of the same dtype (copied)."""
    return torch.from_numpy(np.array(a, copy=True))


def gates(params: CanonicalParams, kind: str) -> dict[str, np.ndarray]:
    """``{"r": ..., "z": ..., "n": ...}`` of one canonical array (layer 0, forward)."""
    return {g: params.get(kind, 0, False, gate=g) for g in ("r", "z", "n")}


def np_dtype(dtype: torch.dtype) -> np.dtype:
    return {torch.float32: np.dtype(np.float32), torch.float64: np.dtype(np.float64)}[dtype]


def capabilities(**claims) -> Capabilities:
    """``Capabilities(**claims)``, leaving out a claim this version of the suite has no
    field for (e.g. ``lengths``), so the adapters load with older suites too."""
    known = {f.name for f in dataclasses.fields(Capabilities)}
    return Capabilities(**{name: value for name, value in claims.items() if name in known})


@contextlib.contextmanager
def quiet(stderr: bool = False) -> Iterator[None]:
    """Exporters, converters and frontends print progress and warn about tracing,
    deprecations and absent extras: keep it out of the grading output."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        if stderr:
            stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(previous)
