"""Cases layer: generated cases, comparisons, strategies, the checks' catalogue; imports base and model."""
