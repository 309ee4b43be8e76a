"""The suite catches bugs: wrong GRUs (mutants) fail the checks their catalogue entries name."""
