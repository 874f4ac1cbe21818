"""Gymnasium views of the task market (:mod:`learning.market`).

- :class:`TaskMarketEnv`: a single-agent ``gymnasium.Env``; the learner plays
  agent 0, the other agents follow a built-in policy (``"greedy"`` or
  ``"random"``).  Registered as ``raymas/TaskMarket-v0`` when this module is
  imported (``gymnasium.make("learning.envs:raymas/TaskMarket-v0")`` imports it).
- :class:`TaskMarketMultiAgentEnv`: every agent learns; the dict-of-agents API of
  RLlib's ``MultiAgentEnv`` (``reset() -> (obs, infos)``, ``step(actions) ->
  (obs, rewards, terminateds, truncateds, infos)`` with ``"__all__"`` keys,
  ``possible_agents``, ``observation_spaces``, ``action_spaces``) without
  importing Ray; the RLlib shell wraps it.

Observations encode the slots and the observing agent's index: ``"discrete"``
(one integer, for tabular learners), ``"multidiscrete"`` or ``"box"`` (one-hot,
float32, for neural networks).  Actions are ``Discrete(n_slots + 1)``.

Example:
    >>> env = TaskMarketEnv(n_slots=2, horizon=5)
    >>> obs, info = env.reset(seed=0)
    >>> env.observation_space, env.action_space
    (Discrete(18), Discrete(3))
    >>> multi = TaskMarketMultiAgentEnv(n_agents=2, observation="box")
    >>> obs, infos = multi.reset(seed=0)
    >>> sorted(obs), obs["agent_0"].shape
    (['agent_0', 'agent_1'], (11,))
    >>> _, rewards, terminateds, truncateds, _ = multi.step({"agent_0": 0, "agent_1": 0})
    >>> rewards, terminateds["__all__"], truncateds["__all__"]
    ({'agent_0': 0.0, 'agent_1': 0.0}, False, False)
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding

from learning.errors import LearningError, UnknownNameError
from learning.market import MarketConfig, Mode, TaskMarket

__all__ = ["ENV_ID", "ObservationKind", "TaskMarketEnv", "TaskMarketMultiAgentEnv",
           "market_observation_space"]

ENV_ID = "raymas/TaskMarket-v0"
ObservationKind = Literal["discrete", "multidiscrete", "box"]
_KINDS = ["box", "discrete", "multidiscrete"]


def market_observation_space(config: MarketConfig, kind: ObservationKind) -> spaces.Space[Any]:
    """The observation space of one agent for the ``kind`` of encoding.

    Example:
        >>> market_observation_space(MarketConfig(n_slots=2), "multidiscrete")
        MultiDiscrete([3 3 2])
    """
    levels = config.n_task_types + 1
    if kind == "discrete":
        return spaces.Discrete(config.n_agents * levels ** config.n_slots)
    if kind == "multidiscrete":
        return spaces.MultiDiscrete([levels] * config.n_slots + [config.n_agents])
    if kind == "box":
        size = config.n_slots * levels + config.n_agents
        return spaces.Box(0.0, 1.0, shape=(size,), dtype=np.float32)
    raise UnknownNameError("observation kind", str(kind), _KINDS)


def _observe(market: TaskMarket, agent: int, kind: ObservationKind) -> Any:
    cfg = market.config
    levels = cfg.n_task_types + 1
    if kind == "discrete":
        code = int(np.dot(market.slots, levels ** np.arange(cfg.n_slots)))
        return agent + cfg.n_agents * code
    if kind == "multidiscrete":
        return np.append(market.slots, agent).astype(np.int64)
    out = np.zeros(cfg.n_slots * levels + cfg.n_agents, dtype=np.float32)
    out[np.arange(cfg.n_slots) * levels + market.slots] = 1.0
    out[cfg.n_slots * levels + agent] = 1.0
    return out


def _config(n_agents: int, n_task_types: int, n_slots: int, horizon: int, spawn_prob: float,
            mode: Mode, collision_penalty: float, empty_cost: float,
            skills: Any) -> MarketConfig:
    frozen = None if skills is None else tuple(tuple(float(x) for x in row) for row in skills)
    return MarketConfig(n_agents=n_agents, n_task_types=n_task_types, n_slots=n_slots,
                        horizon=horizon, spawn_prob=spawn_prob, mode=mode,
                        collision_penalty=collision_penalty, empty_cost=empty_cost,
                        skills=frozen)


class TaskMarketEnv(gymnasium.Env[Any, np.int64]):
    """Single-agent view: the learner is agent 0, the others follow ``others``.

    Args:
        n_agents, n_task_types, n_slots, horizon, spawn_prob, mode, collision_penalty,
        empty_cost, skills: the :class:`~learning.market.MarketConfig` settings.
        others: ``"greedy"`` (myopic best task) or ``"random"`` for agents 1 ..
        observation: ``"discrete"``, ``"multidiscrete"`` or ``"box"``.
        render_mode: ``None`` or ``"ansi"``.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, n_agents: int = 2, n_task_types: int = 2, n_slots: int = 3,
                 horizon: int = 50, spawn_prob: float = 0.5, mode: Mode = "competitive",
                 collision_penalty: float = 0.5, empty_cost: float = 0.1,
                 skills: Any = None, others: Literal["greedy", "random"] = "greedy",
                 observation: ObservationKind = "discrete",
                 render_mode: str | None = None) -> None:
        if others not in ("greedy", "random"):
            raise UnknownNameError("policy of the other agents", others, ["greedy", "random"])
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise UnknownNameError("render mode", render_mode, ["ansi"])
        self.market = TaskMarket(_config(n_agents, n_task_types, n_slots, horizon,
                                         spawn_prob, mode, collision_penalty, empty_cost,
                                         skills))
        self.others = others
        self.kind = observation
        self.render_mode = render_mode
        self.observation_space = market_observation_space(self.market.config, observation)
        self.action_space = spaces.Discrete(self.market.n_actions)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self.market.reset(self.np_random)
        return _observe(self.market, 0, self.kind), {"t": 0}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise LearningError(f"action {action!r} outside {self.action_space}")
        if self.others == "greedy":
            joint = self.market.greedy_actions(self.np_random)
        else:
            joint = self.np_random.integers(self.market.n_actions,
                                            size=self.market.config.n_agents)
        joint[0] = int(action)
        rewards, info = self.market.step(joint)
        info["t"] = self.market.t
        obs = _observe(self.market, 0, self.kind)
        return obs, float(rewards[0]), False, self.market.truncated, info

    def render(self) -> str | None:  # type: ignore[override]
        return self.market.render() if self.render_mode == "ansi" else None


