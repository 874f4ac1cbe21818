"""Policy gradient: REINFORCE with a baseline, its torch-free core and its task kind.

- :mod:`learning.pg.core` — returns, advantages, trajectories, the env contract
  (NumPy only);
- :mod:`learning.pg.reinforce` — :class:`~learning.pg.reinforce.Reinforce`, the
  learner (PyTorch);
- :mod:`learning.pg.task` — the ``policy_gradient`` task kind, registered when an
  agent first runs it.

Importing this package imports neither torch nor gymnasium; each name loads its
module on first use (``learning.pg.advantages`` stays torch-free).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["BASELINES", "Baseline", "BoxDiscreteEnv", "Reinforce", "Trajectory", "advantages",
           "discounted_returns", "env_spaces"]

_WHERE = {"BASELINES": "core", "Baseline": "core", "BoxDiscreteEnv": "core",
          "Trajectory": "core", "advantages": "core", "discounted_returns": "core",
          "env_spaces": "core", "Reinforce": "reinforce"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"learning.pg.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'learning.pg' has no attribute {name!r}")
