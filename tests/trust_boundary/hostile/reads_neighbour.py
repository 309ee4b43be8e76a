"""A wrong GRU (r and z swapped) that tries to use another submission of the same folder
(honest_a.py) instead of its own code."""

from pathlib import Path

from _gru import HonestGRU, SwappedGRU

_neighbour = Path(__file__).with_name("honest_a.py")
try:
    _source = _neighbour.read_text()
except OSError as exc:
    _source = ""
    print(f"could not read {_neighbour}: {exc}")
print(f"read {len(_source)} characters of {_neighbour.name}")
Base = HonestGRU if "class Adapter(HonestGRU)" in _source else SwappedGRU


class Adapter(Base):
    pass
