"""Sets torch's default dtype to float64 for the whole process in its forward."""

import torch

from _gru import HonestGRU


class Adapter(HonestGRU):
    def run(self, gru, x, h0):
        torch.set_default_dtype(torch.float64)
        return gru(x, h0)
