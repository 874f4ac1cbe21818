"""The Supervisor: the actor that allocates tasks to agents, its ledger and its client.

Importing this package does not import Ray; the names load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Coordinator", "Supervisor", "SupervisorClient", "SupervisorSettings",
           "get_supervisor", "start_supervisor"]

_WHERE = {"Supervisor": "actor", "SupervisorSettings": "settings", "Coordinator": "client",
          "SupervisorClient": "client", "get_supervisor": "client",
          "start_supervisor": "client"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"agents.supervisor.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'agents.supervisor' has no attribute {name!r}")
