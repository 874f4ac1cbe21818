"""The one error the planners raise: :class:`PlanError`.

It derives from :class:`agents.errors.PlanningError` (and so from
:class:`~agents.errors.RaymasError`).  ``reason`` says which check failed and
``nodes`` names the offending nodes or tasks, so callers can react without
parsing the message.  All fields travel in ``args``, so the error pickles
across actor boundaries.

Example:
    >>> err = PlanError("cycle: a -> b -> a", "cycle", ("a", "b"))
    >>> (str(err), err.reason, err.nodes)
    ('cycle: a -> b -> a', 'cycle', ('a', 'b'))
    >>> import pickle
    >>> pickle.loads(pickle.dumps(err)).nodes
    ('a', 'b')
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.errors import PlanningError

__all__ = ["PlanError"]


class PlanError(PlanningError):
    """A plan is invalid, or no plan could be made.

    ``reason`` is one of ``"invalid"``, ``"duplicate"``, ``"missing_input"``,
    ``"unknown_kind"``, ``"cycle"``, ``"no_method"``, ``"depth"``,
    ``"search_limit"``, ``"template"``, ``"unreachable"``, ``"repair"``.
    """

    def __init__(self, message: str, reason: str = "invalid", nodes: Sequence[str] = ()) -> None:
        self.message = message
        self.reason = reason
        self.nodes = tuple(nodes)
        super().__init__(message, reason, self.nodes)

    def __str__(self) -> str:
        return self.message
