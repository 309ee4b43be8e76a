"""The wording: a diagnosis as the JSON record, its one-line summary and its details.

The summary leads with the bug. When the implementation departs from the claimed
equations, it starts with the first departure (where, which quantity, what it
holds instead and what explains it); then what the implementation computes ("it
computes the reset-before variant except that ..."; "each step computes the PyTorch
GRU" when each step is right and something else is not). "matches" is said only of
an implementation that conforms: nothing departs. When no known convention
reproduces the implementation, a closest fit is named only when it nearly explains
it (``conformance.diagnosis.fitting.NEARLY``); otherwise the summary says it matches
none and gives the evidence of the term probe ("r and z do not depend on x").
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from conformance.base.conventions import CONVENTIONS, claim_text
from conformance.diagnosis.context import Context, Fit, fmt, join
from conformance.diagnosis.fitting import CellSearch, closest, first_error, nearly_explains
from conformance.diagnosis.variant_names import BASE_NAMES, SHORT_NAMES, describe_variant, nearest_base
from conformance.diagnosis.switches import CONVENTION_SWITCHES, SWITCHES_BY_NAME
from conformance.model.variants import CLAIMED, CellVariant

#: What the diagnosis looks at, said in every diagnosis.
SCOPE = ("forward values of ordinary calls in float64 or float32 (float16 and bfloat16 where claimed): "
         "the equations' convention and the terms each gate reads, directions and layers, h0, layouts, "
         "unbatched, variable-length and non-contiguous input, repeated calls, batch rows and saturating "
         "inputs, at the probes' sizes; larger sizes (the size sweep, long sequences), bias=False, dropout, "
         "gradients, devices and input validation are graded by their checks only")


def conforming_claim(ctx: Context, fitted: CellVariant) -> str | None:
    """The claim under which the fitted convention would conform, when it is one of the
    four (another reset placement, the other update polarity) and not the one claimed.
    The probes handed the implementation the parameters of its claimed polarity, so a
    complement update is relative to that claim."""
    claimed = (ctx.subject.reset, ctx.subject.update)
    for (reset, update) in CONVENTIONS:
        relative = "standard" if update == ctx.subject.update else "complement"
        if fitted == replace(CLAIMED[reset], update=relative) and (reset, update) != claimed:
            return claim_text(reset, update)
    return None


def lead(divergence: dict[str, Any]) -> str:
    """The first departure in a few words: where, which quantity, what it holds instead, why."""
    if "where" not in divergence:
        return divergence["text"]  # a repeated call: its text is already short
    quantity = {"state": "its state h_t", "output": "its output", "h_n": "its final state"}[divergence["quantity"]]
    text = (f"first departs at {divergence['where']}: {quantity} is {divergence['got']:.6g} where the claimed "
            f"equations give {divergence['want']:.6g}")
    if divergence.get("path"):
        text = f"with {divergence['path']}: {text}"
    explained = divergence.get("explained_by")
    if explained:
        text += f"; explained by {explained['quantity']}: {explained['change']}"
    else:
        text += "; no single known change explains it"
    return text


def assemble(ctx: Context, fit: Fit, search: CellSearch, switches: dict[str, Any],
             divergence: dict[str, Any] | None, conforming: bool, duration: float) -> dict[str, Any]:
    v = fit.variant
    base, devs = nearest_base(v, ctx.claimed)
    description = describe_variant(v, ctx.claimed)
    claimed_name = SHORT_NAMES[ctx.claimed]
    dtype = ctx.precision_label or ctx.dtype
    near = None if fit.matches else closest(ctx, search)
    parts: list[str] = []
    if divergence is not None:
        parts.append(lead(divergence))
    said = " ".join(parts)
    findings = [f["text"] for f in ctx.findings if f["text"] not in said]
    if fit.matches:
        status = "conforming" if conforming else "identified"
        if divergence is None and v == ctx.claimed and findings:
            parts += findings  # each step right, something else not: that is the bug, so it comes first
            findings = []
        if conforming:
            # The only place "matches" is said of a convention: nothing departs from it.
            clause = f"matches {description} (max error {fmt(fit.error)}, {dtype})"
            if ctx.subject.update == "complement":
                claimed = CONVENTIONS[(ctx.subject.reset, "complement")]
                clause = (f"matches the {claimed.description} it claims (the probes give it the update gate's "
                          f"weights and biases negated; max error {fmt(fit.error)}, {dtype})")
        elif v == ctx.claimed:
            clause = f"each step computes {BASE_NAMES[base]} (max error {fmt(fit.error)}, {dtype})"
        else:
            explained = ((divergence or {}).get("explained_by") or {}).get("change", "")
            if devs and all(d.text in explained for d in devs):
                # The lead has already said the changes: name the convention they are changes of.
                clause = (f"it computes {BASE_NAMES[base]} with {'that change' if len(devs) == 1 else 'those changes'}"
                          f" (max error {fmt(fit.error)}, {dtype})")
            else:
                clause = f"it computes {description} (max error {fmt(fit.error)}"
                clause += ", with these changes" if devs else ""
                clause += f", {dtype})"
            if base != ctx.claimed:
                clause += f"{';' if devs else ','} although it claims {claimed_name}"
            suggestion = conforming_claim(ctx, v)
            if suggestion:
                clause += f"; the adapter's claim {suggestion} would make it conform"
        parts.append(clause)
    else:
        status = "unidentified"
        clause = "it matches none of the known conventions"
        if nearly_explains(near):
            variant, error, claimed_error = near  # type: ignore[misc]
            clause += (f" (nearest: {describe_variant(variant, ctx.claimed, long=False)}, {first_error(ctx, variant)}; "
                       f"mean error {fmt(error)} against {fmt(claimed_error)} for {claimed_name})")
        if ctx.evidence is not None:
            clause += f"; the probes show: {ctx.evidence['text']}"
        parts.append(clause)
    undetermined = [SWITCHES_BY_NAME[name].title for name, s in switches.items()
                    if fit.matches and not s["determined"] and name in CONVENTION_SWITCHES]
    if undetermined:
        parts.append(f"undetermined: {join(undetermined)}")
    parts += findings
    summary = "; ".join(parts)
    if conforming:
        summary = "conforms in its forward values: " + summary
    details = _details(ctx, fit, switches, divergence, near)
    return {
        "status": status,
        "summary": summary,
        "claimed": BASE_NAMES[ctx.claimed],
        "convention": {
            "description": description,
            "matches": fit.matches,
            "base": BASE_NAMES[base],
            "deviations": [d.text for d in devs],
            "variant": v.to_json(),
            "max_error": fit.error,
            "dtype": ctx.dtype,
            "tolerance": ctx.tol.to_json(),
            "closest": None if near is None else describe_variant(near[0], ctx.claimed),
        },
        "switches": switches,
        "structure": ctx.structure_info,
        "evidence": ctx.evidence,
        "findings": ctx.findings,
        "first_divergence": divergence,
        "details": details,
        "probes": list(dict.fromkeys(ctx.probes)),
        "scope": SCOPE,
        "duration": round(duration, 3),
    }


def _details(ctx: Context, fit: Fit, switches: dict[str, Any], divergence: dict[str, Any] | None,
             near: tuple[Any, float, float] | None) -> list[str]:
    v = fit.variant
    details = [f"claimed: {BASE_NAMES[ctx.claimed]}",
               f"fitted: {describe_variant(v, ctx.claimed)} (max error {fmt(fit.error)}, "
               f"{'within' if fit.matches else 'beyond'} the {ctx.dtype} sequence tolerance {ctx.tol})"]
    if not fit.matches and near is not None:
        variant, error, claimed_error = near
        share = 1 - error / claimed_error if claimed_error > 0 else 0.0
        details.append(f"nearest known convention: {describe_variant(variant, ctx.claimed)} "
                       f"({first_error(ctx, variant)}; it accounts for {share:.0%} of the departure from "
                       f"{SHORT_NAMES[ctx.claimed]}, {'enough' if nearly_explains(near) else 'not enough'} "
                       "to name it)")
    if ctx.evidence is not None:
        details.append(f"term probe: {ctx.evidence['text']}")
    for name, s in switches.items():
        state = "determined" if s["determined"] else s.get("note", "undetermined")
        details.append(f"{SWITCHES_BY_NAME[name].title}: {s['value']} ({state}; nearest other value off by "
                       f"{fmt(s['nearest_alternative_error'])})")
    details.append(f"directions and layers: {ctx.structure_info.get('note', '')}")
    details += [f"finding: {f['text']}" for f in ctx.findings]
    if divergence is not None:
        details.append(f"first divergence: {divergence['text']}")
    details.append("probes: " + "; ".join(dict.fromkeys(ctx.probes)))
    details.append(f"scope: {SCOPE}")
    return details
