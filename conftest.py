"""Registers the conformance plugin for every pytest run in this repository:
the checks (``conformance/checks``) and the suite's own tests (``tests``)."""

pytest_plugins = ["conformance.commands.grading_plugin"]
