"""The ``q_learning`` task kind: train a tabular learner on a gymnasium environment.

An agent that wins the task trains, evaluates the greedy policy and returns
the figures, so a learning goal in config.yaml runs like any other goal::

    {"kind": "q_learning",
     "args": {"env": "FrozenLake-v1", "env_args": {"is_slippery": true},
              "episodes": 5000, "eval_episodes": 1000, "seed": 0}}

``algorithm`` is ``q_learning`` (default), ``sarsa`` or ``expected_sarsa``;
alpha and epsilon decay linearly (``alpha`` → ``alpha_end`` over training,
``epsilon`` 1 → 0.01 over ``explore`` of it).  Needs gymnasium (the
``learning`` extra).

Example:
    >>> out = q_learning(env="CliffWalking-v1", episodes=300, alpha=0.5, alpha_end=0.5,
    ...                  gamma=1.0, eval_episodes=1, seed=0)
    >>> out["mean_return"], out["episodes"]
    (-13.0, 300)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from agents.agent.kinds import task
from learning.errors import LearningError
from learning.schedules import Linear
from learning.tabular import ExpectedSarsa, QLearner, Sarsa

__all__ = ["q_learning"]

_ALGORITHMS = {"q_learning": QLearner, "sarsa": Sarsa, "expected_sarsa": ExpectedSarsa}


@task("q_learning")
def q_learning(env: str = "FrozenLake-v1", env_args: Mapping[str, Any] | None = None,
               algorithm: str = "q_learning", episodes: int = 5000, alpha: float = 0.1,
               alpha_end: float = 0.01, gamma: float = 0.99, explore: float = 0.8,
               eval_episodes: int = 1000, seed: int = 0, **_: Any) -> dict[str, Any]:
    """Train, then evaluate greedily; returns success rate, mean return and timings."""
    try:
        import gymnasium as gym
    except ImportError:
        raise LearningError("q_learning needs gymnasium: pip install 'raymas[learning]'") \
            from None
    if algorithm not in _ALGORITHMS:
        raise LearningError(f"algorithm must be one of {sorted(_ALGORITHMS)}, "
                            f"got {algorithm!r}")
    train_env = gym.make(env, **dict(env_args or {}))
    eval_env = gym.make(env, **dict(env_args or {}))
    spaces = (train_env.observation_space, train_env.action_space)
    if not all(isinstance(sp, gym.spaces.Discrete) for sp in spaces):
        raise LearningError(f"{env}: tabular learning needs discrete observations and actions, "
                            f"got {spaces[0]} and {spaces[1]}")
    n_states, n_actions = int(spaces[0].n), int(spaces[1].n)  # type: ignore[attr-defined]
    learner = _ALGORITHMS[algorithm](
        n_states, n_actions, alpha=Linear(alpha, alpha_end, episodes), gamma=gamma,
        epsilon=Linear(1.0, 0.01, max(1, int(episodes * explore))), rng=seed)
    t0 = time.perf_counter()
    learner.train(train_env, episodes, seed=seed)
    trained = time.perf_counter() - t0
    result = learner.evaluate(eval_env, eval_episodes, seed=seed + 1)
    return {"env": env, "algorithm": algorithm, "episodes": episodes,
            "success_rate": result.success_rate, "mean_return": result.mean_return,
            "eval_episodes": eval_episodes, "train_seconds": round(trained, 3),
            "policy": learner.policy().tolist()}
