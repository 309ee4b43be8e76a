"""Hypothesis profiles. Grading is reproducible (derandomized here, and seeded per check id
by ``conformance.grading.engine``) and keeps no example database:
implementations share one test function, so a database would replay one
implementation's counterexample on another.

* ``quick``: for development, about half of grade's examples.
* ``grade`` (default): for grading. The self-tests hold it to catching every
  mutant of their catalogue and count how many examples each needs
  (``python -m tests.catches_bugs.catch_counts`` prints them for every profile).
* ``thorough``: for release checks; over ten times the examples, and hypothesis'
  explain phase, which re-runs a failing check a few hundred times to say which
  parts of the minimal example matter. quick and grade leave it out: it costs
  seconds per failing check and grading reports the minimal case anyway.

No per-example deadline (timings flake on a loaded machine); hangs are caught
by the per-process time limit of ``python -m conformance grade-folder``.

Every profile reports every distinct failure a check finds (``report_multiple_bugs``):
once a check has failed, hypothesis keeps drawing cases (at least 10 calls in all,
within ``max_examples``) and shrinks each distinct failure on its own. A failure that
happens only at some sizes (an adapter that crashes for a batch of one) therefore does
not hide another at the sizes where the implementation runs: shrinking the second one
towards the crashing sizes would change the failure, so its minimal case stays where
it happens. ``conformance.grading.outcome`` keeps them all; the report groups equal ones.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

COMMON = dict(
    derandomize=True,
    database=None,
    deadline=None,  # a separate time limit catches hangs; per-example deadlines flake
    print_blob=False,
    report_multiple_bugs=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Every phase but explain (see above).
NO_EXPLAIN = tuple(p for p in Phase if p != Phase.explain)

PROFILES = {
    "quick": settings(max_examples=8, phases=NO_EXPLAIN, **COMMON),
    # 15: every mutant-check pair of the self-test catalogue fails within it, with a
    # margin (python -m tests.catches_bugs.catch_counts; the README quotes the figures).
    "grade": settings(max_examples=15, phases=NO_EXPLAIN, **COMMON),
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
