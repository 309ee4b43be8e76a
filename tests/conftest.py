"""pytester drives the grading plugin in test_plugin.py; ``-m "not slow"`` is the quick
subset (README). The plugin's scheduler keeps each ``xdist_group`` in one worker."""

pytest_plugins = ["pytester"]
