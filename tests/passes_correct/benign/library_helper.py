"""A correct GRU (nn.GRU itself) whose module has a library start a helper process as it
is imported: torch's DataLoader starts a worker process and keeps it while its iterator
lives, as OpenVINO's import has its telemetry sender start one. The process is torch's,
not the GRU's: ``process.global-state`` notes it and passes, however busy the machine."""

import torch
from torch import nn


def _first(batch: list) -> object:
    return batch[0]


_BATCHES = iter(torch.utils.data.DataLoader(list(range(4)), batch_size=1, num_workers=1, collate_fn=_first))
next(_BATCHES)


class HelperGRU(nn.GRU):
    """nn.GRU under another name."""
