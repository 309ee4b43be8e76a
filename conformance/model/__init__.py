"""Model layer: the GRU equations, the oracle, the torch references, the adapter contract; imports base."""
