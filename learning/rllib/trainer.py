"""RLlib training behind one small shell: build, train to a stop criterion, evaluate, save, restore.

:class:`RLTrainer` turns an :class:`~learning.rllib.config.RLConfig` into an RLlib
``AlgorithmConfig`` on the new API stack (:func:`algorithm_config`), runs
``Algorithm.train()`` until a :class:`~learning.rllib.config.StopCriteria` holds,
and evaluates the greedy policy on the driver with seeded resets, so the same
weights always give the same score (:mod:`learning.rllib.policy`).

Checkpoints are RLlib's (``Algorithm.save_to_path``) plus ``raymas_rl.json``,
the RLConfig that made them.  :meth:`RLTrainer.restore` rebuilds the algorithm
from that config, resolving ``num_gpus: auto`` against the cluster it restores
on (RLlib stores weights as NumPy arrays), and then checks that every weight of
the restored learner equals the checkpoint's, instead of trusting RLlib's
lenient ``strict=False`` load.

GPUs: ``num_gpus`` is the GPUs of each learner; ``auto`` gives 1 only when the
cluster has a GPU and this process can use CUDA.  With ``num_learners: 0`` the
learner runs in this process, so an explicit ``num_gpus > 0`` needs CUDA here;
with ``num_learners >= 1`` Ray places learner actors on GPU nodes.

Connect to Ray first (``cluster.connect``); otherwise RLlib starts a local Ray.

Example (as ``tests/integration/learning/test_rllib.py`` runs it)::

    trainer = RLTrainer(RLConfig(env="CartPole-v1", stop={"mean_return": 150,
                                                          "iterations": 15})).build()
    result = trainer.train()          # TrainResult(iterations=..., reached=True, ...)
    score = trainer.evaluate(episodes=5, seed=0)
    path = trainer.save("/tmp/ppo")
    assert RLTrainer.restore(path).evaluate(episodes=5, seed=0) == score
"""

from __future__ import annotations

import copy
import json
import logging
import math
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learning.envs import ENV_ID as _MARKET_GYM_ID
from learning.errors import LearningError
from learning.history import Evaluation
from learning.rllib.config import RLConfig, StopCriteria, learner_gpus
from learning.rllib.policy import RLPolicy, check_weights, module_dirs, saved_module_state

__all__ = ["CONFIG_FILE", "RLTrainer", "TrainResult", "algorithm_config", "read_config",
           "stop_reason"]

logger = logging.getLogger(__name__)

#: the RLConfig a checkpoint was trained with, next to RLlib's files
CONFIG_FILE = "raymas_rl.json"
_DEFAULT_POLICY = "default_policy"


@dataclass(frozen=True)
class TrainResult:
    """What one :meth:`RLTrainer.train` call did.

    ``returns`` holds RLlib's ``episode_return_mean`` after each iteration (NaN
    before the first episode ends); ``reached`` says whether ``stop.mean_return``
    was set and reached; ``stopped_by`` names the criterion that ended training.
    """

    iterations: int
    env_steps: int
    seconds: float
    returns: list[float] = field(default_factory=list)
    reached: bool = False
    stopped_by: str = ""

    @property
    def mean_return(self) -> float:
        """The last finite ``episode_return_mean`` (NaN if no episode ended)."""
        return next((r for r in reversed(self.returns) if not math.isnan(r)), math.nan)

    def as_dict(self) -> dict[str, Any]:
        return {"iterations": self.iterations, "env_steps": self.env_steps,
                "seconds": round(self.seconds, 3), "mean_return": self.mean_return,
                "returns": list(self.returns), "reached": self.reached,
                "stopped_by": self.stopped_by}


def stop_reason(stop: StopCriteria, *, iterations: int, env_steps: int, seconds: float,
                mean_return: float) -> str | None:
    """The first criterion of ``stop`` that holds (``mean_return`` first), or ``None``.

    Example:
        >>> crit = StopCriteria(mean_return=450, iterations=20)
        >>> stop_reason(crit, iterations=3, env_steps=12000, seconds=9.0, mean_return=471.0)
        'mean_return'
        >>> stop_reason(crit, iterations=20, env_steps=80000, seconds=60.0,
        ...             mean_return=float("nan"))
        'iterations'
    """
    if stop.mean_return is not None and not math.isnan(mean_return) \
            and mean_return >= stop.mean_return:
        return "mean_return"
    if stop.iterations is not None and iterations >= stop.iterations:
        return "iterations"
    if stop.env_steps is not None and env_steps >= stop.env_steps:
        return "env_steps"
    if stop.seconds is not None and seconds >= stop.seconds:
        return "seconds"
    return None


def _rllib_env(env: str) -> str:
    """gymnasium ids RLlib can make in any process (the market's module imported first)."""
    return f"learning.envs:{env}" if env == _MARKET_GYM_ID else env


def _algorithm_class(name: str) -> Any:
    if name == "PPO":
        from ray.rllib.algorithms.ppo import PPOConfig

        return PPOConfig
    if name == "DQN":
        from ray.rllib.algorithms.dqn import DQNConfig

        return DQNConfig
    from ray.rllib.algorithms.appo import APPOConfig

    return APPOConfig


