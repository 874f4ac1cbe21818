"""Learning figures: Q-learning, transfer, REINFORCE, PPO through raymas vs RLlib, AutoML.

    python bench/learning.py [--quick] [--only tabular,reinforce,ppo,automl]

Baselines measured in the same run: for Q-learning the optimal policy of each
environment (value iteration on its own transition model, evaluated on the same
episodes); for transfer the same learner from scratch; for REINFORCE the same
learner without a baseline; for PPO plain RLlib with the same hyperparameters
(bench/learning_ppo.py); for AutoML scikit-learn's GridSearchCV over the same
space (bench/learning_automl.py).
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import Any

sys.path.pop(0)  # this folder: its http.py would shadow the standard library's http
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench._common import emit, log, selected_parts, start
from learning import Linear, QLearner

B = "learning"


def optimal_policy(env: Any, gamma: float, tol: float = 1e-10) -> np.ndarray:
    """Value iteration on ``env.unwrapped.P`` (state -> action -> [(p, s2, r, done)])."""
    model = env.unwrapped.P
    n_s, n_a = env.observation_space.n, env.action_space.n
    v = np.zeros(n_s)
    while True:
        q = np.array([[sum(p * (r + gamma * v[s2] * (not done)) for p, s2, r, done in model[s][a])
                       for a in range(n_a)] for s in range(n_s)])
        new = q.max(axis=1)
        if np.max(np.abs(new - v)) < tol:
            return np.asarray(q.argmax(axis=1))
        v = new


def evaluate_policy(env: Any, policy: np.ndarray, episodes: int, seed: int) -> dict[str, float]:
    returns, wins = [], 0
    for i in range(episodes):
        obs, _ = env.reset(seed=seed if i == 0 else None)
        total, done, reward = 0.0, False, 0.0
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(policy[obs]))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        wins += terminated and reward > 0
    return {"mean_return": float(np.mean(returns)), "success_rate": wins / episodes}


def run(env_id: str, kwargs: dict[str, Any], episodes: int, every: int, eval_episodes: int,
        gamma: float, alpha: float, metric: str, threshold: float) -> None:
    import gymnasium as gym

    env, probe = gym.make(env_id, **kwargs), gym.make(env_id, **kwargs)
    best = evaluate_policy(probe, optimal_policy(env, gamma), eval_episodes, seed=1)
    agent = QLearner(env.observation_space.n, env.action_space.n,
                     alpha=Linear(alpha, alpha / 10, episodes), gamma=gamma,
                     epsilon=Linear(1.0, 0.01, int(episodes * 0.8)), rng=0)
    t = time.perf_counter()
    history = agent.train(env, episodes, seed=0, eval_env=probe, eval_every=every,
                          eval_episodes=min(eval_episodes, 200), eval_seed=1)
    seconds = time.perf_counter() - t
    final = agent.evaluate(probe, eval_episodes, seed=1)
    value = final.success_rate if metric == "success_rate" else final.mean_return
    reached = history.first_reaching(threshold, metric)  # type: ignore[arg-type]
    name = env_id.split("-")[0].lower()
    emit(B, f"{name}_{'success_rate' if metric == 'success_rate' else 'mean_return'}", value,
         metric, baseline=best[metric], baseline_name="optimal policy (value iteration)",
         better="higher", episodes=episodes, eval_episodes=eval_episodes,
         train_seconds=round(seconds, 3), **({"target": 0.7} if name == "frozenlake" else {}))
    emit(B, f"qlearning_{name}_episodes_to_converge", reached if reached is not None else -1,
         "episodes", better="lower", threshold=threshold, measured_by=metric, eval_every=every,
         note="-1: not reached" if reached is None else "first evaluation at the threshold")


def transfer(quick: bool) -> None:
    """FrozenLake: a learner started from a trained one's Q-table vs from scratch."""
    import gymnasium as gym

    from learning import measure_transfer

    def env() -> Any:
        return gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True)

    def learner(seed: int, start_epsilon: float = 1.0) -> QLearner:
        return QLearner(16, 4, alpha=0.1, gamma=0.99, epsilon=Linear(start_epsilon, 0.01, 800),
                        rng=seed)

    source = QLearner(16, 4, alpha=Linear(0.1, 0.01, 5000), gamma=0.99,
                      epsilon=Linear(1.0, 0.01, 4000), rng=100)
    source.train(env(), 5000, seed=100)
    seeds = [1, 2] if quick else [1, 2, 3, 4, 5]
    result = measure_transfer(learner, env, source, episodes=1000, threshold=0.6, seeds=seeds,
                              eval_every=250, eval_episodes=200,
                              make_transfer_learner=lambda s: learner(s, 0.1))
    first = float(np.mean(result.first_return_transfer))
    emit(B, "frozenlake_transfer_first_success_rate", first, "success_rate",
         baseline=float(np.mean(result.first_return_scratch)),
         baseline_name="same learner from scratch", better="higher",
         jump_start=round(result.jump_start, 3), seeds=len(seeds))
    emit(B, "frozenlake_transfer_episodes_to_0.6", result.time_to_threshold_transfer, "episodes",
         baseline=result.time_to_threshold_scratch,
         baseline_name="from scratch (the 1,000-episode budget if never reached)",
         better="lower", seeds=len(seeds))


PARTS = ("tabular", "reinforce", "ppo", "automl")


def main() -> None:
    quick = start(__doc__ or "", parts=PARTS)
    only = set(selected_parts() or PARTS)
    try:
        import gymnasium  # noqa: F401
    except ImportError:
        log("gymnasium missing (pip install 'raymas[learning]'): no learning figures")
        return
    if "tabular" in only:
        run("FrozenLake-v1", {"map_name": "4x4", "is_slippery": True},
            3000 if quick else 5000, 250, 1000, 0.99, 0.1, "success_rate", 0.7)
        run("Taxi-v3", {}, 2000 if quick else 5000, 250, 200, 0.99, 0.5, "mean_return", 7.0)
        transfer(quick)
    for part, module, function in (("reinforce", "bench.learning_pg", "bench_reinforce"),
                                   ("ppo", "bench.learning_ppo", "bench_ppo"),
                                   ("automl", "bench.learning_automl", "bench_automl")):
        if part not in only:
            continue
        try:
            getattr(importlib.import_module(module), function)(quick)
        except ImportError as err:
            log(f"{part}: skipped, {err} (pip install 'raymas[rllib,tune,torch]')")


if __name__ == "__main__":
    main()
