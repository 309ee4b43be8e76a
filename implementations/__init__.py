"""Adapters of the registered implementations, one module per implementation
(or per document), and the registry that lists them (``registry.py``).

Imported as ``conformance.implementations``: the package is installed inside the suite's
own (pyproject.toml's package-dir), so that an installed suite puts no generic top-level
name beside a user's packages."""
