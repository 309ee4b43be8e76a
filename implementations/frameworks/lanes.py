"""``python -m conformance.implementations.frameworks.lanes``: the earlier name of
``python -m conformance.commands.frameworks_lanes`` (every framework lane in its own tox
environment, then one combined report), kept so that it still works; the command itself
lives among the commands."""

import sys

from conformance.commands.frameworks_lanes import main

if __name__ == "__main__":
    sys.exit(main())
