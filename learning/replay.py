"""Experience replay with bounded memory: a uniform ring buffer and prioritised replay.

Both buffers preallocate NumPy arrays for ``capacity`` transitions
``(obs, action, reward, next_obs, done)`` and overwrite the oldest once full, so
memory never grows.  :class:`PrioritizedReplay` samples transition ``i`` with
probability ``p_i**alpha / sum_k p_k**alpha`` (proportional prioritisation,
Schaul et al. 2016) through a sum tree, and returns importance-sampling weights
``(N * P(i))**-beta / max_j (N * P(j))**-beta`` with ``beta`` annealed by a
schedule towards 1.  Sampling takes the caller's ``np.random.Generator``.

Example:
    >>> rng = np.random.default_rng(0)
    >>> buf = ReplayBuffer(capacity=3, obs_shape=(2,))
    >>> for t in range(5):
    ...     _ = buf.add([t, t], action=t % 2, reward=float(t), next_obs=[t + 1, t + 1], done=False)
    >>> len(buf), sorted(buf.rewards[:3].tolist())
    (3, [2.0, 3.0, 4.0])
    >>> batch = buf.sample(4, rng)
    >>> batch.obs.shape, batch.weights.tolist()
    ((4, 2), [1.0, 1.0, 1.0, 1.0])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from learning.errors import LearningError
from learning.schedules import Linear, Schedule, as_schedule

__all__ = ["Batch", "PrioritizedReplay", "ReplayBuffer", "SumTree"]

_DEFAULT_BETA = Linear(0.4, 1.0, 10_000)


@dataclass(frozen=True)
class Batch:
    """A sampled batch; ``indices`` feed :meth:`PrioritizedReplay.update_priorities`."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    dones: np.ndarray
    indices: np.ndarray
    weights: np.ndarray


