"""The task market as an RLlib ``MultiAgentEnv``, its policy mappings, and env construction.

:class:`RLTaskMarketEnv` is the thin RLlib shell around
:class:`learning.envs.TaskMarketMultiAgentEnv` (which already speaks RLlib's
dict-of-agents API without importing Ray): it derives from RLlib's
``MultiAgentEnv`` so that RLlib's multi-agent env runner and env checker accept
it, and uses one-hot (``"box"``) observations unless told otherwise, since
RLlib's default networks need vectors.  :func:`register_envs` names it
``raymas/TaskMarket`` for RLlib.

Policy mappings are module-level functions, so a checkpointed algorithm config
that refers to them pickles by reference and loads in a fresh process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gymnasium import spaces
from ray.rllib.env.multi_agent_env import MultiAgentEnv
from ray.rllib.utils.typing import MultiAgentDict

from learning.envs import TaskMarketMultiAgentEnv
from learning.rllib.config import MULTI_AGENT_ENV

__all__ = ["SHARED_POLICY", "RLTaskMarketEnv", "make_env", "per_agent_policy", "policy_ids",
           "policy_mapping", "register_envs", "shared_policy"]

#: the id of the one policy every agent uses with ``multi_agent: shared``
SHARED_POLICY = "shared"


class RLTaskMarketEnv(MultiAgentEnv):
    """RLlib view of the multi-agent task market; ``config`` holds its keyword arguments.

    Args:
        config: :class:`~learning.envs.TaskMarketMultiAgentEnv` arguments (RLlib passes an
            ``EnvContext``, a dict); ``observation`` defaults to ``"box"``.
    """

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        kwargs = {"observation": "box", **dict(config or {})}
        self.core = TaskMarketMultiAgentEnv(**kwargs)
        self.possible_agents = list(self.core.possible_agents)
        self.agents = list(self.possible_agents)
        self._agent_ids = set(self.possible_agents)
        self.observation_spaces: dict[Any, spaces.Space[Any]] = dict(
            self.core.observation_spaces)
        self.action_spaces: dict[Any, spaces.Space[Any]] = dict(self.core.action_spaces)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None,
              ) -> tuple[Any, Any]:
        obs, infos = self.core.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        return obs, infos

    def step(self, action_dict: MultiAgentDict) -> tuple[Any, Any, Any, Any, Any]:
        actions = {str(agent): action for agent, action in action_dict.items()}
        obs, rewards, terminateds, truncateds, infos = self.core.step(actions)
        if terminateds["__all__"] or truncateds["__all__"]:
            self.agents = []
        return obs, rewards, terminateds, truncateds, infos

    def render(self) -> Any:
        return self.core.render()


def shared_policy(agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
    """Every agent acts with the one shared policy."""
    return SHARED_POLICY


def per_agent_policy(agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
    """Each agent has its own policy, named like the agent."""
    return str(agent_id)


def policy_mapping(mode: str) -> Any:
    """The mapping function of a :attr:`~learning.rllib.config.RLConfig.policy_mode`."""
    return shared_policy if mode == "shared" else per_agent_policy


def policy_ids(mode: str, env_config: Mapping[str, Any]) -> list[str]:
    """The policy ids of a multi-agent run: ``["shared"]`` or one per agent."""
    if mode == "shared":
        return [SHARED_POLICY]
    return list(TaskMarketMultiAgentEnv(**{k: v for k, v in env_config.items()
                                           if k != "observation"}).possible_agents)


def _create_task_market(env_context: Mapping[str, Any]) -> RLTaskMarketEnv:
    return RLTaskMarketEnv(env_context)


def register_envs() -> None:
    """Make ``raymas/TaskMarket`` known to RLlib (Tune's env registry); idempotent."""
    from ray.tune.registry import register_env

    register_env(MULTI_AGENT_ENV, _create_task_market)


def make_env(env: str, env_config: Mapping[str, Any] | None = None) -> Any:
    """A fresh environment as RLlib would build it: the task market or ``gymnasium.make``."""
    if env == MULTI_AGENT_ENV:
        return RLTaskMarketEnv(env_config)
    import gymnasium

    import learning.envs  # noqa: F401  (registers raymas/TaskMarket-v0)

    return gymnasium.make(env, **dict(env_config or {}))
