"""Grading layer: running the checks, finding implementations, outcomes, JSON results; imports the checks and below."""
