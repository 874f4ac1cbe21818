"""Transfer gives a jump-start; table and weight copies respect maps and shapes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from learning import (
    LearningError,
    Linear,
    QLearner,
    measure_transfer,
    transfer_q_table,
    transfer_weights,
)


def frozen_lake() -> gym.Env:
    return gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True)


def make_learner(seed: int, start_epsilon: float = 1.0) -> QLearner:
    return QLearner(16, 4, alpha=0.1, gamma=0.99, epsilon=Linear(start_epsilon, 0.01, 800),
                    rng=seed)


def test_transfer_gives_a_positive_jump_start_on_frozen_lake() -> None:
    source = QLearner(16, 4, alpha=Linear(0.1, 0.01, 5000), gamma=0.99,
                      epsilon=Linear(1.0, 0.01, 4000), rng=100)
    source.train(frozen_lake(), 5000, seed=100)  # a source trained with other seeds
    result = measure_transfer(make_learner, frozen_lake, source, episodes=1000,
                              threshold=0.6, seeds=[1, 2], eval_every=250, eval_episodes=200,
                              make_transfer_learner=lambda s: make_learner(s, 0.1))
    assert result.jump_start > 0.5, result
    assert min(result.first_return_transfer) >= 0.6
    assert result.thresholds_transfer == [0, 0]
    assert result.time_to_threshold_gain > 0
    assert len(result.histories["scratch"]) == 2


def test_q_table_maps_and_scale() -> None:
    src = QLearner(3, 2, rng=0)
    src.set_q_table(np.arange(6.0).reshape(3, 2))
    dst = QLearner(2, 3, initial_q=-1.0, rng=0)
    transfer_q_table(src, dst, state_map={0: 2, 1: 0}, action_map=[1, 0, -1], scale=0.5)
    assert dst.get_q_table().tolist() == [[2.5, 2.0, -1.0], [0.5, 0.0, -1.0]]
    with pytest.raises(LearningError, match="state_map"):
        transfer_q_table(src, QLearner(2, 2))
    with pytest.raises(LearningError, match="source has 3"):
        transfer_q_table(src, QLearner(3, 2), state_map=[0, 1, 5])


def test_weights_transfer_checks_shapes() -> None:
    source = {"l1.w": np.ones((2, 3)), "l1.b": np.ones(3)}
    target: dict[str, np.ndarray] = {"fc.w": np.zeros((2, 3), dtype=np.float32),
                                     "fc.b": np.zeros(3)}
    out = transfer_weights(source, target, name_map={"fc.w": "l1.w", "fc.b": "l1.b"})
    assert out["fc.w"].dtype == np.float32 and out["fc.w"].sum() == 6.0
    assert target["fc.w"].sum() == 0.0  # the target is not modified in place
    with pytest.raises(LearningError, match="no source weight"):
        transfer_weights(source, target)
    with pytest.raises(LearningError, match="shape"):
        transfer_weights({"w": np.ones(2)}, {"w": np.ones(3)}, strict=False)
