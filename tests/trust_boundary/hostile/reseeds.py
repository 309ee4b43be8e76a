"""Reseeds torch's global random generator on every call."""

import torch

from _gru import HonestGRU


class Adapter(HonestGRU):
    def run(self, gru, x, h0):
        torch.manual_seed(1234)
        return gru(x, h0)
