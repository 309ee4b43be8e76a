"""Hypothesis profiles. Grading is derandomized and keeps no example database:
implementations share one test function, so a database would replay one
implementation's counterexample on another."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

COMMON = dict(
    derandomize=True,
    database=None,
    deadline=None,  # a separate timeout catches hangs; per-example deadlines flake
    print_blob=False,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PROFILES = {
    "quick": settings(max_examples=8, **COMMON),
    "grade": settings(max_examples=25, **COMMON),
    "thorough": settings(max_examples=250, **COMMON),
}

DEFAULT_PROFILE = "grade"


def register_profiles() -> None:
    for name, profile in PROFILES.items():
        settings.register_profile(name, profile)


# Registered on import (the plugin imports this module while pytest parses its
# options), so ``--hypothesis-profile quick`` finds the profile when hypothesis'
# own plugin loads it, which happens before any plugin's pytest_configure.
register_profiles()
