"""A NumPy layer with its weights in attributes, kernels (in, 3H) in r, z, n order, called
by a method: layer.forward(x (T, B, I), h0 (B, H) or None) -> (outputs (T, B, H), h_T)."""
import numpy as np


class NumpyGRULayer:
    def __init__(self, n_in: int, n_hidden: int) -> None:
        rng = np.random.default_rng(1)
        self.hidden = n_hidden
        self.Wx = rng.normal(0, 0.3, (n_in, 3 * n_hidden))
        self.Wh = rng.normal(0, 0.3, (n_hidden, 3 * n_hidden))
        self.bx = np.zeros(3 * n_hidden)
        self.bh = np.zeros(3 * n_hidden)

    def forward(self, x: np.ndarray, h0: np.ndarray | None = None):
        H = self.hidden
        h = np.zeros((x.shape[1], H)) if h0 is None else h0
        outputs = []
        for x_t in x:
            gx = x_t @ self.Wx + self.bx
            gh = h @ self.Wh + self.bh
            r = 1 / (1 + np.exp(-(gx[:, :H] + gh[:, :H])))
            z = 1 / (1 + np.exp(-(gx[:, H:2 * H] + gh[:, H:2 * H])))
            n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
            h = (1 - z) * n + z * h
            outputs.append(h)
        return np.stack(outputs), h
