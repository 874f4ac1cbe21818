"""REINFORCE figures: CartPole-v1 to a greedy mean return of 195, with and without a baseline.

Both runs use the same seeds, network, learning rate and batch size; the
baseline run is plain REINFORCE (``baseline=None``), measured in the same run.
"""

from __future__ import annotations

import time

import numpy as np

from bench._common import emit, log

B = "learning"
TARGET = 195.0


def _episodes_to_target(baseline: str | None, seed: int, budget: int) -> tuple[int, float, float]:
    import gymnasium as gym

    from learning.pg.reinforce import Reinforce

    env, probe = gym.make("CartPole-v1"), gym.make("CartPole-v1")
    agent = Reinforce.for_env(env, hidden=(64,), lr=0.01, baseline=baseline,  # type: ignore[arg-type]
                              seed=seed, device="cpu")
    t0 = time.perf_counter()
    history = agent.train(env, budget, seed=seed, batch_episodes=8, eval_every=40,
                          eval_episodes=20, target=TARGET)
    seconds = time.perf_counter() - t0
    reached = history.first_reaching(TARGET)
    final = agent.evaluate(probe, 100, seed=seed + 1000).mean_return
    return (reached if reached is not None else -1), seconds, final


def bench_reinforce(quick: bool) -> None:
    """reinforce_cartpole_episodes_to_195 (value baseline) vs plain REINFORCE."""
    seeds = [0, 1] if quick else [0, 1, 2, 3]
    budget = 1500 if quick else 3000
    runs = {name: [_episodes_to_target(b, s, budget) for s in seeds]
            for name, b in (("value", "value"), ("none", None))}
    for name, rows in runs.items():
        log(f"reinforce baseline={name}: " + ", ".join(f"{e} ep {t:.1f}s final {f:.0f}"
                                                       for e, t, f in rows))

    def median_episodes(rows: list[tuple[int, float, float]]) -> float:
        return float(np.median([e if e >= 0 else budget for e, _, _ in rows]))

    emit(B, "reinforce_cartpole_episodes_to_195", median_episodes(runs["value"]), "episodes",
         baseline=median_episodes(runs["none"]), baseline_name="REINFORCE without a baseline",
         better="lower", seeds=len(seeds), budget=budget,
         note="median over seeds; a run that never reached counts as the budget")
    emit(B, "reinforce_cartpole_seconds_to_195",
         float(np.median([t for _, t, _ in runs["value"]])), "seconds",
         baseline=float(np.median([t for _, t, _ in runs["none"]])),
         baseline_name="REINFORCE without a baseline", better="lower", seeds=len(seeds))
    emit(B, "reinforce_cartpole_final_return",
         float(np.mean([f for _, _, f in runs["value"]])), "mean_return",
         baseline=float(np.mean([f for _, _, f in runs["none"]])),
         baseline_name="REINFORCE without a baseline", target=TARGET, better="higher",
         eval_episodes=100)
