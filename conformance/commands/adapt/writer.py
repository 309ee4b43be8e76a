"""Writing the adapter: plain code from the probe's findings, a comment per step.

``load`` fills each tensor of the implementation with the expression probing verified
(``conformance.layouts`` where a helper fits); ``build``, ``step`` or ``run`` and the claims
follow the call form and convention found. What could not be determined is written as
a ``# TODO:`` where it matters and in the module docstring.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from conformance.commands.adapt import stacking
from conformance.commands.adapt.call_forms import CallForm
from conformance.commands.adapt.construct import Constructor
from conformance.commands.adapt.roles import Role

#: The probe's sizes as they appear in shapes, for writing shapes in symbols.
_SYMBOLS = {3: "I", 5: "H", 10: "2H", 15: "3H", 8: "I + H", 30: "6H", 1: "1"}


def shape_text(shape: list[int] | tuple[int, ...], role: Role | None) -> str:
    """A tensor's shape in the symbols I and H (the leading gate count of a stack kept)."""
    dims = list(shape)
    parts = []
    for axis, d in enumerate(dims):
        stacked = role is not None and role.arrangement in ("stack", "stack_t") and axis == 0 and d in (2, 3)
        keras_pair = role is not None and role.kind == "biases" and role.arrangement == "stack" and d == 2
        parts.append(str(d) if stacked or keras_pair else _SYMBOLS.get(d, str(d)))
    return f"({', '.join(parts)}{',' if len(parts) == 1 else ''})"


def missing_capabilities(findings: dict[str, Any]) -> list[str]:
    """Claims the adapter needs that this suite's ``Capabilities`` does not have yet."""
    from conformance.model.contract import Capabilities

    fields = {f.name for f in dataclasses.fields(Capabilities)}
    needed = []
    if not findings["biases"]:
        needed.append("biases")
    if findings["form"]["kind"] == "layer" and findings["form"]["returns"] != "both":
        needed.append("returns")
    return [n for n in needed if n not in fields]


def _stack(findings: dict[str, Any]) -> dict[str, Any]:
    return findings.get("stack") or {}


def stacked_fields(findings: dict[str, Any]) -> tuple[str, ...]:
    """The config options the adapter passes to the constructor (claims verified by probing)."""
    stack = _stack(findings)
    fields = [f for f, on in (("num_layers", stack.get("multi_layer")), ("bidirectional", stack.get("bidirectional")),
                              ("batch_first", stack.get("both_layouts"))) if on]
    return tuple(fields)


def capabilities_code(findings: dict[str, Any]) -> str:
    form = CallForm.from_json(findings["form"])
    stack = _stack(findings)
    claims = []
    if form.kind == "cell" and form.unbatched:
        claims.append("unbatched=True")
    if form.kind == "layer":
        if stack.get("multi_layer"):
            claims.append("multi_layer=True")
        if stack.get("bidirectional"):
            claims.append("bidirectional=True")
        if stack.get("both_layouts"):
            claims.append("batch_first=True")
        elif form.batch_first:
            claims += ["time_major=False", "batch_first=True"]
        if form.h0 == "none":
            claims.append("h0=False")
        if form.returns != "both":
            claims.append(f'returns="{form.returns}"')
    dtypes = ", ".join(f"torch.{d}" for d in findings["dtypes"])
    claims.append(f"dtypes=({dtypes},)" if len(findings["dtypes"]) == 1 else f"dtypes=({dtypes})")
    if findings["autograd"]:
        claims.append("autograd=True")
    if not findings["biases"]:
        claims.append("biases=False")
    return f"Capabilities({', '.join(claims)})"


def import_code(findings: dict[str, Any], adapter_path: Path) -> list[str]:
    """How the adapter imports the implementation: by name beside it, else by path or module."""
    spec = findings["spec"]
    where, _, attr = spec.rpartition(":")
    cls = findings["class_name"]
    is_file = where.endswith(".py") or "/" in where or "\\" in where
    if not is_file:
        return [f"from {where} import {attr if '.' not in attr else attr.split('.')[0]}"]
    source = Path(where).resolve()
    if source.parent == adapter_path.resolve().parent and source.stem.isidentifier():
        return [f"from {source.stem} import {cls}"]
    relative = os.path.relpath(source, adapter_path.resolve().parent)
    return ["# The implementation, imported from its file (the path is relative to this adapter).",
            f'{cls} = resolve_object(f"{{Path(__file__).resolve().parent / {relative!r}}}:{attr}")']


