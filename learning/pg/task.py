"""The ``policy_gradient`` task kind: train REINFORCE on a gymnasium environment.

An agent that wins the task trains :class:`~learning.pg.reinforce.Reinforce`
until the greedy evaluation reaches ``target`` (or the episode budget runs out),
evaluates once more on fresh seeds and returns the figures::

    {"kind": "policy_gradient",
     "args": {"env": "CartPole-v1", "episodes": 1500, "target": 475,
              "eval_episodes": 100, "seed": 0, "hidden": [64], "baseline": "value"}}

During training the policy is evaluated every ``eval_every`` episodes over
``min(eval_episodes, 20)`` episodes; the reported ``mean_return`` comes from a
final evaluation of ``eval_episodes`` episodes seeded ``seed + 2``.  Needs
gymnasium and torch (the ``learning`` and ``torch`` extras); they are imported
only when the task runs.  The goal above returned, on a 2-core machine::

    {"env": "CartPole-v1", "baseline": "value", "episodes": 240, "mean_return": 499.03,
     "mean_length": 499.03, "eval_episodes": 100, "train_seconds": 4.5, "reached": true}

``episodes`` counts the training episodes used; ``reached`` says whether a
training evaluation reached ``target`` (``None`` without a target).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from agents.agent.kinds import task
from learning.errors import LearningError

__all__ = ["policy_gradient"]


@task("policy_gradient")
def policy_gradient(env: str = "CartPole-v1", env_args: Mapping[str, Any] | None = None,
                    episodes: int = 1500, target: float | None = None,
                    eval_episodes: int = 100, seed: int = 0, hidden: Sequence[int] = (64,),
                    lr: float = 0.01, baseline: str | None = "value", batch_episodes: int = 8,
                    eval_every: int = 40, device: str = "cpu", **_: Any) -> dict[str, Any]:
    """Train, then evaluate greedily; returns the mean return, episodes used and timings."""
    try:
        import gymnasium as gym

        from learning.pg.reinforce import Reinforce
    except ImportError as exc:
        raise LearningError(f"policy_gradient needs gymnasium and torch ({exc.name} is "
                            "missing): pip install 'raymas[learning,torch]'") from None
    if baseline not in ("value", "mean", None):
        raise LearningError(f"baseline must be 'value', 'mean' or None, got {baseline!r}")
    train_env = gym.make(env, **dict(env_args or {}))
    eval_env = gym.make(env, **dict(env_args or {}))
    learner = Reinforce.for_env(train_env, hidden=tuple(hidden), lr=lr, baseline=baseline,
                                seed=seed, device=device)
    t0 = time.perf_counter()
    history = learner.train(train_env, episodes, seed=seed, batch_episodes=batch_episodes,
                            eval_env=eval_env, eval_every=eval_every if target else None,
                            eval_episodes=min(eval_episodes, 20), target=target)
    trained = time.perf_counter() - t0
    result = learner.evaluate(eval_env, eval_episodes, seed + 2)
    return {"env": env, "baseline": baseline, "episodes": len(history.returns),
            "mean_return": result.mean_return, "mean_length": result.mean_length,
            "eval_episodes": eval_episodes, "train_seconds": round(trained, 3),
            "reached": None if target is None else history.first_reaching(target) is not None}
