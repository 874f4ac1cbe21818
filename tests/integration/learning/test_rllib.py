"""RLlib training through raymas on the session's Ray: learning, checkpoints that restore
exactly, policies acting in agent actors, the multi-agent task market, GPU resolution.

Everything samples in the driver (``num_env_runners=0``) with vectorised envs, so the file
stays within a few minutes on two cores.
"""

from __future__ import annotations

import inspect
import math
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents import TaskAllocation
from learning.errors import LearningError
from learning.rllib.config import MULTI_AGENT_ENV, TRAINING_KEYS, RLConfig
from learning.rllib.policy import RLPolicy, play
from learning.rllib.trainer import RLTrainer, algorithm_config
from tests.integration.conftest import specs

pytestmark = pytest.mark.integration

#: PPO that learns CartPole in a handful of 2,000-step iterations
FAST_PPO: dict[str, Any] = {
    "hyperparameters": {"lr": 0.001, "train_batch_size_per_learner": 2000,
                        "minibatch_size": 128, "num_epochs": 6, "vf_loss_coeff": 0.01},
    "model": {"fcnet_hiddens": [64, 64]}, "num_envs_per_env_runner": 8, "seed": 0}


@pytest.fixture(scope="module")
def ppo(ray_cluster: Any) -> Iterator[tuple[RLTrainer, Any]]:
    trainer = RLTrainer(RLConfig(env="CartPole-v1", stop={"mean_return": 100, "iterations": 12},
                                 **FAST_PPO)).build()
    result = trainer.train()
    yield trainer, result
    trainer.stop()


def test_ppo_learns_cartpole(ppo: tuple[RLTrainer, Any]) -> None:
    trainer, result = ppo
    assert result.reached and result.stopped_by == "mean_return", result
    assert result.returns[0] < 40 <= 100 <= result.mean_return  # a random policy gets ~22
    assert result.env_steps >= 2000 * result.iterations and result.seconds > 0
    assert trainer.evaluate(episodes=3, seed=0).mean_return > 100  # greedy does better still
    # 'auto' on the test cluster (2 fake GPUs, no CUDA) asks for no GPU
    assert trainer.algo.config.num_gpus_per_learner == 0


def test_restored_trainer_scores_exactly_the_same(ppo: tuple[RLTrainer, Any],
                                                  tmp_path: Path) -> None:
    trainer, _ = ppo
    before = trainer.evaluate(episodes=5, seed=11)
    path = trainer.save(tmp_path / "ppo")
    assert (Path(path) / "raymas_rl.json").exists()
    restored = RLTrainer.restore(path)
    try:
        assert restored.evaluate(episodes=5, seed=11) == before
        assert restored.iterations == trainer.iterations
        assert restored.config == trainer.config
    finally:
        restored.stop()


def _observations(n: int) -> np.ndarray:
    """CartPole states from real episodes plus random ones around them."""
    import gymnasium as gym

    env, rng, seen = gym.make("CartPole-v1"), np.random.default_rng(0), []
    obs, _ = env.reset(seed=0)
    while len(seen) < n // 2:
        seen.append(obs)
        obs, _, term, trunc, _ = env.step(int(rng.integers(2)))
        if term or trunc:
            obs, _ = env.reset()
    noise = rng.normal(0.0, [1.0, 1.0, 0.1, 1.0], size=(n - len(seen), 4))
    return np.vstack([np.array(seen), noise]).astype(np.float32)


def test_policy_from_checkpoint_acts_like_the_live_module(ppo: tuple[RLTrainer, Any],
                                                          tmp_path: Path) -> None:
    trainer, _ = ppo
    path = trainer.save(tmp_path / "ppo")
    loaded = RLPolicy.from_checkpoint(path)
    assert loaded.policy_id == "default_policy"
    batch = _observations(400)
    live = trainer.policy().act_batch(batch)
    assert np.array_equal(loaded.act_batch(batch), live)
    assert len(set(live.tolist())) == 2  # both actions occur: the comparison means something
    assert isinstance(loaded.act(batch[0]), int) and loaded.act(batch[0]) == live[0]


