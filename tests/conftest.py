"""pytester drives the grading plugin in test_plugin.py."""

pytest_plugins = ["pytester"]