def _call_code(form: CallForm, instance: str, args: list[str]) -> str:
    target = instance if form.method == "__call__" else f"{instance}.{form.method}"
    return f"{target}({', '.join(args)})"


def step_code(findings: dict[str, Any]) -> list[str]:
    form = CallForm.from_json(findings["form"])
    numpy = findings["framework"] == "numpy"
    x, h = ("x.numpy()", "h.numpy()") if numpy else ("x", "h")
    args = [x, h] if form.order == "xh" else [h, x]
    call = _call_code(form, "cell", args)
    lines = []
    if numpy:
        lines.append("# It computes on NumPy arrays; the suite reads the array it returns.")
    if form.order == "hx":
        lines.append("# It takes the state first: forward(h, x).")
    if form.state_index is not None:
        lines.append(f"# It returns a tuple; h' is at [{form.state_index}].")
        call += f"[{form.state_index}]"
    if form.unbatched:
        row = call.replace("x.numpy()", "x_b.numpy()").replace("h.numpy()", "h_b.numpy()") if numpy else \
            _call_code(form, "cell", ["x_b", "h_b"] if form.order == "xh" else ["h_b", "x_b"]) + (
                f"[{form.state_index}]" if form.state_index is not None else "")
        stack = "np.stack" if numpy else "torch.stack"
        return lines + ["# It takes one sample at a time, x (I,) and h (H,) (unbatched=True): a batch is run row "
                        "by row.",
                        "if x.dim() == 1:",
                        f"    return {call}",
                        f"return {stack}([{row} for x_b, h_b in zip(x, h)])"]
    return lines + [f"return {call}"]


def run_code(findings: dict[str, Any]) -> list[str]:
    form = CallForm.from_json(findings["form"])
    numpy = findings["framework"] == "numpy"
    lines = []
    stack = _stack(findings)
    if stack.get("both_layouts"):
        layout = "(T, B, I), or (B, T, I) when built batch-first"
    else:
        layout = "(B, T, I): batch-first is claimed" if form.batch_first else "(T, B, I)"
    slots = "(L*D, B, H)" if stack.get("templates") else "(1, B, H) (one layer, one direction)"
    lines.append(f"# x arrives as {layout}; h0 as {slots} or None.")
    x = "x.numpy()" if numpy else "x"
    args = [x]
    if form.h0 != "none":
        if not form.h0_optional:
            batch_axis = 0 if form.batch_first else 1
            zeros = "np.zeros" if numpy else "x.new_zeros"
            hidden = findings.get("hidden_access")
            hidden_code = f"gru{hidden}" if hidden else "HIDDEN_SIZE  # TODO: the hidden size"
            lines += ["if h0 is None:  # it needs an initial state: zeros, which is what None means",
                      f"    h0 = {zeros}((1, x.shape[{batch_axis}], {hidden_code}))"]
        state = "h0" if form.h0 == "3d" else "h0[0]"
        if form.h0 == "2d":
            lines.append("# Its forward takes h0 as (B, H): the suite's (1, B, H) without its first axis.")
        state = f"{state}.numpy()" if numpy else state
        if form.h0_optional:
            lines.append(f"returned = {_call_code(form, 'gru', [x])} if h0 is None else "
                         f"{_call_code(form, 'gru', [x, state])}")
        else:
            lines.append(f"returned = {_call_code(form, 'gru', [x, state])}")
    else:
        lines.append("# It takes no initial state (h0 is not claimed: the suite gives None).")
        lines.append(f"returned = {_call_code(form, 'gru', args)}")
    pick_out = "returned" if form.out_index is None else f"returned[{form.out_index}]"
    pick_hn = "returned" if form.hn_index is None else f"returned[{form.hn_index}]"
    fix_hn = "" if form.hn_3d else "[None]"
    if form.returns == "both":
        if not form.hn_3d:
            lines.append("# It returns h_n as (B, H): nn.GRU's (1, B, H) is that with a leading axis.")
        lines.append(f"return {pick_out}, {pick_hn}{fix_hn}")
    elif form.returns == "output":
        lines.append("# It returns the output sequence only (claimed: returns=\"output\").")
        lines.append(f"return {pick_out}")
    else:
        lines.append("# It returns its final state only (claimed: returns=\"state\").")
        if not form.hn_3d:
            lines.append("# As (B, H): nn.GRU's (1, B, H) is that with a leading axis.")
        lines.append(f"return {pick_hn}{fix_hn}")
    return lines