class TaskMarketMultiAgentEnv:
    """Every agent learns: RLlib's ``MultiAgentEnv`` conventions, without Ray.

    Agents are ``"agent_0" .. "agent_{n-1}"``; all act every step.  An agent left
    out of an action dict idles; an unknown agent id is an error.  Arguments as
    :class:`TaskMarketEnv` (without ``others`` and ``render_mode``).
    """

    def __init__(self, n_agents: int = 2, n_task_types: int = 2, n_slots: int = 3,
                 horizon: int = 50, spawn_prob: float = 0.5, mode: Mode = "competitive",
                 collision_penalty: float = 0.5, empty_cost: float = 0.1,
                 skills: Any = None, observation: ObservationKind = "discrete") -> None:
        self.market = TaskMarket(_config(n_agents, n_task_types, n_slots, horizon,
                                         spawn_prob, mode, collision_penalty, empty_cost,
                                         skills))
        self.kind = observation
        self.possible_agents = [f"agent_{i}" for i in range(n_agents)]
        self.agents = list(self.possible_agents)
        obs_space = market_observation_space(self.market.config, observation)
        self.observation_spaces: dict[str, spaces.Space[Any]] = dict.fromkeys(
            self.possible_agents, obs_space)
        self.action_spaces: dict[str, spaces.Space[Any]] = {
            a: spaces.Discrete(self.market.n_actions) for a in self.possible_agents}
        self.np_random, _ = seeding.np_random(None)

    @property
    def num_agents(self) -> int:
        """Agents currently acting."""
        return len(self.agents)

    def get_observation_space(self, agent_id: str) -> spaces.Space[Any]:
        """The observation space of ``agent_id``."""
        return self.observation_spaces[agent_id]

    def get_action_space(self, agent_id: str) -> spaces.Space[Any]:
        """The action space of ``agent_id``."""
        return self.action_spaces[agent_id]

    def _obs(self) -> dict[str, Any]:
        return {a: _observe(self.market, i, self.kind)
                for i, a in enumerate(self.possible_agents)}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None,
              ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Start an episode; ``seed`` reseeds the environment's generator."""
        if seed is not None:
            self.np_random, _ = seeding.np_random(seed)
        self.agents = list(self.possible_agents)
        self.market.reset(self.np_random)
        return self._obs(), {a: {} for a in self.agents}

    def step(self, action_dict: dict[str, Any]) -> tuple[
            dict[str, Any], dict[str, float], dict[str, bool], dict[str, bool],
            dict[str, dict[str, Any]]]:
        """Apply all agents' actions at once."""
        unknown = sorted(set(action_dict) - set(self.possible_agents))
        if unknown:
            raise LearningError(f"unknown agents {unknown} (agents: {self.possible_agents})")
        joint = [int(action_dict.get(a, 0)) for a in self.possible_agents]
        rewards, info = self.market.step(joint)
        truncated = self.market.truncated
        names = self.possible_agents
        terminateds = {**dict.fromkeys(names, False), "__all__": False}
        truncateds = {**dict.fromkeys(names, truncated), "__all__": truncated}
        infos = {a: {"t": self.market.t, **info} for a in names}
        return (self._obs(), {a: float(r) for a, r in zip(names, rewards, strict=True)},
                terminateds, truncateds, infos)

    def render(self) -> str:
        """The market as one line of text."""
        return self.market.render()


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="learning.envs:TaskMarketEnv")
