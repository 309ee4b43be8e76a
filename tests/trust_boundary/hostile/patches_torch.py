"""Replaces torch.sigmoid for the whole process with a wrapper of its own (the same values)."""

import torch

from _gru import HonestGRU

_sigmoid = torch.sigmoid


def fast_sigmoid(a, *args, **kwargs):
    return _sigmoid(a, *args, **kwargs)


class Adapter(HonestGRU):
    def run(self, gru, x, h0):
        torch.sigmoid = fast_sigmoid
        return gru(x, h0)
