"""Wrong machinery: GRUs whose forward equations are right and whose bug is elsewhere.

The bug is in the backward pass, in a dtype the equation checks do not draw, in the
variable-length path, in how unusual inputs are handled or in where internal tensors are
created. Their catalogue entries are ``tests.catches_bugs.mutants.MACHINERY_MUTANTS``.

``CORRECT`` lists the same machinery done right (an analytic backward, explicit lengths
with a per-sample reversal, nn.GRU given a PackedSequence): they must pass every check,
so the checks that catch the mutants are not merely strict.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from conformance import Capabilities, CellAdapter, GRUConfig, LayerAdapter
from conformance.base.devices import device_available
from conformance.base.params import CanonicalParams

F32_F64 = (torch.float32, torch.float64)

# --------------------------------------------------------------------------- nn.GRU layers


class TorchLayer(LayerAdapter):
    """``torch.nn.GRU`` as a layer: the base every layer mutant below changes in one place."""

    name = "nn.GRU (mutant base)"
    reset = "after"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, batch_first=True, h0=True,
                                dtypes=F32_F64, autograd=True)

    def build(self, config: GRUConfig) -> torch.nn.GRU:
        return torch.nn.GRU(config.input_size, config.hidden_size, config.num_layers,
                            batch_first=config.batch_first, bidirectional=config.bidirectional,
                            dtype=self.compute_dtype(config.dtype), device=config.device)

    def compute_dtype(self, dtype: torch.dtype) -> torch.dtype:
        return dtype

    def load(self, gru: torch.nn.GRU, params: CanonicalParams) -> None:
        gru.load_state_dict(params.tensors(gru.weight_ih_l0.dtype, gru.weight_ih_l0.device))

    def run(self, gru, x, h0):
        return gru(x, h0)

    def grads(self, gru: torch.nn.GRU) -> dict[str, torch.Tensor]:
        return {name: p.grad for name, p in gru.named_parameters()}

    def convert(self, gru: torch.nn.GRU, dtype: torch.dtype) -> torch.nn.GRU:
        # The mutants' own bug follows the conversion (their compute dtype); a dtype claimed at
        # build, which they check inputs against, is the new one.
        converted = gru.to(self.compute_dtype(dtype))
        if hasattr(converted, "claimed_dtype"):
            converted.claimed_dtype = dtype
        return converted


class HnDetached(TorchLayer):
    """h_n returned detached from the graph (as for truncated back-propagation through
    time, but on every call): no gradient reaches x, h0 or the parameters through h_n."""

    name = "mutant h_n detached"

    def run(self, gru, x, h0):
        output, h_n = gru(x, h0)
        return output, h_n.detach()


class StateDetachedWithoutH0(TorchLayer):
    """Called without h0 under autograd, it runs one step at a time and detaches the state between
    steps (truncated back-propagation through time written into the forward): values exact, and
    gradients that stop after one step, but only when no h0 is given."""

    name = "mutant state detached without h0"
    capabilities = Capabilities(multi_layer=True, h0=True, dtypes=F32_F64, autograd=True)

    def run(self, gru, x, h0):
        if h0 is not None or not torch.is_grad_enabled():
            return gru(x, h0)
        outputs, h = [], None
        for t in range(x.shape[0]):
            output, h = gru(x[t:t + 1], None if h is None else h.detach())
            outputs.append(output)
        return torch.cat(outputs), h


class InputWeightsCutForData(TorchLayer):
    """When x requires no gradient (a training batch), layer 0's input weights are used detached,
    as a path that skips the input's backward might: no gradient reaches weight_ih_l0 and bias_ih_l0."""

    name = "mutant input weights cut when x is data"

    def run(self, gru, x, h0):
        if x.requires_grad or not torch.is_grad_enabled():
            return gru(x, h0)
        params = {name: p.detach() if name.startswith(("weight_ih_l0", "bias_ih_l0")) else p
                  for name, p in gru.named_parameters()}
        return torch.func.functional_call(gru, params, (x, h0))


class _UpstreamReadAsContiguous(torch.autograd.Function):
    """The identity, whose backward reads its upstream gradient's memory as if it were contiguous
    whenever the innermost stride is 1 (a C++ extension checking only ``stride(-1) == 1``)."""

    @staticmethod
    def forward(ctx, y):
        return y.clone()

    @staticmethod
    def backward(ctx, grad):
        if grad.stride(-1) != 1 or grad.is_contiguous():
            return grad
        strides, step = [], 1
        for size in reversed(grad.shape):
            strides.insert(0, step)
            step *= size
        return torch.as_strided(grad, grad.shape, strides, grad.storage_offset())


