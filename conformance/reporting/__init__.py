"""Reporting layer: the HTML report, the badge, merged results, benchmarks; imports grading and below."""
