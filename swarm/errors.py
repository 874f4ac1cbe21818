"""Errors raised by the swarm cores, all rooted at :class:`agents.errors.RaymasError`.

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

import difflib

from agents.errors import RaymasError

__all__ = ["SwarmError", "TSPLIBError", "UnknownNameError"]


class SwarmError(RaymasError):
    """A swarm problem, option or run request is invalid."""


class UnknownNameError(SwarmError):
    """A registry lookup (benchmark, topology, strategy...) named nothing known."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = known
        super().__init__(kind, name, known)

    def __str__(self) -> str:
        close = difflib.get_close_matches(self.name, self.known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown {self.kind} {self.name!r}{hint} (known: {', '.join(self.known)})"


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