class UpstreamGradientMisread(TorchLayer):
    """nn.GRU whose backward entry reads a non-contiguous upstream gradient (a loss on transposed
    views of output and h_n) as contiguous memory: the gradients of the wrong elements."""

    name = "mutant upstream gradient read as contiguous"

    def run(self, gru, x, h0):
        output, h_n = gru(x, h0)
        return _UpstreamReadAsContiguous.apply(output), _UpstreamReadAsContiguous.apply(h_n)


def _check_dtype(claimed: torch.dtype, x: torch.Tensor, h0: torch.Tensor | None) -> None:
    """Reject inputs of another dtype than the instance's, as nn.GRU does."""
    for what, t in (("x", x), ("h0", h0)):
        if t is not None and t.dtype != claimed:
            raise TypeError(f"{what} is {t.dtype}, but the instance is {claimed}")


class Float64InFloat32(TorchLayer):
    """float64 claimed, computed in float32: the module is float32 and float64 input is cast
    down on the way in and back up on the way out, so the dtype looks right."""

    name = "mutant float64 computed in float32"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, batch_first=True, h0=True,
                                dtypes=F32_F64)

    def build(self, config: GRUConfig) -> torch.nn.GRU:
        gru = super().build(config)
        gru.claimed_dtype = config.dtype  # what the caller asked for, checked like nn.GRU does
        return gru

    def compute_dtype(self, dtype):
        return torch.float32

    def run(self, gru, x, h0):
        _check_dtype(gru.claimed_dtype, x, h0)
        output, h_n = gru(x.float(), None if h0 is None else h0.float())
        return output.to(x.dtype), h_n.to(x.dtype)


class Float16InBfloat16(TorchLayer):
    """float16 claimed, computed in bfloat16 (as where a backend has no float16 kernels):
    8 bits of mantissa instead of 11, cast back to float16 on the way out."""

    name = "mutant float16 computed in bfloat16"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, batch_first=True, h0=True,
                                dtypes=(torch.float32, torch.float64, torch.float16))

    def build(self, config: GRUConfig) -> torch.nn.GRU:
        gru = super().build(config)
        gru.claimed_dtype = config.dtype
        return gru

    def compute_dtype(self, dtype):
        return torch.bfloat16 if dtype == torch.float16 else dtype

    def run(self, gru, x, h0):
        _check_dtype(gru.claimed_dtype, x, h0)
        inner = gru.weight_ih_l0.dtype
        output, h_n = gru(x.to(inner), None if h0 is None else h0.to(inner))
        return output.to(x.dtype), h_n.to(x.dtype)


class Float32InBfloat16(Float16InBfloat16):
    """float32 claimed, computed in bfloat16 (mixed precision left on at inference)."""

    name = "mutant float32 computed in bfloat16"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, batch_first=True, h0=True,
                                dtypes=F32_F64)

    def compute_dtype(self, dtype):
        return torch.bfloat16 if dtype == torch.float32 else dtype


class Bfloat16WeightsInFloat8(TorchLayer):
    """bfloat16 claimed, weights quantized to float8 (e4m3, 3 bits of mantissa) on load,
    as an inference engine might do silently."""

    name = "mutant bfloat16 with float8 weights"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, batch_first=True, h0=True,
                                dtypes=(torch.float32, torch.float64, torch.bfloat16))

    def load(self, gru, params):
        super().load(gru, params)
        if gru.weight_ih_l0.dtype == torch.bfloat16:
            with torch.no_grad():
                for p in gru.parameters():
                    p.copy_(p.to(torch.float8_e4m3fn).to(torch.bfloat16))


def _contiguous_strides(shape: torch.Size) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


class StridesIgnored(TorchLayer):
    """Input read as if it were contiguous (a kernel taking the data pointer without
    ``.contiguous()``): a strided view is read from the wrong elements of its storage."""

    name = "mutant strides ignored"

    def run(self, gru, x, h0):
        def raw(t):
            return torch.as_strided(t, t.shape, _contiguous_strides(t.shape), t.storage_offset())

        return gru(raw(x), None if h0 is None else raw(h0))


