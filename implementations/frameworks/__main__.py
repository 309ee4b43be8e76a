"""``python -m conformance.implementations.frameworks``: the earlier name of
``python -m conformance.commands.frameworks_grade`` (grading framework GRUs in this environment),
kept so that it still works; the command itself lives among the commands."""

import sys

from conformance.commands.frameworks_grade import main

if __name__ == "__main__":
    sys.exit(main())
