"""The ``l1t`` command: a thin layer over the public functions of datasets, models, firmware,
trigger and validation (see :mod:`l1t.cli`)."""
__version__ = "0.1.0"
