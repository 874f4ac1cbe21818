"""PPO on CartPole-v1 through raymas (RLTrainer) vs plain RLlib (PPOConfig), to a mean return.

    python bench/learning_ppo.py [--quick]

Both runs use the same hyperparameters (RLlib's tuned CartPole PPO example:
lr 3e-4, 6 epochs, vf_loss_coeff 0.01, one 32-unit linear layer shared with the
value function, 4,000-step batches), the same seed and the same sampling
(8 vectorised envs in the driver, no env-runner actors), and stop at the same
training ``episode_return_mean``: 450 (``--quick``: 120, to end within two
minutes).  Seconds count from building the algorithm to reaching the
threshold; an untimed warm-up build
first loads RLlib's lazily imported modules so neither run pays for them.

The two configurations are identical (same ``AlgorithmConfig.to_dict()``) and
the runs deterministic, so both take the same env steps to the same return; the
seconds differ only by raymas's overhead and by the machine's noise, which on a
shared 2-core machine is larger (±20 % between identical runs).  The full run
therefore measures twice in ABBA order (plain, raymas, raymas, plain) and compares
the sums; ``--quick`` measures once each.  Process CPU seconds, less sensitive to
other load, come as extras (everything runs in this process: no env-runner actors).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.pop(0)  # this folder: its http.py would shadow the standard library's http
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import emit, log, start

B = "learning"
SEED = 0
HYPERPARAMETERS: dict[str, Any] = {"lr": 0.0003, "num_epochs": 6, "vf_loss_coeff": 0.01,
                                   "train_batch_size_per_learner": 4000,
                                   "minibatch_size": 128}
MODEL: dict[str, Any] = {"fcnet_hiddens": [32], "fcnet_activation": "linear",
                         "vf_share_layers": True}
ENVS = 8


@dataclass
class Run:
    seconds: float
    cpu_seconds: float
    build_seconds: float
    env_steps: int
    iterations: int
    mean_return: float
    reached: bool


def _ensure_ray() -> None:
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)


def _raw_config() -> Any:
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    return (PPOConfig()
            .environment("CartPole-v1")
            .env_runners(num_env_runners=0, num_envs_per_env_runner=ENVS)
            .training(**HYPERPARAMETERS)
            .rl_module(model_config=DefaultModelConfig(**MODEL))
            .debugging(seed=SEED))


def run_rllib(threshold: float, max_steps: int, max_seconds: float) -> Run:
    """Plain RLlib: build, then ``train()`` until the threshold (or a cap)."""
    from ray.rllib.utils.metrics import (
        ENV_RUNNER_RESULTS,
        EPISODE_RETURN_MEAN,
        NUM_ENV_STEPS_SAMPLED_LIFETIME,
    )

    t0, c0 = time.perf_counter(), time.process_time()
    algo = _raw_config().build_algo()
    built = time.perf_counter() - t0
    iterations, steps, mean = 0, 0, math.nan
    while True:
        result = algo.train()
        iterations += 1
        steps = int(result[NUM_ENV_STEPS_SAMPLED_LIFETIME])
        mean = float(result[ENV_RUNNER_RESULTS].get(EPISODE_RETURN_MEAN, math.nan))
        if mean >= threshold or steps >= max_steps or time.perf_counter() - t0 >= max_seconds:
            break
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    algo.stop()
    return Run(seconds, cpu, built, steps, iterations, mean, mean >= threshold)


def run_raymas(threshold: float, max_steps: int, max_seconds: float) -> Run:
    """The same training through :class:`learning.rllib.trainer.RLTrainer`."""
    from learning.rllib.config import RLConfig, StopCriteria
    from learning.rllib.trainer import RLTrainer

    t0, c0 = time.perf_counter(), time.process_time()
    config = RLConfig(env="CartPole-v1", hyperparameters=HYPERPARAMETERS, model=MODEL,
                      num_env_runners=0, num_envs_per_env_runner=ENVS, seed=SEED,
                      stop=StopCriteria(mean_return=threshold, env_steps=max_steps,
                                        seconds=max_seconds))
    trainer = RLTrainer(config).build()
    built = time.perf_counter() - t0
    result = trainer.train()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    trainer.stop()
    return Run(seconds, cpu, built, result.env_steps, result.iterations, result.mean_return,
               result.reached)


def _warm_up() -> None:
    """Build and drop one algorithm: RLlib imports its learner and module classes lazily."""
    _raw_config().build_algo().stop()


def bench_ppo(quick: bool) -> None:
    """Emit ``ppo_cartpole_seconds_ratio_vs_rllib`` and ``ppo_cartpole_env_steps``."""
    started = time.perf_counter()
    _ensure_ray()
    threshold = 120.0 if quick else 450.0
    max_steps = 150_000 if quick else 400_000
    max_seconds = 100.0 if quick else 900.0
    _warm_up()
    log(f"Ray up and RLlib warm after {time.perf_counter() - started:.1f} s")
    order = ["rllib", "raymas"] if quick else ["rllib", "raymas", "raymas", "rllib"]
    runs: dict[str, list[Run]] = {"rllib": [], "raymas": []}
    for name in order:
        run = (run_rllib if name == "rllib" else run_raymas)(threshold, max_steps, max_seconds)
        log(f"{name:>6}: {run}")
        runs[name].append(run)
    raw, ours = runs["rllib"], runs["raymas"]
    wall = sum(r.seconds for r in ours) / sum(r.seconds for r in raw)
    cpu = sum(r.cpu_seconds for r in ours) / sum(r.cpu_seconds for r in raw)
    common: dict[str, Any] = {"threshold": threshold, "env": "CartPole-v1", "quick": quick,
              "runs_each": len(ours), "order": order,
              "reached": all(r.reached for r in ours + raw)}
    emit(B, "ppo_cartpole_seconds_ratio_vs_rllib", wall, "ratio", target=1.1, better="lower",
         raymas_seconds=[round(r.seconds, 2) for r in ours],
         rllib_seconds=[round(r.seconds, 2) for r in raw],
         cpu_seconds_ratio=round(cpu, 3),
         raymas_cpu_seconds=[round(r.cpu_seconds, 2) for r in ours],
         rllib_cpu_seconds=[round(r.cpu_seconds, 2) for r in raw],
         raymas_env_steps=ours[0].env_steps, rllib_env_steps=raw[0].env_steps,
         iterations={"raymas": ours[0].iterations, "rllib": raw[0].iterations}, **common)
    emit(B, "ppo_cartpole_env_steps", ours[0].env_steps, "env_steps",
         baseline=raw[0].env_steps,
         baseline_name="plain RLlib PPOConfig, same hyperparameters and seed", better="lower",
         mean_return=round(ours[0].mean_return, 1),
         raymas_seconds=round(ours[0].seconds, 2), rllib_seconds=round(raw[0].seconds, 2),
         **common)

def main() -> None:
    quick = start(__doc__ or "")
    try:
        import ray.rllib  # noqa: F401
    except ImportError:
        log("ray[rllib] missing (pip install 'raymas[rllib]'): no PPO figures")
        return
    bench_ppo(quick)


if __name__ == "__main__":
    main()
