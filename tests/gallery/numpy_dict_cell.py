"""A NumPy cell with its parameters in a dict, one matrix per gate and side, multiplied
from the right (x @ W): the PyTorch equations."""
import numpy as np


class NumpyDictCell:
    def __init__(self, input_size: int, hidden_size: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.params = {}
        for g in ("r", "z", "n"):
            self.params[f"Wx{g}"] = rng.normal(0, 0.3, (input_size, hidden_size))
            self.params[f"Wh{g}"] = rng.normal(0, 0.3, (hidden_size, hidden_size))
            self.params[f"bx{g}"] = np.zeros(hidden_size)
            self.params[f"bh{g}"] = np.zeros(hidden_size)

    def __call__(self, x: np.ndarray, h: np.ndarray) -> np.ndarray:
        p = self.params

        def sigmoid(a: np.ndarray) -> np.ndarray:
            return 0.5 * (1.0 + np.tanh(0.5 * a))

        r = sigmoid(x @ p["Wxr"] + p["bxr"] + h @ p["Whr"] + p["bhr"])
        z = sigmoid(x @ p["Wxz"] + p["bxz"] + h @ p["Whz"] + p["bhz"])
        n = np.tanh(x @ p["Wxn"] + p["bxn"] + r * (h @ p["Whn"] + p["bhn"]))
        return (1 - z) * n + z * h
