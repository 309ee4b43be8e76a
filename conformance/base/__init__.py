"""Base layer: plain data and facts, no GRU; imports nothing else of the suite."""
