"""Replay buffers: bounded memory, correct sampling distributions, IS weights."""

from __future__ import annotations

import numpy as np
import pytest

from learning import LearningError, Linear, PrioritizedReplay, ReplayBuffer, SumTree


def fill(buf: ReplayBuffer, n: int) -> None:
    for t in range(n):
        buf.add([t, -t], t % 3, float(t), [t + 1, -t - 1], t % 7 == 0)


def test_capacity_bounds_memory_and_keeps_the_newest() -> None:
    buf = ReplayBuffer(100, obs_shape=(2,))
    before = buf.nbytes
    fill(buf, 1000)
    assert len(buf) == 100 and buf.added == 1000 and buf.nbytes == before
    assert sorted(buf.rewards.tolist()) == [float(t) for t in range(900, 1000)]
    np.testing.assert_array_equal(buf.next_obs[:, 0], buf.obs[:, 0] + 1)


def test_uniform_sampling_is_uniform_and_seeded() -> None:
    buf = ReplayBuffer(10, obs_shape=(2,))
    fill(buf, 10)
    batch = buf.sample(20_000, np.random.default_rng(0))
    freq = np.bincount(batch.indices, minlength=10) / 20_000
    assert np.allclose(freq, 0.1, atol=0.01)
    again = buf.sample(20_000, np.random.default_rng(0))
    np.testing.assert_array_equal(batch.indices, again.indices)
    assert batch.obs.shape == (20_000, 2) and batch.dones.dtype == bool


def test_sum_tree_with_odd_capacity() -> None:
    tree = SumTree(5)
    tree.update(np.arange(5), np.array([1.0, 0.0, 2.0, 3.0, 4.0]))
    assert tree.total == 10.0 and tree.min == 0.0
    assert tree.find(np.array([0.0, 0.99, 1.0, 2.99, 3.0, 5.99, 6.0, 9.99])).tolist() == [
        0, 0, 2, 2, 3, 3, 4, 4]
    tree.update(np.array([4, 4]), np.array([0.5, 0.5]))
    assert tree.total == pytest.approx(6.5) and tree.get(np.array([4])).tolist() == [0.5]


def test_prioritised_sampling_is_roughly_proportional() -> None:
    buf = PrioritizedReplay(8, (2,), alpha=1.0, beta=1.0)
    fill(buf, 8)
    errors = np.arange(1.0, 9.0)
    buf.update_priorities(np.arange(8), errors)
    batch = buf.sample(40_000, np.random.default_rng(1))
    freq = np.bincount(batch.indices, minlength=8) / 40_000
    assert np.allclose(freq, errors / errors.sum(), atol=0.01)
    # IS weights: (N P(i))^-beta normalised by the largest; beta=1 makes them 1/p scaled
    expected = (8 * errors / errors.sum()) ** -1.0
    expected /= expected.max()
    np.testing.assert_allclose(batch.weights, expected[batch.indices], rtol=1e-5)
    assert batch.weights.max() == pytest.approx(1.0)


def test_alpha_zero_is_uniform_and_new_items_get_max_priority() -> None:
    buf = PrioritizedReplay(4, (2,), alpha=0.0, beta=0.5)
    fill(buf, 4)
    buf.update_priorities(np.array([0, 1]), np.array([100.0, 0.0]))
    batch = buf.sample(8, np.random.default_rng(0))
    np.testing.assert_allclose(batch.weights, 1.0)
    alpha_one = PrioritizedReplay(4, (2,), alpha=1.0)
    fill(alpha_one, 2)
    alpha_one.update_priorities(np.array([0, 1]), np.array([5.0, 1.0]))
    slot = alpha_one.add([9, 9], 0, 0.0, [9, 9], False)
    assert alpha_one.tree.get(np.array([slot]))[0] == pytest.approx(5.0 + 1e-6)


def test_beta_anneals_with_sample_calls() -> None:
    buf = PrioritizedReplay(4, (2,), alpha=1.0, beta=Linear(0.0, 1.0, 2))
    fill(buf, 4)
    buf.update_priorities(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]))
    rng = np.random.default_rng(0)
    first = buf.sample(16, rng)
    np.testing.assert_allclose(first.weights, 1.0)  # beta 0: no correction
    buf.sample(16, rng)
    last = buf.sample(16, rng)  # beta 1 now
    assert last.weights.min() < 0.5 and buf.sample_calls == 3


def test_errors() -> None:
    with pytest.raises(LearningError, match="empty"):
        ReplayBuffer(3).sample(1, np.random.default_rng(0))
    with pytest.raises(LearningError):
        ReplayBuffer(0)
    buf = PrioritizedReplay(3, (2,))
    fill(buf, 3)
    with pytest.raises(LearningError, match="TD errors"):
        buf.update_priorities(np.arange(3), np.ones(2))


def test_wrong_shape_is_a_learning_error() -> None:
    with pytest.raises(LearningError, match="does not fit"):
        ReplayBuffer(3).add([1, 2], 0, 0.0, [1, 2], False)
