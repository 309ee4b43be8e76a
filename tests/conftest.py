"""What every folder of the suite's tests shares. pytester drives the grading plugin in
promises/test_plugin.py (``pytest_plugins`` is honoured only in a top-level conftest, so it
stays here); ``-m "not slow"`` is the quick subset (README). The plugin's scheduler keeps
each ``xdist_group`` in one worker, whichever folder its tests are in."""

pytest_plugins = ["pytester"]
