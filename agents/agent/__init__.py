"""The agent: a plain class (:mod:`agents.agent.core`), its Ray actor shell, task kinds.

``core`` is the agent's logic with no Ray in it; ``actor`` is the thin shell
that adds heartbeats, the bus and Ray's view of the agent; ``kinds`` is the
registry of task kinds (``builtin_kinds`` the ones raymas ships); ``spawn``
starts agent actors after checking their resources (``resources``);
``bidding`` is adaptive contract-net bidding.  Importing this package does not
import Ray.
"""

from __future__ import annotations

from agents.agent.core import Agent

__all__ = ["Agent"]
