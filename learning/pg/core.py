"""The torch-free half of REINFORCE: returns, advantages, trajectories, the env contract.

Pure NumPy (gymnasium only to read an environment's spaces), so it can be
tested and reused without PyTorch; :mod:`learning.pg.reinforce` builds the
learner on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from learning.errors import LearningError

__all__ = ["BASELINES", "Baseline", "BoxDiscreteEnv", "Trajectory", "advantages",
           "discounted_returns", "env_spaces"]

Baseline = Literal["value", "mean"] | None
BASELINES = ("value", "mean", None)


class BoxDiscreteEnv(Protocol):
    """What REINFORCE needs of an environment: gymnasium's spaces, reset and step."""

    observation_space: Any
    action_space: Any

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None,
              ) -> tuple[Any, dict[str, Any]]: ...

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]: ...


def discounted_returns(rewards: Sequence[float] | np.ndarray, gamma: float) -> np.ndarray:
    """The return-to-go ``G_t = r_t + gamma * G_{t+1}`` of every step of one episode.

    Example:
        >>> discounted_returns([1.0, 1.0, 1.0], 0.5).tolist()
        [1.75, 1.5, 1.0]
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    out = np.empty_like(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = float(rewards[t]) + gamma * running
        out[t] = running
    return out


def advantages(returns: np.ndarray, baseline: Baseline, values: np.ndarray | None = None,
               normalize: bool = True) -> np.ndarray:
    """``returns`` minus the baseline, then (with ``normalize``) divided by their std.

    ``"value"`` subtracts ``values`` (the value network's estimates), ``"mean"`` the
    mean of ``returns``, ``None`` nothing.  Normalisation only rescales: it does not
    centre, so ``baseline=None`` stays plain REINFORCE.

    Example:
        >>> advantages(np.array([3.0, 1.0]), "mean", normalize=False).tolist()
        [1.0, -1.0]
        >>> advantages(np.array([4.0, 2.0]), None).round(6).tolist()  # std 1: rescaled, not centred
        [4.0, 2.0]
    """
    if baseline == "value":
        if values is None:
            raise LearningError("the value baseline needs the value estimates")
        adv = returns - values
    elif baseline == "mean":
        adv = returns - returns.mean()
    else:
        adv = returns.astype(np.float64, copy=True)
    if normalize and adv.size > 1:
        adv = adv / (adv.std() + 1e-8)
    return adv


@dataclass(frozen=True)
class Trajectory:
    """One episode played by the stochastic policy: ``T`` observations, actions, rewards."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool

    @property
    def ret(self) -> float:
        """The undiscounted return."""
        return float(self.rewards.sum())


def env_spaces(env: BoxDiscreteEnv) -> tuple[int, int, int]:
    """``(obs_dim, n_actions, first action)`` of a Box-observation, Discrete-action env."""
    from gymnasium import spaces

    obs_space = getattr(env, "observation_space", None)
    act_space = getattr(env, "action_space", None)
    if not isinstance(obs_space, spaces.Box) or not isinstance(act_space, spaces.Discrete):
        raise LearningError("REINFORCE needs a Box observation space and a Discrete action "
                            f"space, got {obs_space} and {act_space}")
    return int(np.prod(obs_space.shape)), int(act_space.n), int(act_space.start)