def _resources() -> tuple[float, bool]:
    """(GPUs in the connected cluster, whether torch can use CUDA in this process)."""
    import ray
    import torch

    gpus = float(ray.cluster_resources().get("GPU", 0.0)) if ray.is_initialized() else 0.0
    return gpus, bool(torch.cuda.is_available())


def algorithm_config(rl: RLConfig, *, cluster_gpus: float, cuda_available: bool) -> Any:
    """The RLlib ``AlgorithmConfig`` for ``rl`` (new API stack, torch), not yet built."""
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    from learning.rllib import envs as rl_envs

    gpus = learner_gpus(rl.num_gpus, cluster_gpus=cluster_gpus, cuda_available=cuda_available)
    if gpus > 0 and rl.num_learners == 0 and not cuda_available:
        raise LearningError(f"num_gpus={rl.num_gpus} puts the learner on a GPU in this "
                            "process, which sees no CUDA device; use num_learners >= 1 to "
                            "place learners on GPU nodes, or num_gpus: auto")
    cfg = (_algorithm_class(rl.algorithm)()
           .api_stack(enable_rl_module_and_learner=True,
                      enable_env_runner_and_connector_v2=True)
           .framework("torch")
           .env_runners(num_env_runners=rl.num_env_runners,
                        num_envs_per_env_runner=rl.num_envs_per_env_runner,
                        rollout_fragment_length=rl.rollout_fragment_length)
           .learners(num_learners=rl.num_learners, num_gpus_per_learner=gpus)
           .debugging(seed=rl.seed))
    if rl.is_multi_agent:
        rl_envs.register_envs()
        cfg.environment(env=rl.env, env_config=dict(rl.env_config))
        cfg.multi_agent(policies=set(rl_envs.policy_ids(rl.policy_mode, rl.env_config)),
                        policy_mapping_fn=rl_envs.policy_mapping(rl.policy_mode))
    else:
        cfg.environment(env=_rllib_env(rl.env), env_config=dict(rl.env_config))
    if rl.min_seconds_per_iteration is not None:
        cfg.reporting(min_time_s_per_iteration=rl.min_seconds_per_iteration)
    if rl.min_env_steps_per_iteration is not None:
        cfg.reporting(min_sample_timesteps_per_iteration=rl.min_env_steps_per_iteration)
    if rl.model:
        cfg.rl_module(model_config=DefaultModelConfig(**rl.model))
    try:
        cfg.training(**rl.hyperparameters)
    except TypeError as exc:  # RLConfig checks the keys; this is RLlib disagreeing
        raise LearningError(f"{rl.algorithm}: RLlib refused the hyperparameters "
                            f"{sorted(rl.hyperparameters)}: {exc}") from exc
    return cfg


def _figures(result: Mapping[str, Any]) -> tuple[int, float]:
    """(env steps sampled so far, episode_return_mean) from an RLlib result dict."""
    from ray.rllib.utils.metrics import (
        ENV_RUNNER_RESULTS,
        EPISODE_RETURN_MEAN,
        NUM_ENV_STEPS_SAMPLED_LIFETIME,
    )

    runners = result.get(ENV_RUNNER_RESULTS) or {}
    steps = result.get(NUM_ENV_STEPS_SAMPLED_LIFETIME,
                       runners.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0))
    mean = runners.get(EPISODE_RETURN_MEAN, math.nan)
    return int(steps or 0), float(math.nan if mean is None else mean)


def read_config(path: str | Path) -> RLConfig:
    """The RLConfig saved with a raymas checkpoint."""
    file = Path(path) / CONFIG_FILE
    if not file.exists():
        raise LearningError(f"{str(path)!r} is not a raymas RL checkpoint (no {CONFIG_FILE})")
    return RLConfig.from_dict(json.loads(file.read_text())["config"], source=str(file))


