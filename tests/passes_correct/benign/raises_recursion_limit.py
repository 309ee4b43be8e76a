"""A correct GRU (nn.GRU itself) whose first call raises the interpreter's recursion limit,
as torch.compile's inductor does on its first compile (``sys.setrecursionlimit(max(limit,
2000))``). A higher limit only lets deeper recursion run: ``process.global-state`` notes
it, keeps it and passes."""

import sys

from torch import nn


class RecursionLimitGRU(nn.GRU):
    """nn.GRU under another name, raising the recursion limit once, when first called."""

    def forward(self, *args, **kwargs):
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 2000))
        return super().forward(*args, **kwargs)
