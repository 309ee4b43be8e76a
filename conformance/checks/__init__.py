"""The checks, one module per family. Each test is one check of the catalogue
(see ``conformance.cases.catalogue``); ``subject`` is the implementation under test,
parametrized by the plugin over every implementation being graded."""
