"""Answers unbatched input with a 64 MB output (8M float64 values, where the case needs a
few dozen): the grader refuses it from its declared size, unread, and the check is an
error saying so. Correct otherwise."""

import torch

from _gru import HonestGRU


class Adapter(HonestGRU):
    def run(self, gru, x, h0):
        if x.dim() == 2:
            return torch.zeros(8 << 20, dtype=torch.float64), gru(x, h0)[1]
        return gru(x, h0)