def test_policy_loads_in_a_process_without_ray(ppo: tuple[RLTrainer, Any],
                                               tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    trainer, _ = ppo
    path = trainer.save(tmp_path / "ppo")
    batch = _observations(50)
    np.save(tmp_path / "obs.npy", batch)
    code = (
        "import json, sys, numpy as np, ray\n"
        "def refuse(*a, **k): raise RuntimeError('ray.init called')\n"
        "ray.init = refuse\n"
        "from learning.rllib.policy import RLPolicy\n"
        f"policy = RLPolicy.from_checkpoint({path!r})\n"
        f"actions = policy.act_batch(np.load({str(tmp_path / 'obs.npy')!r}))\n"
        "assert not ray.is_initialized()\n"
        "print(json.dumps(actions.tolist()))\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd=Path(__file__).resolve().parents[3]).stdout
    assert json.loads(out.strip().splitlines()[-1]) == trainer.policy().act_batch(batch).tolist()


def test_checkpoint_with_missing_or_changed_weights_is_refused(ppo: tuple[RLTrainer, Any],
                                                               tmp_path: Path) -> None:
    trainer, _ = ppo
    path = Path(trainer.save(tmp_path / "ppo"))
    state_file = path / "learner_group/learner/rl_module/default_policy/module_state.pkl"
    state = pickle.loads(state_file.read_bytes())
    dropped = sorted(state)[0]
    state_file.write_bytes(pickle.dumps({k: v for k, v in state.items() if k != dropped}))
    with pytest.raises(LearningError, match="no weights for") as info:
        RLPolicy.from_checkpoint(path)
    assert dropped in str(info.value)
    with pytest.raises(LearningError, match="no weights for"):
        RLTrainer.restore(path)


def test_policy_in_an_agent_actor_scores_as_in_the_driver(ppo: tuple[RLTrainer, Any],
                                                          make_supervisor: Any,
                                                          tmp_path: Path) -> None:
    import gymnasium as gym

    trainer, _ = ppo
    path = trainer.save(tmp_path / "ppo")
    in_driver = play(gym.make("CartPole-v1"), RLPolicy.from_checkpoint(path), 4, seed=7)
    sup = make_supervisor()
    sup.spawn(specs("rl", 1))
    tiny = {"env": "CartPole-v1", "stop": {"iterations": 1}, "num_envs_per_env_runner": 4,
            "hyperparameters": {"train_batch_size_per_learner": 500, "minibatch_size": 100,
                                "num_epochs": 1}, "evaluation_episodes": 2}
    ids = sup.submit([
        TaskAllocation(task_id="rl-act", kind="rl_act",
                       args={"checkpoint": path, "episodes": 4, "seed": 7}, max_attempts=1),
        TaskAllocation(task_id="rl-train", kind="rllib_train",
                       args={"config": tiny, "checkpoint_dir": str(tmp_path / "in-agent")},
                       max_attempts=1),
    ])
    done = sup.wait(ids, timeout_s=240)
    assert {d["state"] for d in done.values()} == {"done"}, done
    acted = sup.result("rl-act")["value"]
    assert acted["mean_return"] == in_driver.mean_return
    assert acted["mean_length"] == in_driver.mean_length and acted["episodes"] == 4
    trained = sup.result("rl-train")["value"]
    assert trained["iterations"] == 1 and trained["env_steps"] >= 500
    assert trained["checkpoint"] == str((tmp_path / "in-agent").resolve())
    assert trained["evaluation"]["episodes"] == 2
    # the policy trained in the agent loads in the driver and scores what the agent measured
    again = RLTrainer.restore(trained["checkpoint"])
    try:
        assert again.evaluate(episodes=2, seed=0).mean_return == \
            trained["evaluation"]["mean_return"]
    finally:
        again.stop()


@pytest.mark.parametrize(("algorithm", "settings"), [
    # DQN: one gradient step per 64 sampled steps keeps an iteration to a few seconds
    ("DQN", {"hyperparameters": {"num_steps_sampled_before_learning_starts": 256,
                                 "lr": 0.001},
             "rollout_fragment_length": 16, "num_envs_per_env_runner": 4,
             "min_env_steps_per_iteration": 1000}),
    # APPO: an iteration lasts 10 s by default; 4 s is enough to show it runs
    ("APPO", {"num_envs_per_env_runner": 4, "min_seconds_per_iteration": 4}),
])
def test_dqn_and_appo_train_end_to_end(ray_cluster: Any, tmp_path: Path, algorithm: str,
                                       settings: dict[str, Any]) -> None:
    cfg = RLConfig(algorithm=algorithm, env="CartPole-v1", stop={"iterations": 2}, seed=1,
                   model={"fcnet_hiddens": [32]}, **settings)
    with RLTrainer(cfg).build() as trainer:
        result = trainer.train()
        assert result.iterations == 2 and result.env_steps >= 1000
        assert all(not math.isnan(r) for r in result.returns)
        score = trainer.evaluate(episodes=3, seed=5)
        assert score.episodes == 3 and score.mean_return >= 8  # CartPole's shortest episode
        path = trainer.save(tmp_path / algorithm)
        assert RLPolicy.from_checkpoint(path).act_batch(_observations(20)).shape == (20,)


def test_multi_agent_ppo_on_the_task_market(ray_cluster: Any, tmp_path: Path) -> None:
    from learning.rllib.task import rl_act

    cfg = RLConfig(env=MULTI_AGENT_ENV, multi_agent="per_agent",
                   env_config={"n_agents": 2, "horizon": 20},
                   hyperparameters={"train_batch_size_per_learner": 400, "minibatch_size": 100,
                                    "num_epochs": 2},
                   model={"fcnet_hiddens": [32]}, stop={"iterations": 2})
    with RLTrainer(cfg).build() as trainer:
        result = trainer.train()
        assert result.iterations == 2 and result.env_steps >= 400
        assert trainer.policy_ids() == ["agent_0", "agent_1"]
        score = trainer.evaluate(episodes=2, seed=3)
        assert score.mean_length == 20.0
        path = trainer.save(tmp_path / "market")
        for pid, live in trainer.policies().items():
            loaded = RLPolicy.from_checkpoint(path, pid)
            obs = np.eye(live.observation_space.shape[0], dtype=np.float32)
            actions = loaded.act_batch(obs)
            assert np.array_equal(actions, live.act_batch(obs))
            assert all(live.action_space.contains(int(a)) for a in actions)
        assert rl_act(path, episodes=2, seed=3)["mean_return"] == score.mean_return
        with pytest.raises(LearningError, match="say which with policy_id"):
            RLPolicy.from_checkpoint(path)


def test_shared_policy_on_the_task_market(ray_cluster: Any, tmp_path: Path) -> None:
    cfg = RLConfig(env=MULTI_AGENT_ENV, env_config={"n_agents": 3, "horizon": 10},
                   hyperparameters={"train_batch_size_per_learner": 300, "minibatch_size": 100,
                                    "num_epochs": 1},
                   model={"fcnet_hiddens": [16]}, stop={"iterations": 1},
                   checkpoint_dir=str(tmp_path))
    with RLTrainer(cfg).build() as trainer:
        seen: list[dict[str, Any]] = []
        first = trainer.train(progress=seen.append)
        assert first.env_steps >= 300 and first.stopped_by == "iterations"  # env steps counted
        assert [row["iteration"] for row in seen] == [1]
        assert set(seen[0]) == {"iteration", "env_steps", "seconds", "mean_return"}
        # stop criteria count from each call: a second call trains one more iteration
        second = trainer.train(progress=seen.append)
        assert second.iterations == 1 and trainer.iterations == 2
        assert seen[1]["iteration"] == 2 and second.env_steps >= 300
        assert trainer.policy_ids() == ["shared"]
        assert trainer.evaluate(episodes=1, seed=0).mean_length == 10.0
        assert trainer.save() == str((tmp_path / "iter_00002").resolve())


def test_gpu_settings_reach_rllib(ray_cluster: Any) -> None:
    cpu_here = RLConfig(stop={"iterations": 1})
    assert algorithm_config(cpu_here, cluster_gpus=2, cuda_available=False) \
        .num_gpus_per_learner == 0
    assert algorithm_config(cpu_here, cluster_gpus=2, cuda_available=True) \
        .num_gpus_per_learner == 1
    remote = RLConfig(num_gpus=1, num_learners=1, stop={"iterations": 1})
    cfg = algorithm_config(remote, cluster_gpus=2, cuda_available=False)
    assert (cfg.num_gpus_per_learner, cfg.num_learners) == (1, 1)  # explicit: honoured
    with pytest.raises(LearningError, match="sees no CUDA device"):
        algorithm_config(RLConfig(num_gpus=1, stop={"iterations": 1}), cluster_gpus=2,
                         cuda_available=False)


def test_training_keys_match_rllib_signatures() -> None:
    from ray._common.deprecation import DEPRECATED_VALUE
    from ray.rllib.algorithms.appo import APPOConfig
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.algorithms.ppo import PPOConfig

    left_out = {"model", "learner_class", "learner_connector", "learner_config_dict",
                "add_default_connectors_to_learner_pipeline", "lr_schedule",
                "entropy_coeff_schedule", "_lr_vf", "_separate_vf_optimizer",
                "before_learn_on_batch"}
    for name, cls in {"PPO": PPOConfig, "DQN": DQNConfig, "APPO": APPOConfig}.items():
        accepted = set()
        for klass in cls.__mro__:
            if "training" in vars(klass):
                params = inspect.signature(vars(klass)["training"]).parameters.values()
                accepted |= {p.name for p in params if p.name not in ("self", "kwargs")
                             and p.default is not DEPRECATED_VALUE}
        assert TRAINING_KEYS[name] == accepted - left_out, name
