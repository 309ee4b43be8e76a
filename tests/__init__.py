"""The suite's own tests: the oracle, mutants caught, correct implementations passing,
the registry's expectations and the pytest plugin."""