class BatchOfOneSqueezed(TorchLayer):
    """``squeeze()`` on the results: a batch of one loses its batch axis."""

    name = "mutant batch of one squeezed"

    def run(self, gru, x, h0):
        output, h_n = gru(x, h0)
        batch_axis = 0 if gru.batch_first else 1
        if output.shape[batch_axis] == 1:
            return output.squeeze(batch_axis), h_n.squeeze(1)
        return output, h_n


class H0Broadcast(TorchLayer):
    """An h0 with one batch row is broadcast to the whole batch instead of rejected."""

    name = "mutant h0 broadcast"

    def run(self, gru, x, h0):
        batch = x.shape[0 if gru.batch_first else 1]
        if h0 is not None and h0.shape[1] == 1 and batch > 1:
            h0 = h0.expand(-1, batch, -1).contiguous()
        return gru(x, h0)


class DtypeConverted(TorchLayer):
    """Inputs converted to the module's dtype instead of rejected."""

    name = "mutant dtype converted"

    def run(self, gru, x, h0):
        dtype = gru.weight_ih_l0.dtype
        return gru(x.to(dtype), None if h0 is None else h0.to(dtype))


class DefaultDeviceZeros(TorchLayer):
    """Claims GPUs, but makes the zero h0 with ``torch.zeros(...)`` and no device: it lands
    on torch's default device, not the input's (fails on any GPU)."""

    name = "mutant zeros on the default device"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, batch_first=True, h0=True,
                                dtypes=F32_F64, devices=("cpu", "cuda", "mps"))

    def run(self, gru, x, h0):
        if h0 is None:
            batch = x.shape[0 if gru.batch_first else 1]
            slots = gru.num_layers * (2 if gru.bidirectional else 1)
            h0 = torch.zeros(slots, batch, gru.hidden_size, dtype=x.dtype)
        return gru(x, h0)


class ZerosMovedToInput(DefaultDeviceZeros):
    """The same zeros made on the default device, then moved to the input's (``.to(x)``), as
    hand-written GRUs often do: right on every device (a copy on a GPU), so it must pass."""

    name = "zeros moved to the input's device"

    def run(self, gru, x, h0):
        if h0 is None:
            batch = x.shape[0 if gru.batch_first else 1]
            slots = gru.num_layers * (2 if gru.bidirectional else 1)
            h0 = torch.zeros(slots, batch, gru.hidden_size).to(x)
        return gru(x, h0)


class ScalarOnDefaultDevice(TorchLayer):
    """A 0-dim constant made on the default device (``torch.tensor(1.0) - z``, in a hand-written
    update): on a GPU, with the CPU as default device, a 0-dim CPU tensor joins the GPU's
    operations as a scalar, so it is right and must pass."""

    name = "a 0-dim constant on the default device"
    capabilities = DefaultDeviceZeros.capabilities

    def run(self, gru, x, h0):
        output, h_n = gru(x, h0)
        one = torch.tensor(1.0, dtype=x.dtype)
        return output * one, (one - 1.0) + h_n


# --------------------------------------------------------------------------- variable length


