"""The task market: gymnasium's checker passes; the multi-agent API has RLlib's shape."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from learning import LearningError, Linear, MarketConfig, QLearner, TaskMarket, UnknownNameError
from learning.envs import ENV_ID, TaskMarketEnv, TaskMarketMultiAgentEnv


@pytest.mark.parametrize("kind", ["discrete", "multidiscrete", "box"])
def test_single_agent_env_passes_the_gymnasium_checker(kind: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(ENV_ID, observation=kind, render_mode="ansi")
        check_env(env.unwrapped)
    env.reset(seed=0)
    assert isinstance(env.render(), str)


def test_episode_truncates_at_the_horizon() -> None:
    env = TaskMarketEnv(horizon=7)
    env.reset(seed=1)
    flags = [env.step(env.action_space.sample())[2:4] for _ in range(7)]
    assert flags[-1] == (False, True) and all(f == (False, False) for f in flags[:-1])


def test_q_learning_improves_in_the_market() -> None:
    env = TaskMarketEnv(horizon=30)
    assert isinstance(env.observation_space, gym.spaces.Discrete)
    assert isinstance(env.action_space, gym.spaces.Discrete)
    agent = QLearner(int(env.observation_space.n), int(env.action_space.n), alpha=0.2,
                     gamma=0.9, epsilon=Linear(1.0, 0.05, 300), rng=0)
    history = agent.train(env, 400, seed=0, eval_every=400, eval_episodes=20, eval_seed=5)
    before, after = history.evaluations[0][1], history.evaluations[-1][1]
    assert after.mean_return > before.mean_return + 5.0, (before, after)


def multi_rollout(env: TaskMarketMultiAgentEnv, seed: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    out = []
    while True:
        actions = {a: int(rng.integers(env.action_spaces[a].n))  # type: ignore[attr-defined]
                   for a in env.agents}
        _, rewards, terms, truncs, _ = env.step(actions)
        out.append(rewards)
        if terms["__all__"] or truncs["__all__"]:
            return out


def test_multi_agent_api_shape() -> None:
    env = TaskMarketMultiAgentEnv(n_agents=3, n_task_types=2, horizon=4,
                                  observation="multidiscrete")
    assert env.possible_agents == ["agent_0", "agent_1", "agent_2"] == env.agents
    obs, infos = env.reset(seed=0)
    assert set(obs) == set(infos) == set(env.possible_agents)
    for agent, value in obs.items():
        assert env.get_observation_space(agent).contains(value)
        assert value[-1] == int(agent.split("_")[1])  # the agent sees who it is
    obs, rewards, terms, truncs, infos = env.step({"agent_0": 1})  # the others idle
    assert set(rewards) == set(env.possible_agents)
    assert set(terms) == set(truncs) == {*env.possible_agents, "__all__"}
    assert all(env.observation_spaces[a].contains(o) for a, o in obs.items())
    with pytest.raises(LearningError, match="unknown agents"):
        env.step({"agent_9": 0})


def test_multi_agent_env_is_deterministic_per_seed() -> None:
    env = TaskMarketMultiAgentEnv(horizon=20)
    assert multi_rollout(env, 3) == multi_rollout(env, 3)
    assert multi_rollout(env, 3) != multi_rollout(env, 4)
    assert len(multi_rollout(env, 3)) == 20


def test_cooperative_mode_shares_the_reward() -> None:
    env = TaskMarketMultiAgentEnv(n_agents=2, mode="cooperative", spawn_prob=1.0)
    env.reset(seed=0)
    env.market.slots = np.array([1, 2, 1])
    _, rewards, *_ = env.step({"agent_0": 1, "agent_1": 2})
    assert rewards == {"agent_0": 2.0, "agent_1": 2.0}


def test_market_rules_and_config_errors() -> None:
    market = TaskMarket(MarketConfig(n_agents=2, n_slots=2, spawn_prob=0.0, empty_cost=0.1))
    market.reset(np.random.default_rng(0))
    market.slots = np.array([2, 0])
    rewards, info = market.step([2, 1])  # agent 0 on the empty slot, agent 1 on its type
    assert rewards.tolist() == [-0.1, 1.0] and info["completed"] == 1
    assert market.slots.tolist() == [0, 0]
    with pytest.raises(LearningError, match="expected 2 actions"):
        market.step([0, 3])
    with pytest.raises(UnknownNameError, match="did you mean 'cooperative'"):
        TaskMarket(MarketConfig(mode="cooperativ"))  # type: ignore[arg-type]
    with pytest.raises(LearningError, match="skills has shape"):
        TaskMarket(MarketConfig(skills=((1.0,),)))
