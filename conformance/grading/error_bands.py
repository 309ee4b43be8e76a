"""Measure the error bands the tolerance table is derived from.

``python -m conformance.grading.error_bands [--cases N] [--impl ID ...] [--scale S] [--steps T]``
runs registered implementations (default: torch-gru and doc004-cell, a layer
and a cell built from plain torch ops) on N random cases of the generated
distribution (the same sizes as the checks draw) in every dtype they claim,
and prints, per dtype, the median, 99th percentile and maximum absolute error
against the float64 oracle for one teacher-forced step ("step") and a whole
sequence ("sequence"), and for the gradients of the generated loss ("grad",
float32 and float64); ``--self`` adds the error of the implementation against itself
by another route (a sample alone against the batch, a split sequence against the whole,
the "self" kind). ``--sizes`` draws the size sweep's cases instead (one of T,
B, I and H at a small or a production size, or a shape of several large axes),
``--steps 300`` long sequences. ``conformance/base/tolerances.py``
quotes its output.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from conformance.cases.generated import CaseSpec
from conformance.running.grads import implementation_gradients
from conformance.grading.loading import load_subject
from conformance.cases.sizes import (AXES, AXIS_MAX, PRODUCTION, SHAPE_MAX, SHAPES, SWEEP_LAYERS, SWEEP_MAX,
                                     bounded_shape)
from conformance.model.oracle_grads import case_gradients
from conformance.model.reference_autograd import LossWeights
from conformance.cases.strategies import MAX_BATCH, MAX_LAYERS, MAX_SIZE, MAX_STEPS
from conformance.running.subject import Subject


def random_spec(rng: np.random.Generator, subject: Subject, dtype: str, scale: float, steps: int,
                sizes: bool = False) -> CaseSpec:
    spec = _small_spec(rng, subject, dtype, scale, steps)
    if not sizes:
        return spec
    # As the size sweep draws them: one axis at a small size (1-2 layers) or a production size
    # (one layer), or a shape of several large axes (one layer, bounded).
    axis = list(AXES)[int(rng.integers(0, len(AXES)))]
    tier = int(rng.integers(0, 3))
    if tier == 0:
        return spec.with_(**{axis: int(rng.integers(1, SWEEP_MAX + 1))}, num_layers=min(spec.num_layers, SWEEP_LAYERS))
    if tier == 1:
        listed = PRODUCTION[axis]
        size = (int(listed[rng.integers(0, len(listed))]) if rng.integers(0, 2)
                else int(rng.integers(SWEEP_MAX + 1, AXIS_MAX[axis] + 1)))
        return spec.with_(**{axis: size}, num_layers=1)
    shape = {a: int(SHAPES[a][rng.integers(0, len(SHAPES[a]))]) if rng.integers(0, 3)
             else int(rng.integers(1, SHAPE_MAX + 1)) for a in AXES}
    return bounded_shape(spec.with_(**shape, num_layers=1))


def _small_spec(rng: np.random.Generator, subject: Subject, dtype: str, scale: float, steps: int) -> CaseSpec:
    caps = subject.capabilities
    return CaseSpec(
        steps=steps or int(rng.integers(1, MAX_STEPS + 1)),
        batch=int(rng.integers(1, MAX_BATCH + 1)),
        input_size=int(rng.integers(1, MAX_SIZE + 1)),
        hidden_size=int(rng.integers(1, MAX_SIZE + 1)),
        num_layers=int(rng.integers(1, MAX_LAYERS + 1)) if caps.multi_layer else 1,
        bidirectional=bool(rng.integers(0, 2)) and caps.bidirectional,
        batch_first=subject.layouts()[0],
        dtype=dtype,
        seed=int(rng.integers(0, 2**16)),
        weight_scale=scale,
    )


def forward_errors(subject: Subject, spec: CaseSpec, max_step_checks: int | None = None) -> tuple[float, float]:
    """(worst teacher-forced step error, whole-sequence error) of one case; the step error
    over the first ``max_step_checks`` steps only, when given (one call per step)."""
    case = spec.materialize()
    instance = subject.instantiate(case)
    want = case.oracle(subject.reset)
    got = subject.call(instance, case.x, case.h0)
    sequence = max(np.abs(got.output - want.output).max(), np.abs(got.h_n - want.h_n).max())
    step = 0.0
    for t in range(spec.steps if max_step_checks is None else min(spec.steps, max_step_checks)):
        h_prev, want_output, want_h_n = want.teacher_forced(t)
        got_t = subject.call(instance, case.x[t : t + 1], h_prev)
        step = max(step, np.abs(got_t.output - want_output).max(), np.abs(got_t.h_n - want_h_n).max())
    return float(step), float(sequence)


def self_error(subject: Subject, spec: CaseSpec) -> float:
    """An implementation against itself by another route (the "self" kind): each sample run
    alone against its row of the batch, and the sequence split in two, resumed from the
    state after its first half (layers that take h0), against the whole."""
    case = spec.materialize()
    instance = subject.instantiate(case)
    whole = subject.call(instance, case.x, case.h0)
    error = 0.0
    for b in range(spec.batch):
        alone = subject.call(instance, case.x[:, b:b + 1], None if case.h0 is None else case.h0[:, b:b + 1])
        error = max(error, np.abs(alone.output - whole.output[:, b:b + 1]).max(),
                    np.abs(alone.h_n - whole.h_n[:, b:b + 1]).max())
    k = spec.steps // 2
    resumable = spec.num_directions == 1 and (subject.is_cell or subject.capabilities.h0)
    if k and resumable:
        first = subject.call(instance, case.x[:k], case.h0)
        second = subject.call(instance, case.x[k:], first.h_n)
        error = max(error, np.abs(second.output - whole.output[k:]).max(), np.abs(second.h_n - whole.h_n).max())
    return float(error)


def gradient_error(subject: Subject, spec: CaseSpec, inputs_only: bool = False) -> float:
    """The largest gradient error of one case: of x, h0 and the parameters, or (``inputs_only``,
    as gradients.sizes compares) of x and h0."""
    case = spec.materialize()
    weights = LossWeights.for_case(spec)
    want = case_gradients(case, weights, reset=subject.reset)
    got, _ = implementation_gradients(subject, subject.instantiate(case), case, weights, with_h0=True,
                                      parameters=subject.has_grads and not inputs_only)
    return float(max(np.abs(got[k] - want[k]).max() for k in got if not inputs_only or k in ("x", "h0")))


def band(errors: list[float]) -> str:
    e = np.asarray(errors)
    return f"p50 {np.median(e):.2e}  p99 {np.quantile(e, 0.99):.2e}  max {e.max():.2e}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.grading.error_bands", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--impl", action="append", default=[])
    parser.add_argument("--scale", type=float, default=1.0, help="weight scale (x the default init)")
    parser.add_argument("--steps", type=int, default=0, help="fixed T (default: 1 to 6 as generated)")
    parser.add_argument("--sizes", action="store_true",
                        help="the size sweep's cases: one of T, B, I, H at a small or production size, or a shape "
                        "(steps checked: the first 8)")
    parser.add_argument("--dtype", action="append", default=[], help="only these dtypes (default: all claimed)")
    parser.add_argument("--self", dest="against_itself", action="store_true",
                        help="also the error against itself (a sample alone against the batch, a split sequence "
                        "against the whole)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for name in args.impl or ["torch-gru", "doc004-cell"]:
        subject = load_subject(name)
        for dtype in [str(d).removeprefix("torch.") for d in subject.capabilities.dtypes]:
            if args.dtype and dtype not in args.dtype:
                continue
            rng = np.random.default_rng(1)
            specs = [random_spec(rng, subject, dtype, args.scale, args.steps, args.sizes) for _ in range(args.cases)]
            errors = [forward_errors(subject, s, 8 if args.sizes or args.steps > 8 else None) for s in specs]
            shape = "size sweep" if args.sizes else f"T {args.steps or '1-6'}"
            print(f"{name} {dtype} (scale {args.scale}, {shape}, {args.cases} cases)")
            print(f"  step      {band([e[0] for e in errors])}")
            print(f"  sequence  {band([e[1] for e in errors])}")
            if args.against_itself:
                print(f"  self      {band([self_error(subject, s) for s in specs])}")
            if dtype in ("float32", "float64") and subject.capabilities.autograd and subject.white_box:
                grads = [gradient_error(subject, s, inputs_only=args.sizes) for s in specs]
                print(f"  grad      {band(grads)}{' (x and h0)' if args.sizes else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