class ReplayBuffer:
    """Uniform replay over the last ``capacity`` transitions (a ring buffer).

    Args:
        capacity: most transitions kept.
        obs_shape: shape of one observation (``()`` for a discrete state).
        obs_dtype: dtype of observations.
        action_shape: shape of one action (``()`` for a discrete action).
        action_dtype: dtype of actions.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...] = (),
                 obs_dtype: DTypeLike = np.float32, action_shape: tuple[int, ...] = (),
                 action_dtype: DTypeLike = np.int64) -> None:
        if capacity < 1:
            raise LearningError(f"replay capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros((capacity, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.dones = np.zeros(capacity, dtype=bool)
        self._next = 0
        self._size = 0
        self.added = 0

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """Bytes held by the preallocated arrays (constant after construction)."""
        return sum(a.nbytes for a in (self.obs, self.next_obs, self.actions, self.rewards,
                                      self.dones))

    def add(self, obs: ArrayLike, action: Any, reward: float, next_obs: ArrayLike,
            done: bool) -> int:
        """Store one transition, overwriting the oldest when full; return its slot."""
        i = self._next
        try:
            self.obs[i] = obs
            self.actions[i] = action
            self.next_obs[i] = next_obs
        except ValueError as exc:
            raise LearningError(f"transition does not fit the buffer (observations "
                                f"{self.obs.shape[1:]}, actions {self.actions.shape[1:]}): "
                                f"{exc}") from exc
        self.rewards[i] = reward
        self.dones[i] = done
        self._next = (i + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)
        self.added += 1
        return i

    def _gather(self, idx: np.ndarray, weights: np.ndarray) -> Batch:
        return Batch(self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx],
                     self.dones[idx], idx, weights)

    def _check_sample(self, batch_size: int) -> None:
        if self._size == 0:
            raise LearningError("cannot sample from an empty replay buffer")
        if batch_size < 1:
            raise LearningError(f"batch_size must be >= 1, got {batch_size}")

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """``batch_size`` transitions drawn uniformly with replacement; weights are 1."""
        self._check_sample(batch_size)
        idx = rng.integers(self._size, size=batch_size)
        return self._gather(idx, np.ones(batch_size))


class SumTree:
    """Priorities in a binary tree of sums (and minima): O(log n) update and prefix search.

    Example:
        >>> tree = SumTree(4)
        >>> tree.update(np.array([0, 1, 2]), np.array([1.0, 2.0, 3.0]))
        >>> tree.total, tree.min, tree.find(np.array([0.5, 1.5, 5.9])).tolist()
        (6.0, 1.0, [0, 1, 2])
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._leaves = 1 << max(capacity - 1, 0).bit_length()
        self._sum = np.zeros(2 * self._leaves)
        self._min = np.full(2 * self._leaves, np.inf)

    @property
    def total(self) -> float:
        """Sum of all priorities."""
        return float(self._sum[1])

    @property
    def min(self) -> float:
        """Smallest priority set so far (``inf`` when none)."""
        return float(self._min[1])

    def get(self, index: np.ndarray) -> np.ndarray:
        """Priorities of the given slots."""
        return self._sum[np.asarray(index) + self._leaves]

    def update(self, index: np.ndarray, priority: np.ndarray) -> None:
        """Set the priorities of slots ``index`` and recompute their ancestors."""
        nodes = np.asarray(index, dtype=np.int64) + self._leaves
        self._sum[nodes] = priority
        self._min[nodes] = priority
        nodes = np.unique(nodes // 2)
        while nodes.size and nodes[0] >= 1:
            self._sum[nodes] = self._sum[2 * nodes] + self._sum[2 * nodes + 1]
            self._min[nodes] = np.minimum(self._min[2 * nodes], self._min[2 * nodes + 1])
            nodes = np.unique(nodes // 2)
            if nodes[0] == 0:
                break

    def find(self, values: np.ndarray) -> np.ndarray:
        """For each value in ``[0, total)`` the slot whose cumulative interval holds it."""
        values = np.array(values, dtype=float)
        nodes = np.ones(values.shape, dtype=np.int64)
        for _ in range(self._leaves.bit_length() - 1):
            left = self._sum[2 * nodes]
            right = self._sum[2 * nodes + 1]
            go_left = (values < left) | (right <= 0.0)
            values = np.where(go_left, values, values - left)
            nodes = np.where(go_left, 2 * nodes, 2 * nodes + 1)
        return nodes - self._leaves


class PrioritizedReplay(ReplayBuffer):
    """Proportional prioritised replay with importance-sampling weights.

    Args:
        capacity, obs_shape, obs_dtype, action_shape, action_dtype: as :class:`ReplayBuffer`.
        alpha: prioritisation exponent (0: uniform).
        beta: IS exponent, a number or a schedule of the number of ``sample`` calls
            (default: linear from 0.4 to 1 over 10,000 calls).
        epsilon: added to ``|td_error|`` so no transition gets priority 0.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> buf = PrioritizedReplay(8, alpha=1.0, beta=1.0)
        >>> for t in range(4):
        ...     _ = buf.add(t, 0, 0.0, t, False)
        >>> buf.update_priorities(np.arange(4), np.array([1.0, 1.0, 1.0, 5.0]))
        >>> batch = buf.sample(2000, rng)
        >>> round(float(np.mean(batch.indices == 3)), 1), float(batch.weights.min()) < 0.3
        (0.6, True)
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...] = (),
                 obs_dtype: DTypeLike = np.float32, action_shape: tuple[int, ...] = (),
                 action_dtype: DTypeLike = np.int64, *, alpha: float = 0.6,
                 beta: float | Schedule = _DEFAULT_BETA,
                 epsilon: float = 1e-6) -> None:
        super().__init__(capacity, obs_shape, obs_dtype, action_shape, action_dtype)
        if alpha < 0:
            raise LearningError(f"alpha must be >= 0, got {alpha}")
        if epsilon <= 0:
            raise LearningError(f"epsilon must be > 0, got {epsilon}")
        self.alpha = float(alpha)
        self.beta = as_schedule(beta)
        self.epsilon = float(epsilon)
        self.tree = SumTree(capacity)
        self.max_priority = 1.0
        self.sample_calls = 0

    def add(self, obs: ArrayLike, action: Any, reward: float, next_obs: ArrayLike,
            done: bool) -> int:
        """Store a transition with the largest priority seen, so it is replayed soon."""
        i = super().add(obs, action, reward, next_obs, done)
        self.tree.update(np.array([i]), np.array([self.max_priority ** self.alpha]))
        return i

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """Stratified proportional sample with normalised IS weights (``beta`` now)."""
        self._check_sample(batch_size)
        total = self.tree.total
        bounds = np.linspace(0.0, total, batch_size + 1)
        values = rng.uniform(bounds[:-1], bounds[1:])
        values = np.minimum(values, np.nextafter(total, 0.0))
        idx = np.minimum(self.tree.find(values), self._size - 1)
        beta = self.beta(self.sample_calls)
        self.sample_calls += 1
        probs = self.tree.get(idx) / total
        weights = (self._size * probs) ** -beta
        max_weight = (self._size * self.tree.min / total) ** -beta
        return self._gather(idx, weights / max_weight)

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Set priorities to ``(|td_error| + epsilon) ** alpha`` for the sampled slots."""
        priorities = np.abs(np.asarray(td_errors, dtype=float)) + self.epsilon
        if np.asarray(indices).shape != priorities.shape:
            raise LearningError(f"{np.asarray(indices).shape} indices but "
                                f"{priorities.shape} TD errors")
        self.max_priority = max(self.max_priority, float(priorities.max()))
        self.tree.update(np.asarray(indices), priorities ** self.alpha)
