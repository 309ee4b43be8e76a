"""A wrong GRU (r and z swapped) that tries to reach the network when it is loaded (to fetch
"better" weights, or to send its inputs away)."""

import socket

from _gru import SwappedGRU

try:
    socket.create_connection(("1.1.1.1", 80), timeout=3).close()
    print("network: connected to 1.1.1.1:80")
except OSError as exc:
    print(f"network: no connection ({exc})")


class Adapter(SwappedGRU):
    pass