class RLTrainer:
    """Train one RLlib algorithm as an :class:`RLConfig` says (a thin shell over RLlib).

    Args:
        config: an :class:`RLConfig` or a mapping validated into one.
    """

    def __init__(self, config: RLConfig | Mapping[str, Any]) -> None:
        self.config = config if isinstance(config, RLConfig) else RLConfig.from_dict(config)
        self.algo: Any = None
        self.iterations = 0  # over the algorithm's lifetime, restores included

    def __enter__(self) -> RLTrainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def build(self) -> RLTrainer:
        """Create the RLlib algorithm (env runners, learners) on the connected cluster."""
        if self.algo is None:
            gpus, cuda = _resources()
            self.algo = algorithm_config(self.config, cluster_gpus=gpus,
                                         cuda_available=cuda).build_algo()
        return self

    def _algo(self) -> Any:
        if self.algo is None:
            raise LearningError("the trainer is not built: call build() first")
        return self.algo

    def train(self, progress: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
        """Run training iterations until a stop criterion holds (counted from this call).

        ``progress`` receives ``{"iteration", "env_steps", "seconds", "mean_return"}``
        after each iteration.
        """
        algo = self._algo()
        stop = self.config.stop
        started = time.perf_counter()
        steps0 = self._lifetime_steps()
        returns: list[float] = []
        reason = None
        while reason is None:
            steps, mean = _figures(algo.train())
            self.iterations += 1
            returns.append(mean)
            seconds = time.perf_counter() - started
            if progress is not None:
                progress({"iteration": self.iterations, "env_steps": steps - steps0,
                          "seconds": seconds, "mean_return": mean})
            reason = stop_reason(stop, iterations=len(returns), env_steps=steps - steps0,
                                 seconds=seconds, mean_return=mean)
        return TrainResult(iterations=len(returns), env_steps=steps - steps0,
                           seconds=time.perf_counter() - started, returns=returns,
                           reached=reason == "mean_return", stopped_by=reason)

    def _lifetime_steps(self) -> int:
        from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

        return int(self._algo().metrics.peek(
            (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0) or 0)

    # -- policies -----------------------------------------------------------------------
    def policy_ids(self) -> list[str]:
        """The ids of the trained policies (``default_policy`` for a single agent)."""
        if not self.config.is_multi_agent:
            return [_DEFAULT_POLICY]
        from learning.rllib.envs import policy_ids

        return policy_ids(self.config.policy_mode, self.config.env_config)

    def policy(self, policy_id: str | None = None) -> RLPolicy:
        """A CPU copy of a policy with the learner's current weights (greedy actions)."""
        ids = self.policy_ids()
        pid = policy_id if policy_id is not None else ids[0]
        if pid not in ids:
            raise LearningError(f"no policy {pid!r} (policies: {ids})")
        algo = self._algo()
        weights = algo.learner_group.get_weights([pid])[pid]
        module = copy.deepcopy(algo.get_module(pid)).to("cpu")
        module.set_state(weights)
        check_weights(module.state_dict(), weights, f"policy {pid!r}")
        module.eval()
        return RLPolicy(module, pid)

    def policies(self) -> dict[str, RLPolicy]:
        """Every policy by id."""
        return {pid: self.policy(pid) for pid in self.policy_ids()}

    def evaluate(self, episodes: int | None = None, seed: int = 0,
                 success_threshold: float | None = None) -> Evaluation:
        """Greedy episodes on a fresh env with resets seeded ``seed``, ``seed + 1``, ...

        ``episodes`` defaults to ``config.evaluation_episodes``.  The same weights give
        the same :class:`~learning.history.Evaluation`, exactly.
        """
        from learning.rllib.envs import make_env, policy_mapping
        from learning.rllib.policy import play, play_multi

        n = episodes if episodes is not None else self.config.evaluation_episodes
        env = make_env(self.config.env, self.config.env_config)
        try:
            if self.config.is_multi_agent:
                return play_multi(env, self.policies(),
                                  policy_mapping(self.config.policy_mode), n, seed=seed,
                                  success_threshold=success_threshold)
            return play(env, self.policy(), n, seed=seed, success_threshold=success_threshold)
        finally:
            env.close()

    # -- checkpoints --------------------------------------------------------------------
    def save(self, path: str | Path | None = None) -> str:
        """Write a checkpoint (RLlib's files plus ``raymas_rl.json``); returns its path.

        ``path`` defaults to ``<checkpoint_dir>/iter_<iterations>`` or a new temporary
        directory when the config has no ``checkpoint_dir``.
        """
        algo = self._algo()
        if path is None:
            if self.config.checkpoint_dir is None:
                path = tempfile.mkdtemp(prefix="raymas-rl-")
            else:
                path = Path(self.config.checkpoint_dir) / f"iter_{self.iterations:05d}"
        target = Path(path).resolve()
        target.mkdir(parents=True, exist_ok=True)
        algo.save_to_path(str(target))
        (target / CONFIG_FILE).write_text(json.dumps({
            "format": 1, "config": self.config.model_dump(mode="json"),
            "iterations": self.iterations, "policies": self.policy_ids()}, indent=1))
        return str(target)

    @classmethod
    def restore(cls, path: str | Path) -> RLTrainer:
        """A built trainer in the state ``path`` holds; raises if any weight failed to load."""
        from ray.rllib.algorithms.algorithm import Algorithm

        config = read_config(path)
        trainer = cls(config)
        gpus, cuda = _resources()
        algo_config = algorithm_config(config, cluster_gpus=gpus, cuda_available=cuda)
        trainer.algo = Algorithm.from_checkpoint(str(Path(path).resolve()), config=algo_config)
        trainer.iterations = int(json.loads((Path(path) / CONFIG_FILE).read_text())
                                 .get("iterations", 0))
        live = trainer.algo.learner_group.get_weights()
        for pid, module_dir in module_dirs(path).items():
            if pid not in live:
                raise LearningError(f"restoring {str(path)!r}: the algorithm has no "
                                    f"policy {pid!r} to load into (it has {sorted(live)})")
            check_weights(live[pid], saved_module_state(module_dir),
                          f"restoring policy {pid!r} of {str(path)!r}")
        return trainer

    def stop(self) -> None:
        """Release the algorithm's env runners and learners."""
        if self.algo is not None:
            self.algo.stop()
            self.algo = None