def load_code(findings: dict[str, Any], instance: str) -> list[str]:
    lines = []
    slots = findings["slots"]
    expressions = [s["expression"] for s in slots if s["expression"]]
    templates = _stack(findings).get("templates") or {}
    if not findings["exact"] and not findings.get("conflicts"):
        error = findings["error"]
        closest = f"the closest, this one, errs by {error:.3g}" if error is not None else "every one raised"
        lines += _comment(f"TODO: no mapping and convention reproduced it exactly ({closest}): it computes no GRU "
                          f"in the four conventions (grading says where it departs), or keeps its parameters in a "
                          f"layout adapt does not know.")
    missing = findings.get("missing_blocks") or []
    if missing:
        lines += _comment(f"TODO: no tensor holds {', '.join(missing)} beside the others: they are left out here, "
                          f"so grading shows what their absence changes. If one tensor does two blocks' work, or "
                          f"the equations leave a block out, that is the finding.")
    if findings["update"] == "complement":
        lines += _comment("update = \"complement\": params arrive with the update gate's rows negated (the suite "
                          "does it), which makes the complement GRU the PyTorch one: the layout is used as it is.")
    if any('w["' in e for e in expressions) or any(s.get("behaviour") and 'w["' in s["behaviour"] for s in slots):
        lines.append("w = layouts.per_gate(params)  # one array per gate and input: W_ir ... W_hn, b_ir ... b_hn")
    conflicts = {c["slot"]: c for c in findings.get("conflicts", [])}
    for n, slot in enumerate(slots):
        role = Role.from_json(slot["role"]) if slot["role"] else None
        shape = shape_text(slot["shape"], role)
        if role is None:
            lines.append(f"# {slot['name']} {shape}: left as built (no GRU parameter fits its shape and effect).")
            continue
        lines.append(f"# {slot['name']} {shape}: {slot['describe']}")
        if slot["name"] in conflicts and slot.get("behaviour"):
            c = conflicts[slot["name"]]
            lines += _comment(f"TODO: named for the {_gate_word(c['declared'])} gate, it acts as the "
                              f"{_gate_word(c['acts_as'])} gate in the code. Mapped by its name, so grading shows "
                              f"the swap; if the name is the mistake, map it by what it does instead:")
            lines.append(f"#     _put({instance}{slot['access']}, {slot['behaviour']})")
        if "folded_bias" in slot["expression"] and findings["reset"] == "after" and findings.get("needs_zero_b_hn"):
            lines += _comment("TODO: in the reset-after GRU b_hn sits inside r * (W_hn h + b_hn): one bias per "
                              "gate has no place for it, so this raises for a non-zero b_hn (it cannot compute "
                              "that GRU).")
        lines += _wrapped(f"_put({_reach(instance, slot, templates.get(str(n)))}, ",
                          slot["expression"], ")")
    return lines


def _reach(instance: str, slot: dict[str, Any], template: dict[str, str] | None) -> str:
    """The code reaching a tensor: layer 0's, or, for several layers and directions, the
    one of ``layer`` and ``reverse`` (verified on the instance by probing)."""
    if template is None:
        return f"{instance}{slot['access']}"
    forward, reverse = (stacking.code(instance, template[d]) for d in ("forward", "reverse"))
    return forward if forward == reverse else f"{reverse} if reverse else {forward}"


