"""Probes of the numbers: saturating inputs, and the dtypes claimed besides the main one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from conformance.cases.generated import DTYPES, Case, dtype_name
from conformance.diagnosis.context import Context, errors, fmt
from conformance.diagnosis.variant_names import describe_variant
from conformance.diagnosis.probe_registry import probe
from conformance.model.oracle import gru_forward
from conformance.base.params import CanonicalParams
from conformance.model.reference import torch_gru_run
from conformance.base.tolerances import TOLERANCES, tolerance
from conformance.model.variants import PYTORCH, CellBlocks, variant_forward, variant_step


@probe("saturation", title="saturating inputs give finite outputs")
def saturation(ctx: Context) -> None:
    dtypes = ctx.subject.dtypes()
    dtype = "float32" if "float32" in dtypes or not dtypes else dtypes[0]
    scale = {"float32": 300.0, "float64": 5000.0}.get(dtype, 300.0)
    spec = ctx.spec(dtype=dtype, input_scale=scale, seed=ctx.probe.seed + 3, steps=3)
    case, params = ctx.materialize(spec)
    h0 = ctx.h0_of(case)
    got = ctx.run(case, params, h0).output
    if np.all(np.isfinite(got)):
        return
    bad = np.argwhere(~np.isfinite(got))
    t, b, unit = (int(i) for i in bad[np.lexsort((bad[:, 2], bad[:, 1], bad[:, 0]))][0])
    text = (f"with saturating inputs (|x| ~ {scale:g}, {dtype}) the output is not finite: "
            f"first {got[t, b, unit]} at t={t}, batch {b}, unit {unit}")
    hidden = spec.hidden_size
    variant = ctx.variant
    if unit < hidden:  # forward half of the first layer: its state before t is the oracle's
        run = variant_forward(case.x, params, h0, variant)
        h_prev = run.states[0][0][t - 1] if t > 0 else (h0[0] if h0 is not None else np.zeros((spec.batch, hidden)))
        parts = variant_step(variant, case.x[t], h_prev, CellBlocks.of(params))
        limit = float(np.log(np.finfo(np.dtype(dtype)).max))
        pre = {"r": parts.pre_r, "z": parts.pre_z, "n": parts.pre_n}
        text += " where the pre-activations are " + ", ".join(f"{g} {pre[g][b, unit]:.4g}" for g in ("r", "z", "n"))
        nan_rows = ~np.isfinite(got[t, :, :hidden])
        tanh_exp = pre["n"] > limit / 2  # exp(2a) overflows: (inf - 1) / (inf + 1) = nan
        sig_exp = (pre["r"] > limit) | (pre["z"] > limit)  # exp(a) / (1 + exp(a)) = nan
        if np.array_equal(nan_rows, tanh_exp):
            text += (f"; explained by n: its tanh computed from exp(2a), which overflows in {dtype} "
                     f"for a > {limit / 2:.1f} (reproduces every non-finite unit at this step)")
        elif np.array_equal(nan_rows, sig_exp):
            text += (f"; explained by r or z: a sigmoid computed as exp(a) / (1 + exp(a)), which "
                     f"overflows in {dtype} for a > {limit:.1f}")
    ctx.finding("saturation", text)


@probe("other-dtypes", title="every other claimed dtype computes the fitted convention to its precision")
def low_precision(ctx: Context) -> None:
    """Every claimed dtype other than the main probe's (float32, float16, bfloat16): the
    fitted convention within that dtype's tolerance, or what the output is instead
    (another gate activation, another dtype's rounding). Only for a fitted convention:
    against a guess, a precision finding would say nothing."""
    if ctx.fit is None or not ctx.fit.matches:
        return
    variant = ctx.variant
    claimed = [dtype_name(d) for d in ctx.caps.dtypes]
    for dtype in ("float32", "float16", "bfloat16"):
        if dtype not in claimed or dtype not in TOLERANCES or dtype == ctx.dtype:
            continue
        spec = ctx.spec(dtype=dtype, seed=ctx.probe.seed + 4)
        case, params = ctx.materialize(spec)
        h0 = ctx.h0_of(case)
        result = ctx.run(case, params, h0)
        tol = tolerance(dtype, "sequence")
        error, excess = (float(v) for v in errors(result.output, variant_forward(case.x, params, h0, variant).output, tol))
        if excess > 0:
            hard = replace(variant, gates="hard sigmoid")
            e_hard, x_hard = errors(result.output, variant_forward(case.x, params, h0, hard).output, tol)
            if x_hard <= 0:
                ctx.finding("precision", f"in {dtype}, r and z use a hard sigmoid, clip(0.2 a + 0.5, 0, 1), "
                            f"instead of the logistic sigmoid (max error {fmt(float(e_hard))}; with the "
                            f"sigmoid {fmt(error)})")
            else:
                text = (f"in {dtype} it departs from {describe_variant(variant, ctx.claimed, long=False)} "
                        f"by {fmt(error)}, beyond the {dtype} tolerance {tol}")
                coarse = torch_gru_error(case, params, h0, "bfloat16") if dtype != "bfloat16" else None
                if variant == PYTORCH and coarse and coarse / 10 <= error <= 3 * coarse:
                    # An error the size of bfloat16 rounding: the equations are right, the precision is not.
                    text += (f"; that is the size of bfloat16 rounding ({fmt(coarse)}): {dtype} inputs are "
                             f"computed in a coarser precision")
                ctx.finding("precision", text)
            continue
        if dtype == "float16" and variant == PYTORCH:
            # Within tolerance: but is the rounding that of float16 at all?
            own, coarse = torch_gru_error(case, params, h0, "float16"), torch_gru_error(case, params, h0, "bfloat16")
            if own and coarse and error > 3 * own and error >= coarse / 3:
                ctx.finding("precision", f"in float16 its error ({fmt(error)}) is {error / own:.1f} times "
                            f"torch.nn.GRU's in float16 ({fmt(own)}), the size of bfloat16 rounding "
                            f"({fmt(coarse)}): float16 inputs are computed in a coarser precision")


def torch_gru_error(case: Case, params: CanonicalParams, h0: np.ndarray | None, dtype: str) -> float | None:
    """The error of torch.nn.GRU computed in ``dtype`` against the float64 oracle: how large
    plain rounding in that dtype is on this case (None where torch cannot run it)."""
    try:
        output, _ = torch_gru_run(params, case.x, h0, DTYPES[dtype])
    except (RuntimeError, TypeError):
        return None
    want = gru_forward(case.x, params, h0).output
    return float(np.abs(output - want).max())
