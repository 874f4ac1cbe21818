"""Tabular TD control learns for real, with fixed seeds, on gymnasium's toy-text tasks."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from learning import ExpectedSarsa, LearningError, Linear, QLearner, Sarsa, TabularLearner


def frozen_lake() -> gym.Env:
    return gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True)


def train_frozen_lake(seed: int = 0, episodes: int = 5000) -> QLearner:
    agent = QLearner(16, 4, alpha=Linear(0.1, 0.01, episodes), gamma=0.99,
                     epsilon=Linear(1.0, 0.01, int(episodes * 0.8)), rng=seed)
    agent.train(frozen_lake(), episodes, seed=seed)
    return agent


@pytest.fixture(scope="module")
def lake_agent() -> QLearner:
    return train_frozen_lake()


def test_q_learning_solves_slippery_frozen_lake(lake_agent: QLearner) -> None:
    ev = lake_agent.evaluate(frozen_lake(), 1000, seed=1)
    assert ev.success_rate >= 0.7, ev
    assert ev.mean_return == pytest.approx(ev.success_rate)
    # the known optimal actions away from the holes: left at the start, down-left corner
    assert lake_agent.policy()[0] == 0 and lake_agent.policy()[14] == 1


def test_q_learning_finds_the_cliff_walking_optimum() -> None:
    env = gym.make("CliffWalking-v1")
    agent = QLearner(48, 4, alpha=0.5, gamma=1.0, epsilon=Linear(0.2, 0.0, 300), rng=0)
    history = agent.train(env, 400, seed=0, max_steps=500, eval_every=25, eval_episodes=1)
    assert agent.evaluate(env, 1, seed=0, max_steps=200).mean_return == -13.0
    reached = history.first_reaching(-13.0)
    assert reached is not None and reached <= 200


def test_sarsa_learns_the_safe_cliff_path() -> None:
    env = gym.make("CliffWalking-v1")
    agent = Sarsa(48, 4, alpha=0.5, gamma=1.0, epsilon=Linear(0.2, 0.0, 300), rng=0)
    agent.train(env, 400, seed=0, max_steps=500)
    ret = agent.evaluate(env, 1, seed=0, max_steps=200).mean_return
    assert -17.0 <= ret <= -13.0  # reaches the goal without falling; the textbook safe path


def test_expected_sarsa_reaches_the_goal() -> None:
    env = gym.make("CliffWalking-v1")
    agent = ExpectedSarsa(48, 4, alpha=0.5, gamma=1.0, epsilon=Linear(0.2, 0.0, 300), rng=0)
    agent.train(env, 400, seed=0, max_steps=500)
    assert agent.evaluate(env, 1, seed=0, max_steps=200).mean_return >= -17.0


def test_same_seeds_same_table() -> None:
    tables = []
    for _ in range(2):
        agent = QLearner(16, 4, alpha=0.1, epsilon=0.3, rng=7)
        agent.train(frozen_lake(), 200, seed=3)
        tables.append(agent.get_q_table())
    np.testing.assert_array_equal(tables[0], tables[1])
    other = QLearner(16, 4, alpha=0.1, epsilon=0.3, rng=8)
    other.train(frozen_lake(), 200, seed=3)
    assert not np.array_equal(tables[0], other.get_q_table())


def test_update_rules_by_hand() -> None:
    table = np.array([[0.0, 0.0], [1.0, 3.0]])
    for cls, expected in ((QLearner, 0.5 * 0.9 * 3.0), (Sarsa, 0.5 * 0.9 * 1.0),
                          (ExpectedSarsa, 0.5 * 0.9 * (0.25 * 1.0 + 0.75 * 3.0))):
        agent = cls(2, 2, alpha=0.5, gamma=0.9, epsilon=0.5, rng=0)
        agent.set_q_table(table)
        agent.update(0, 0, 0.0, 1, False, next_action=0)
        assert agent.q[0, 0] == pytest.approx(expected), cls
    agent = QLearner(2, 2, alpha=1.0, gamma=0.9, rng=0)
    agent.set_q_table(table)
    assert agent.update(0, 1, 2.0, 1, terminated=True) == pytest.approx(2.0)


def test_schedules_follow_the_episode_or_step_clock() -> None:
    agent = QLearner(2, 2, epsilon=Linear(1.0, 0.0, 10), rng=0)
    assert agent.current_epsilon == 1.0
    agent.episodes = 5
    assert agent.current_epsilon == pytest.approx(0.5)
    by_step = QLearner(2, 2, epsilon=Linear(1.0, 0.0, 10), schedule_by="step", rng=0)
    for _ in range(10):
        by_step.update(0, 0, 0.0, 1, False)
    assert by_step.current_epsilon == 0.0


def test_save_and_load_round_trip(tmp_path: Path, lake_agent: QLearner) -> None:
    path = tmp_path / "lake.npz"
    lake_agent.save(path)
    loaded = TabularLearner.load(path, rng=0)
    assert isinstance(loaded, QLearner)
    np.testing.assert_array_equal(loaded.get_q_table(), lake_agent.get_q_table())
    assert loaded.episodes == lake_agent.episodes and loaded.gamma == lake_agent.gamma


def test_bad_arguments_raise_learning_errors() -> None:
    with pytest.raises(LearningError, match="gamma"):
        QLearner(4, 2, gamma=1.5)
    agent = QLearner(4, 2)
    with pytest.raises(LearningError, match="shape"):
        agent.set_q_table(np.zeros((3, 2)))
    with pytest.raises(LearningError, match="outside"):
        agent.act(4)
    with pytest.raises(LearningError, match="next_action"):
        Sarsa(2, 2).update(0, 0, 1.0, 1, False)


def test_q_learning_task_kind_solves_frozenlake_and_refuses_continuous_spaces() -> None:
    from agents.agent.kinds import resolve_task
    from learning.errors import LearningError

    run = resolve_task("q_learning")
    out = run(env="FrozenLake-v1", env_args={"map_name": "4x4", "is_slippery": True},
              episodes=5000, eval_episodes=1000, seed=0)
    assert out["success_rate"] >= 0.7 and len(out["policy"]) == 16
    with pytest.raises(LearningError, match="discrete"):
        run(env="CartPole-v1", episodes=1)
    with pytest.raises(LearningError, match="algorithm"):
        run(algorithm="dqn", episodes=1)
