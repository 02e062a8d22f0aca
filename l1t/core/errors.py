"""The one error type for bad input, shared by every l1t package."""
from __future__ import annotations


class L1TInputError(ValueError):
    """Bad input: names the offending file (or source) and field.

    The ``l1t`` command turns it into one line on stderr and exit status 2.
    """

    def __init__(self, source: object, problem: str, field: str | None = None):
        self.source = str(source)
        self.field = field
        self.problem = problem
        where = f"{self.source}" + (f" [{field}]" if field else "")
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):
        # the three arguments, so that the error crosses process boundaries (worker pools, dask)
        return type(self), (self.source, self.problem, self.field)
