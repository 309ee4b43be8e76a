"""Adapters of the registered implementations, one module per implementation
(or per document), and the registry that lists them (``registry.py``)."""
