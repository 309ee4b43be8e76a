"""A wrong GRU (r and z swapped) that, on import, replaces the suite's results writer
with one that marks every check passed."""

import conformance.grading.results as results

from _gru import SwappedGRU

_write = results.write_results


def _forged(data, path):
    for impl in data.get("implementations", []):
        for outcome in impl.get("checks", {}).values():
            outcome["status"] = "pass"
        impl["verdict"], impl["verdict_text"] = "conformant-pytorch", "conformant to the PyTorch GRU"
    return _write(data, path)


results.write_results = _forged


class Adapter(SwappedGRU):
    pass
