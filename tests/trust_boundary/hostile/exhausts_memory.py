"""Tries to allocate 64 GB when it is given a non-contiguous x (a workspace sized from the
wrong stride, say); the worker's memory limit makes the allocation fail. Correct otherwise."""

import torch

from _gru import HonestGRU


class Adapter(HonestGRU):
    def run(self, gru, x, h0):
        if not x.is_contiguous():
            torch.ones(64 << 30, dtype=torch.uint8)
        return gru(x, h0)
