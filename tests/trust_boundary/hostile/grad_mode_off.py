"""Turns autograd off for the whole process after each forward (torch.set_grad_enabled(False)
where ``with torch.no_grad():`` was meant). Its numbers and gradients are right."""

import torch

from _gru import HonestGRU


class Adapter(HonestGRU):
    def run(self, gru, x, h0):
        result = gru(x, h0)
        torch.set_grad_enabled(False)
        return result