def _split_arguments(text: str) -> list[str]:
    """The arguments of a call's source, split at top-level commas."""
    items, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    return [i for i in items + [current] if i.strip()]


def materialize_code(form: CallForm, instance: str, built: str) -> list[str]:
    """``build`` for a thing that makes its tensors on its first call: that call, on zeros,
    in its own call form, before ``load`` fills them."""
    zeros = "torch.zeros({}, dtype=config.dtype)"
    if form.kind == "cell":
        x, h = (zeros.format(s) for s in (("config.input_size" if form.unbatched else "1, config.input_size"),
                                           ("config.hidden_size" if form.unbatched else "1, config.hidden_size")))
        call = _call_code(form, instance, [x, h] if form.order == "xh" else [h, x])
    else:
        args = [zeros.format("1, 1, config.input_size")]
        if form.h0 != "none" and not form.h0_optional:
            args.append(zeros.format("1, 1, config.hidden_size" if form.h0 == "3d" else "1, config.hidden_size"))
        call = _call_code(form, instance, args)
    return [*f"{instance} = {built}.to(config.dtype).eval()".splitlines(),
            "# It makes its tensors on its first call (it reads its input size there): one call on zeros.",
            "with torch.no_grad():",
            f"    {call}",
            f"return {instance}.to(config.dtype)"]


def _comment(text: str, width: int = 108) -> list[str]:
    import textwrap

    return [f"# {line}" for line in textwrap.wrap(text, width)]


def _wrapped(head: str, expression: str, tail: str, width: int = 112) -> list[str]:
    """``head + expression + tail`` on one line, or, when too long, a stacked list of
    arrays one item a line."""
    line = head + expression + tail
    for opener in ("np.stack([", "np.concatenate(["):
        if len(line) <= width or not expression.startswith(opener) or not expression.endswith("])"):
            continue
        items, depth, current = [], 0, ""
        for ch in expression[len(opener):-2]:
            depth += ch in "([{"
            depth -= ch in ")]}"
            if ch == "," and depth == 0:
                items.append(current.strip())
                current = ""
            else:
                current += ch
        items.append(current.strip())
        return [head + opener] + [f"    {item}," for item in items] + ["])" + tail]
    return [line]


def _gate_word(gate: str) -> str:
    return {"r": "reset", "z": "update", "n": "candidate"}[gate]


def _indent(lines: list[str], spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else "" for line in lines)


def docstring(findings: dict[str, Any], adapter_path: Path, adapter_class: str) -> str:
    where = findings["spec"].rpartition(":")[0]
    fit = ("exact" if findings["exact"] else "NOT exact") + (
        f", max error {findings['error']:.2g} in {findings['probed_dtype']}" if findings["error"] is not None else "")
    lines = [f"Adapter for {findings['class_name']} ({where}), written by `python -m conformance adapt`.",
             "",
             "What probing found (I = 3, H = 5, B = 4, random parameters per gate with a non-zero b_hn):",
             f"  call form:  {findings['form_text']}",
             f"  convention: reset {findings['reset']}, update {findings['update']} ({fit})"]
    if findings["equivalents"]:
        lines.append(f"  layout:     {findings['equivalents']} other mapping(s) fit as exactly: the same function "
                     f"(b_i and b_h of a gate that only ever act summed); this one follows the names")
    for item in findings["undetermined"]:
        lines.append(f"  TODO: could not determine {item}")
    for conflict in findings.get("conflicts", []):
        lines.append(f"  TODO: {conflict['slot']} is named for the {_gate_word(conflict['declared'])} gate but acts "
                     f"as the {_gate_word(conflict['acts_as'])} gate")
    forms = findings.get("probe", {}).get("forms", [])
    if len(forms) > 1:
        lines.append(f"  note: {len(forms)} call forms fit by shape; values chose this one")
    for note in findings["notes"]:
        lines.append(f"  note: {note}")
    lines += ["", f"Grade it: python -m conformance grade {adapter_path.name}:{adapter_class}"]
    return '"""' + "\n".join(lines) + '\n"""'


