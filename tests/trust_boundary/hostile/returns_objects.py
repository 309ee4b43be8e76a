"""A wrong GRU whose results are not arrays: objects that would run code if the grader
unpickled them, or that pretend to be arrays."""

import os

import torch

from _gru import SwappedGRU


class Payload:
    def __reduce__(self):
        return (os.system, ("echo unpickled > /tmp/pwned",))

    def __array__(self, dtype=None):
        return torch.zeros(1).numpy()


class Adapter(SwappedGRU):
    def run(self, gru, x, h0):
        output, h_n = gru(x, h0)
        return Payload(), h_n
