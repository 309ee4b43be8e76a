"""A GRU written as a function of a parameter list, JAX style: ``gru(params, x, h0)``
with ``params`` one ``(w_i, w_h, b)`` tuple per layer, kernels transposed (in, 3H) with
their gates in z, r, n order and one bias per gate, the reset gate before the matmul
(as ``haiku`` and Keras ``reset_after=False`` lay them out). Graded through an adapter
whose ``build`` returns a parameter container and whose ``run`` calls the function.

    python -m conformance grade examples/function_gru.py:FunctionGRU
"""

from __future__ import annotations

import torch

from conformance import Capabilities, CanonicalParams, GRUConfig, LayerAdapter, layouts


def gru(params: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], x: torch.Tensor,
        h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """x (T, B, I), h0 (L, B, H) -> output (T, B, H), h_n (L, B, H); reset before the matmul."""
    finals = []
    for layer, (w_i, w_h, b) in enumerate(params):
        hidden = w_h.shape[0]
        h = h0[layer] if h0 is not None else x.new_zeros(x.shape[1], hidden)
        outs = []
        for x_t in x:
            zx, rx, nx = (x_t @ w_i + b).split(hidden, dim=-1)
            zh, rh = (h @ w_h[:, :2 * hidden]).split(hidden, dim=-1)
            z, r = torch.sigmoid(zx + zh), torch.sigmoid(rx + rh)
            n = torch.tanh(nx + (r * h) @ w_h[:, 2 * hidden:])
            h = z * h + (1 - z) * n
            outs.append(h)
        x = torch.stack(outs)
        finals.append(h)
    return x, torch.stack(finals)


class FunctionGRU(LayerAdapter):
    name = "functional GRU (parameter list)"
    reset = "before"
    capabilities = Capabilities(multi_layer=True, dtypes=(torch.float32, torch.float64), autograd=True)

    def build(self, config: GRUConfig) -> dict:
        return {"config": config, "params": []}  # the function holds no state: a container

    def load(self, container: dict, params: CanonicalParams) -> None:
        dtype = container["config"].dtype
        container["params"] = [
            tuple(torch.tensor(a, dtype=dtype, requires_grad=True) for a in (
                layouts.kernel(params, "weight_ih", layer=k, order="zrn", transposed=True),
                layouts.kernel(params, "weight_hh", layer=k, order="zrn", transposed=True),
                layouts.folded_bias(params, layer=k, order="zrn", reset="before")))
            for k in range(params.num_layers)]

    def run(self, container: dict, x: torch.Tensor, h0: torch.Tensor | None):
        return gru(container["params"], x, h0)

    def grads(self, container: dict) -> dict:
        # The inverse of load: each layer's kernels back to (3H, in) r|z|n; the folded bias's
        # gradient is the gradient of both canonical biases it stands for.
        found = {}
        for k, (w_i, w_h, b) in enumerate(container["params"]):
            found[f"weight_ih_l{k}"] = layouts.from_kernel(w_i.grad.numpy(), order="zrn", transposed=True)
            found[f"weight_hh_l{k}"] = layouts.from_kernel(w_h.grad.numpy(), order="zrn", transposed=True)
            found[f"bias_ih_l{k}"] = found[f"bias_hh_l{k}"] = layouts.from_kernel(b.grad.numpy(), order="zrn")
        return found