def render(findings: dict[str, Any], adapter_path: Path) -> tuple[str, str]:
    """(adapter source, adapter class name)."""
    cls = findings["class_name"]
    adapter_class = f"{cls}Adapter"
    form = CallForm.from_json(findings["form"])
    numpy = findings["framework"] == "numpy"
    kind = "CellAdapter" if form.kind == "cell" else "LayerAdapter"
    instance = "cell" if form.kind == "cell" else "gru"
    constructor = Constructor.from_json(findings["constructor"])
    built = constructor.configured(stacked_fields(findings)).code(cls)
    imports = import_code(findings, adapter_path)
    by_path = any("resolve_object" in line for line in imports)
    body_load = load_code(findings, instance)
    head = [docstring(findings, adapter_path, adapter_class), "", "from __future__ import annotations", ""]
    if by_path:
        head.append("from pathlib import Path")
        head.append("")
    head += ["import numpy as np", "import torch", "", "from conformance import Capabilities, CanonicalParams, "
             f"{kind}, GRUConfig, layouts"]
    if by_path:
        head.append("from conformance.grading.loading import resolve_object")
    head += [""] + ([""] if by_path else []) + imports + ["", ""]
    if numpy:
        put = ["def _put(array: np.ndarray, values: np.ndarray) -> None:",
               '    """Write float64 values into one of its arrays in place, in the array\'s own dtype."""',
               "    array[...] = values"]
    else:
        put = ["def _put(param: torch.Tensor, values: np.ndarray) -> None:",
               '    """Copy float64 values into a parameter in place, in its own dtype and device."""',
               "    with torch.no_grad():",
               "        param.copy_(layouts.tensor(values, param))"]
    if len(built) > 80:  # one argument a line
        callee, _, arguments = built.partition("(")
        built = callee + "(\n" + "".join(f"    {a.strip()},\n" for a in _split_arguments(arguments[:-1])) + ")"
    build = (f"return {built}" + ("" if numpy else ".to(config.dtype).eval()")).splitlines()
    if numpy:
        build.insert(0, f"# NumPy: it computes in its arrays' dtype ({findings['probed_dtype']}), the one claimed.")
    elif findings.get("materialize"):
        build = materialize_code(form, instance, built)
    out_type = "torch.Tensor" if not numpy else "np.ndarray"
    body = [
        f"class {adapter_class}({kind}):",
        f'    name = "{cls} (adapted)"',
        f'    reset = "{findings["reset"]}"',
        f'    update = "{findings["update"]}"',
        f"    capabilities = {capabilities_code(findings)}",
        "",
        f"    def build(self, config: GRUConfig) -> {cls}:",
        _indent(build, 8),
        "",
    ]
    if _stack(findings).get("templates"):
        body += [
            f"    def load(self, {instance}: {cls}, params: CanonicalParams, config: GRUConfig) -> None:",
            "        # Each layer and direction in turn, from its own parameters (named as layer 0's).",
            "        for layer in range(config.num_layers):",
            "            for reverse in (False, True)[: config.num_directions]:",
            f"                self.load_one({instance}, params.cell(layer, reverse), layer, reverse)",
            "",
            f"    def load_one(self, {instance}: {cls}, params: CanonicalParams, layer: int, reverse: bool) -> None:",
            '        """One layer and direction (layer k > 0 reads D*H inputs where layer 0 reads I)."""',
            _indent(body_load, 8),
        ]
    else:
        body += [f"    def load(self, {instance}: {cls}, params: CanonicalParams) -> None:", _indent(body_load, 8)]
    if form.kind == "cell":
        body += ["", f"    def step(self, cell: {cls}, x: torch.Tensor, h: torch.Tensor) -> {out_type}:",
                 _indent(step_code(findings), 8)]
    else:
        body += ["", f"    def run(self, gru: {cls}, x: torch.Tensor, h0: torch.Tensor | None):",
                 _indent(run_code(findings), 8)]
    return "\n".join(head + put + ["", ""] + body) + "\n", adapter_class
