"""Errors raised by the swarm cores, all rooted at :class:`messaging.errors.RaymasError`.

Fields are passed to ``super().__init__`` (and ``__reduce__`` where the message
is built from them) so the errors pickle across actor boundaries.

Example:
    >>> err = TSPLIBError("eil51.tsp", "EDGE_WEIGHT_TYPE", "unsupported value 'XRAY1'", line=5)
    >>> str(err)
    "eil51.tsp:5: EDGE_WEIGHT_TYPE: unsupported value 'XRAY1'"
    >>> isinstance(err, SwarmError)
    True
"""

from __future__ import annotations

from messaging import errors
from messaging.errors import RaymasError

__all__ = ["SwarmError", "TSPLIBError", "UnknownNameError"]


class SwarmError(RaymasError):
    """A swarm problem, option or run request is invalid."""


class UnknownNameError(SwarmError, errors.UnknownNameError):
    """A registry lookup (benchmark, topology, strategy...) named nothing known."""


class TSPLIBError(SwarmError):
    """A TSPLIB file is malformed; names the file, the line (when known) and the field."""

    def __init__(self, source: str, field: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.field = field
        self.message = message
        self.line = line
        super().__init__(source, field, message, line)

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.field}: {self.message}"