def _direction_gru(gru: torch.nn.GRU, reverse: bool) -> torch.nn.GRU:
    """A one-layer, one-direction nn.GRU holding one direction of ``gru``'s layer 0."""
    one = torch.nn.GRU(gru.input_size, gru.hidden_size, batch_first=gru.batch_first,
                       dtype=gru.weight_ih_l0.dtype, device=gru.weight_ih_l0.device)
    suffix = "_reverse" if reverse else ""
    one.load_state_dict({f"{kind}_l0": getattr(gru, f"{kind}_l0{suffix}")
                         for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    return one


def _time_major(t: torch.Tensor, batch_first: bool) -> torch.Tensor:
    return t.transpose(0, 1) if batch_first else t


def _mask(lengths: torch.Tensor, steps: int, like: torch.Tensor) -> torch.Tensor:
    """(T, B, 1): 1 where step t is a real element of sample b."""
    return (torch.arange(steps)[:, None] < lengths[None, :]).to(like.dtype).to(like.device)[..., None]


def _reverse_each(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Time-major x with each sample's first lengths[b] steps reversed in place, padding kept."""
    out = x.clone()
    for b, length in enumerate(lengths.tolist()):
        out[:length, b] = x[:length, b].flip(0)
    return out


class LengthsLayer(TorchLayer):
    """Explicit lengths, one layer, both directions: the forward direction runs packed, the
    reverse one on each sample reversed within its own length (correct)."""

    name = "explicit-lengths GRU"
    capabilities = Capabilities(bidirectional=True, multi_layer=False, batch_first=True, h0=True,
                                dtypes=F32_F64, autograd=True, lengths=True)

    def run_lengths(self, gru, x, lengths, h0):
        steps = x.shape[1] if gru.batch_first else x.shape[0]
        xt = _time_major(x, gru.batch_first)
        forward = _direction_gru(gru, False)
        packed = pack_padded_sequence(xt, lengths, enforce_sorted=False)
        out_f, h_f = forward(packed, None if h0 is None else h0[:1])
        out_f, _ = pad_packed_sequence(out_f, total_length=steps)
        if not gru.bidirectional:
            return _time_major(out_f, gru.batch_first), h_f
        out_r, h_r = self.reverse_direction(gru, xt, lengths, None if h0 is None else h0[1:2])
        output = torch.cat([out_f, out_r], dim=-1)
        return _time_major(output, gru.batch_first), torch.cat([h_f, h_r])

    def reverse_direction(self, gru, xt, lengths, h0):
        reverse = _direction_gru(gru, True)
        packed = pack_padded_sequence(_reverse_each(xt, lengths), lengths, enforce_sorted=False)
        out, h_n = reverse(packed, h0)
        out, _ = pad_packed_sequence(out, total_length=xt.shape[0])
        return _reverse_each(out, lengths), h_n


class ReverseIgnoresLengths(LengthsLayer):
    """The reverse direction flips the whole padded batch and runs it from t = T-1: short
    samples' reverse pass starts in the padding (outputs past each length are still zeroed)."""

    name = "mutant reverse ignores lengths"

    def reverse_direction(self, gru, xt, lengths, h0):
        reverse = _direction_gru(gru, True)
        out, h_n = reverse(_time_major(xt.flip(0), gru.batch_first), h0)  # its own layout, unpacked
        out = _time_major(out, gru.batch_first)
        return out.flip(0) * _mask(lengths, xt.shape[0], out), h_n


class LengthsIgnored(LengthsLayer):
    """Lengths used only to zero the output: both directions run over the padding, so h_n is
    the state after T steps for every sample."""

    name = "mutant lengths ignored"

    def run_lengths(self, gru, x, lengths, h0):
        steps = x.shape[1] if gru.batch_first else x.shape[0]
        output, h_n = gru(x, h0)
        mask = _mask(lengths, steps, output)
        return _time_major(_time_major(output, gru.batch_first) * mask, gru.batch_first), h_n


class PaddingHoldsLastState(LengthsLayer):
    """Padded steps repeat the sample's last real output (masking that carries the state
    forward) instead of zeros."""

    name = "mutant padding holds the last state"

    def run_lengths(self, gru, x, lengths, h0):
        output, h_n = super().run_lengths(gru, x, lengths, h0)
        out = _time_major(output, gru.batch_first).clone()
        for b, length in enumerate(lengths.tolist()):
            out[length:, b] = out[length - 1, b]
        return _time_major(out, gru.batch_first), h_n


class PackedTorchGRU(TorchLayer):
    """nn.GRU given the PackedSequence (the default lengths path), every option."""

    name = "nn.GRU with PackedSequence"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, batch_first=True, h0=True,
                                dtypes=F32_F64, autograd=True, lengths=True)



# --------------------------------------------------------------------------- custom autograd cell


class HalfOnGPU(TorchLayer):
    """Results depend on the device: off CPU the layer silently runs in bfloat16 (a backend
    "fast path"), on CPU in the dtype asked for."""

    name = "mutant bfloat16 off CPU"
    capabilities = Capabilities(bidirectional=True, multi_layer=True, batch_first=True, h0=True,
                                dtypes=F32_F64, devices=("cpu", "cuda", "mps"))

    def run(self, gru, x, h0):
        if x.device.type == "cpu":
            return gru(x, h0)
        fast = copy.deepcopy(gru).to(torch.bfloat16)
        output, h_n = fast(x.to(torch.bfloat16), None if h0 is None else h0.to(torch.bfloat16))
        return output.to(x.dtype), h_n.to(x.dtype)


class GRUCellFunction(torch.autograd.Function):
    """One GRU step (eq. 1-4) with a hand-written backward."""

    #: The bug switch: the reset gate's gradient uses W_hn h and forgets b_hn.
    drop_bhn_in_reset_grad = False

    @staticmethod
    def forward(ctx: Any, x, h, w_ih, w_hh, b_ih, b_hh):
        gx_r, gx_z, gx_n = (x @ w_ih.T + b_ih).chunk(3, dim=-1)
        gh_r, gh_z, gh_n = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
        r = torch.sigmoid(gx_r + gh_r)
        z = torch.sigmoid(gx_z + gh_z)
        n = torch.tanh(gx_n + r * gh_n)
        ctx.save_for_backward(x, h, w_ih, w_hh, b_hh, r, z, n, gh_n)
        return (1 - z) * n + z * h

    @classmethod
    def backward(cls, ctx: Any, grad):
        x, h, w_ih, w_hh, b_hh, r, z, n, gh_n = ctx.saved_tensors
        hidden = h.shape[-1]
        d_n = grad * (1 - z)
        d_z = grad * (h - n)
        d_an = d_n * (1 - n * n)
        recurrent_n = gh_n - b_hh[2 * hidden :] if cls.drop_bhn_in_reset_grad else gh_n
        d_ar = d_an * recurrent_n * r * (1 - r)
        d_az = d_z * z * (1 - z)
        d_gx = torch.cat([d_ar, d_az, d_an], dim=-1)
        d_gh = torch.cat([d_ar, d_az, d_an * r], dim=-1)
        return (d_gx @ w_ih, d_gh @ w_hh + grad * z, d_gx.T @ x, d_gh.T @ h, d_gx.sum(0), d_gh.sum(0))


class WrongBackwardFunction(GRUCellFunction):
    drop_bhn_in_reset_grad = True


class CustomBackwardCell(CellAdapter):
    """A cell whose step is a custom autograd.Function with an analytic backward (correct)."""

    name = "custom-backward GRU cell"
    reset = "after"
    capabilities = Capabilities(dtypes=F32_F64, autograd=True)
    function: type[torch.autograd.Function] = GRUCellFunction

    def build(self, config: GRUConfig) -> torch.nn.GRUCell:
        return torch.nn.GRUCell(config.input_size, config.hidden_size, dtype=config.dtype,
                                device=config.device)

    def load(self, cell: torch.nn.GRUCell, params: CanonicalParams) -> None:
        tensors = params.tensors(cell.weight_ih.dtype, cell.weight_ih.device)
        cell.load_state_dict({name.removesuffix("_l0"): value for name, value in tensors.items()})

    def step(self, cell, x, h):
        if h.shape != (x.shape[0], cell.hidden_size) or x.shape[-1] != cell.input_size:
            raise ValueError(f"x {tuple(x.shape)} and h {tuple(h.shape)} do not fit the cell "
                             f"({cell.input_size} inputs, {cell.hidden_size} units)")
        if x.dtype != cell.weight_ih.dtype or h.dtype != cell.weight_ih.dtype:
            raise TypeError(f"x is {x.dtype} and h {h.dtype}, but the cell is {cell.weight_ih.dtype}")
        return self.function.apply(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)

    def grads(self, cell: torch.nn.GRUCell) -> dict[str, torch.Tensor]:
        return {f"{name}_l0": p.grad for name, p in cell.named_parameters()}


class WrongBackwardCell(CustomBackwardCell):
    """The analytic backward forgets b_hn in the reset gate's gradient:
    dL/da_r uses W_hn h where the forward used W_hn h + b_hn."""

    name = "mutant wrong backward (b_hn lost in dr)"
    function = WrongBackwardFunction


#: GPUs present here: device checks for them can be exercised.
GPUS = [d for d in ("cuda", "mps") if device_available(d)]

#: The same machinery done right: every check must pass (or not apply).
CORRECT: list[tuple[str, type]] = [
    ("custom-backward-cell", CustomBackwardCell),
    ("explicit-lengths", LengthsLayer),
    ("packed-nn-gru", PackedTorchGRU),
    ("zeros-moved-to-input", ZerosMovedToInput),
    ("scalar-on-default-device", ScalarOnDefaultDevice),
]
