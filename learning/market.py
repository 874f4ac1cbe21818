"""The task market: agents compete or cooperate for tasks (pure NumPy dynamics).

A market has ``n_slots`` slots, each empty (0) or holding a task of type
``1 .. n_task_types``.  Every step each agent picks a slot (action ``k`` takes
slot ``k - 1``) or idles (action 0), all at once:

- alone on a task: it completes the task and earns its skill for that type
  (``skills[agent, type - 1]``, in ``[0, 1]``); the slot empties;
- two or more on one task: a collision; each pays ``collision_penalty`` and the
  task stays;
- on an empty slot: it pays ``empty_cost``; idling pays ``idle_cost``.

In ``"cooperative"`` mode every agent receives the team's summed reward; in
``"competitive"`` mode each keeps its own.  Then each empty slot receives a new
task of a random type with probability ``spawn_prob``.  An episode lasts
``horizon`` steps.  The gymnasium views live in :mod:`learning.envs`.

Example:
    >>> market = TaskMarket(MarketConfig(n_agents=2, n_task_types=2, n_slots=2, spawn_prob=1.0))
    >>> market.reset(np.random.default_rng(0))
    >>> market.slots = np.array([1, 2])
    >>> rewards, info = market.step([1, 2])
    >>> rewards.tolist(), info["completed"]
    ([1.0, 1.0], 2)
    >>> market.slots = np.array([1, 2])
    >>> market.step([1, 1])[0].tolist()
    [-0.5, -0.5]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from learning.errors import LearningError, UnknownNameError

__all__ = ["MarketConfig", "TaskMarket", "default_skills"]

Mode = Literal["competitive", "cooperative"]


def default_skills(n_agents: int, n_task_types: int, low: float = 0.2) -> np.ndarray:
    """Specialists: agent ``i`` scores 1 on type ``i mod n_task_types``, ``low`` elsewhere.

    Example:
        >>> default_skills(2, 3).tolist()
        [[1.0, 0.2, 0.2], [0.2, 1.0, 0.2]]
    """
    skills = np.full((n_agents, n_task_types), low)
    skills[np.arange(n_agents), np.arange(n_agents) % n_task_types] = 1.0
    return skills


@dataclass(frozen=True)
class MarketConfig:
    """Settings of a :class:`TaskMarket` (``skills``: ``None`` means :func:`default_skills`)."""

    n_agents: int = 2
    n_task_types: int = 2
    n_slots: int = 3
    horizon: int = 50
    spawn_prob: float = 0.5
    mode: Mode = "competitive"
    collision_penalty: float = 0.5
    empty_cost: float = 0.1
    idle_cost: float = 0.0
    skills: tuple[tuple[float, ...], ...] | None = None

    def validate(self) -> None:
        """Raise :class:`LearningError` naming the first bad setting."""
        if self.mode not in ("competitive", "cooperative"):
            raise UnknownNameError("market mode", self.mode, ["competitive", "cooperative"])
        for name in ("n_agents", "n_task_types", "n_slots", "horizon"):
            if getattr(self, name) < 1:
                raise LearningError(f"MarketConfig.{name} must be >= 1, got "
                                    f"{getattr(self, name)}")
        if not 0.0 <= self.spawn_prob <= 1.0:
            raise LearningError(f"MarketConfig.spawn_prob must be in [0, 1], got "
                                f"{self.spawn_prob}")
        if self.skills is not None:
            shape = np.shape(self.skills)
            if shape != (self.n_agents, self.n_task_types):
                raise LearningError(f"MarketConfig.skills has shape {shape}, expected "
                                    f"{(self.n_agents, self.n_task_types)}")

    def skill_matrix(self) -> np.ndarray:
        """The ``(n_agents, n_task_types)`` skills as an array."""
        if self.skills is None:
            return default_skills(self.n_agents, self.n_task_types)
        return np.asarray(self.skills, dtype=float)


class TaskMarket:
    """The market's state (``slots``, step ``t``) and its synchronous step."""

    def __init__(self, config: MarketConfig) -> None:
        config.validate()
        self.config = config
        self.skills = config.skill_matrix()
        self.slots = np.zeros(config.n_slots, dtype=np.int64)
        self.t = 0
        self._rng = np.random.default_rng(0)

    @property
    def n_actions(self) -> int:
        """Idle plus one action per slot."""
        return self.config.n_slots + 1

    @property
    def truncated(self) -> bool:
        """The horizon is reached."""
        return self.t >= self.config.horizon

    def reset(self, rng: np.random.Generator) -> None:
        """Empty the market, restart the clock and spawn the first tasks with ``rng``."""
        self._rng = rng
        self.slots[:] = 0
        self.t = 0
        self._spawn()

    def _spawn(self) -> None:
        empty = self.slots == 0
        arrive = self._rng.random(self.config.n_slots) < self.config.spawn_prob
        types = self._rng.integers(1, self.config.n_task_types + 1, size=self.config.n_slots)
        self.slots = np.where(empty & arrive, types, self.slots)

    def step(self, actions: Sequence[int] | np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """Apply one joint action; return per-agent rewards and ``completed``/``collisions``."""
        cfg = self.config
        acts = np.asarray(actions, dtype=np.int64)
        if acts.shape != (cfg.n_agents,) or acts.min() < 0 or acts.max() > cfg.n_slots:
            raise LearningError(f"expected {cfg.n_agents} actions in 0..{cfg.n_slots}, got "
                                f"{list(actions)}")
        picks = np.bincount(acts, minlength=cfg.n_slots + 1)
        rewards = np.zeros(cfg.n_agents)
        done_slots: list[int] = []
        collisions = 0
        for agent, action in enumerate(acts):
            if action == 0:
                rewards[agent] = 0.0 - cfg.idle_cost
                continue
            task = self.slots[action - 1]
            if task == 0:
                rewards[agent] = 0.0 - cfg.empty_cost
            elif picks[action] > 1:
                rewards[agent] = 0.0 - cfg.collision_penalty
                collisions += 1
            else:
                rewards[agent] = self.skills[agent, task - 1]
                done_slots.append(int(action - 1))
        self.slots[done_slots] = 0
        if cfg.mode == "cooperative":
            rewards[:] = rewards.sum()
        self.t += 1
        self._spawn()
        return rewards, {"completed": len(done_slots), "collisions": collisions}

    def greedy_actions(self, rng: np.random.Generator) -> np.ndarray:
        """Each agent's myopic choice: a task it is best at (ties at random), else idle."""
        acts = np.zeros(self.config.n_agents, dtype=np.int64)
        full = np.flatnonzero(self.slots)
        if full.size == 0:
            return acts
        for agent in range(self.config.n_agents):
            value = self.skills[agent, self.slots[full] - 1]
            best = full[value == value.max()]
            acts[agent] = best[rng.integers(best.size)] + 1
        return acts

    def render(self) -> str:
        """One line: the step and each slot (``.`` for empty, else the task type)."""
        cells = " ".join("." if s == 0 else str(s) for s in self.slots)
        return f"t={self.t:3d} [{cells}]"
