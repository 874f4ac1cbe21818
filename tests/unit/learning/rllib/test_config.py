"""RLConfig validation, the GPU rule, stop criteria, episode play, checkpoint checks and the
multi-agent env against RLlib's own checker: all without starting Ray."""

from __future__ import annotations

import doctest
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.errors import ConfigError
from learning.errors import LearningError
from learning.rllib import config as rl_config
from learning.rllib.config import MULTI_AGENT_ENV, RLConfig, StopCriteria, learner_gpus
from learning.rllib.policy import check_weights, module_dirs, play, play_multi, saved_module_state
from learning.rllib.trainer import TrainResult, stop_reason


def _problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        RLConfig.from_dict(data)
    return dict(info.value.problems)


@pytest.mark.parametrize("module", ["learning.rllib.config", "learning.rllib.trainer"])
def test_docstring_examples(module: str) -> None:
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_defaults_and_dict_round_trip() -> None:
    cfg = RLConfig()
    assert (cfg.algorithm, cfg.env, cfg.num_gpus, cfg.num_env_runners) == (
        "PPO", "CartPole-v1", "auto", 0)
    assert cfg.stop.iterations == 10 and not cfg.is_multi_agent
    again = RLConfig.from_dict(cfg.model_dump(mode="json"))
    assert again == cfg


def test_python_and_dict_build_the_same_config() -> None:
    data = {"algorithm": "APPO", "env": MULTI_AGENT_ENV, "multi_agent": "per_agent",
            "env_config": {"n_agents": 3}, "hyperparameters": {"lr": 0.0005, "vtrace": True},
            "stop": {"env_steps": 5000}, "num_gpus": 0, "seed": 4}
    from_dict = RLConfig.from_dict(data)
    in_python = RLConfig(algorithm="APPO", env=MULTI_AGENT_ENV, multi_agent="per_agent",
                         env_config={"n_agents": 3},
                         hyperparameters={"lr": 0.0005, "vtrace": True},
                         stop=StopCriteria(env_steps=5000), num_gpus=0, seed=4)
    assert from_dict == in_python
    assert from_dict.is_multi_agent and from_dict.policy_mode == "per_agent"
    assert RLConfig(env=MULTI_AGENT_ENV).policy_mode == "shared"


def test_unknown_hyperparameter_names_the_key_and_the_algorithm() -> None:
    problems = _problems({"algorithm": "PPO", "hyperparameters": {"lr": 1e-3, "num_sgd_iter": 5,
                                                                   "replay_buffer_config": {}}})
    assert set(problems) == {"hyperparameters.num_sgd_iter",
                             "hyperparameters.replay_buffer_config"}
    assert "PPO has no training setting 'num_sgd_iter'" in problems[
        "hyperparameters.num_sgd_iter"]
    # the same key is fine for the algorithm that has it
    assert RLConfig(algorithm="DQN", hyperparameters={"replay_buffer_config": {}})


def test_every_algorithm_has_its_keys() -> None:
    assert set(rl_config.TRAINING_KEYS) == set(rl_config.ALGORITHMS)
    for keys in rl_config.TRAINING_KEYS.values():
        assert {"lr", "gamma", "train_batch_size_per_learner"} <= keys
    assert "clip_param" in rl_config.TRAINING_KEYS["PPO"]
    assert "clip_param" not in rl_config.TRAINING_KEYS["DQN"]


@pytest.mark.parametrize(("data", "path", "fragment"), [
    ({"algorithm": "SAC"}, "algorithm", "'PPO', 'DQN' or 'APPO'"),
    ({"model": {"fcnet_hidden": [8]}}, "model.fcnet_hidden", "did you mean 'fcnet_hiddens'"),
    ({"stop": {"mean_return": 100}}, "stop", "at least one of iterations"),
    ({"stop": {"iterations": 0}}, "stop.iterations", "greater than or equal to 1"),
    ({"num_gpus": -1}, "num_gpus", "a number >= 0 or 'auto' (got -1)"),
    ({"num_gpus": "some"}, "num_gpus", "or 'auto' (got 'some')"),
    ({"num_env_runners": -1}, "num_env_runners", "greater than or equal to 0"),
    ({"rollout_fragment_length": 0}, "rollout_fragment_length", ">= 1 or 'auto'"),
    ({"env": "CartPole-v9"}, "env", "did you mean 'CartPole-v1'"),
    ({"multi_agent": "shared"}, "multi_agent", "single-agent environment"),
    ({"env": MULTI_AGENT_ENV, "env_config": {"n_agent": 3}}, "env_config.n_agent",
     "did you mean 'n_agents'"),
    ({"multi_agent": "each"}, "multi_agent", "'shared' or 'per_agent'"),
    ({"evaluation_episodes": 0}, "evaluation_episodes", "greater than or equal to 1"),
    ({"learning_rate": 0.1}, "learning_rate", "Extra inputs are not permitted"),
])
def test_validation_errors_name_the_field(data: dict[str, Any], path: str,
                                          fragment: str) -> None:
    problems = _problems(data)
    assert path in problems, problems
    assert fragment in problems[path]


def test_config_error_lists_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        RLConfig.from_dict({"algorithm": "DQN", "hyperparameters": {"gama": 0.9},
                            "model": {"hiden": 1}}, source="config.yaml learning")
    text = str(info.value)
    assert text.startswith("invalid configuration in config.yaml learning")
    assert "hyperparameters.gama" in text and "model.hiden" in text


def test_gymnasium_ids_of_the_project_are_known() -> None:
    assert RLConfig(env="raymas/TaskMarket-v0", env_config={"observation": "box"})


@pytest.mark.parametrize(("requested", "cluster", "cuda", "expected"), [
    ("auto", 2.0, False, 0.0),   # the test cluster: fake GPUs, no CUDA
    ("auto", 0.0, True, 0.0),    # CUDA here but the cluster lends no GPU
    ("auto", 1.0, True, 1.0),
    (0, 2.0, True, 0.0),
    (1, 0.0, False, 1.0),        # explicit numbers are passed on unchanged
    (0.25, 1.0, True, 0.25),
])
def test_learner_gpus(requested: Any, cluster: float, cuda: bool, expected: float) -> None:
    assert learner_gpus(requested, cluster_gpus=cluster, cuda_available=cuda) == expected


def test_stop_reason_order_and_nan() -> None:
    crit = StopCriteria(mean_return=100, iterations=5, env_steps=1000, seconds=60)
    kw = {"iterations": 1, "env_steps": 10, "seconds": 1.0}
    assert stop_reason(crit, **kw, mean_return=math.nan) is None
    assert stop_reason(crit, **kw, mean_return=100.0) == "mean_return"
    assert stop_reason(crit, iterations=5, env_steps=2000, seconds=99, mean_return=1.0) \
        == "iterations"
    assert stop_reason(crit, iterations=1, env_steps=1000, seconds=99, mean_return=1.0) \
        == "env_steps"
    assert stop_reason(crit, iterations=1, env_steps=1, seconds=60, mean_return=1.0) \
        == "seconds"


def test_train_result_mean_return_skips_nan() -> None:
    result = TrainResult(iterations=3, env_steps=30, seconds=1.0,
                         returns=[math.nan, 20.0, math.nan], stopped_by="iterations")
    assert result.mean_return == 20.0
    assert result.as_dict()["returns"][1] == 20.0
    assert math.isnan(TrainResult(1, 1, 0.1, [math.nan]).mean_return)


class _Corridor:
    """Walk right from 0 to 3 (reward 1 on arrival) or left into a pit (reward -1)."""

    def reset(self, *, seed: int | None = None) -> tuple[int, dict[str, Any]]:
        self.pos = 0
        return self.pos, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        self.pos += 1 if action == 1 else -1
        if self.pos >= 3:
            return self.pos, 1.0, True, False, {}
        if self.pos < 0:
            return self.pos, -1.0, True, False, {}
        return self.pos, 0.0, False, False, {}


def test_play_counts_returns_lengths_and_successes() -> None:
    right = play(_Corridor(), lambda obs: 1, 4, seed=0)
    assert (right.mean_return, right.success_rate, right.mean_length, right.episodes) == (
        1.0, 1.0, 3.0, 4)
    left = play(_Corridor(), lambda obs: 0, 2, seed=0)
    assert (left.mean_return, left.success_rate) == (-1.0, 0.0)
    assert play(_Corridor(), lambda obs: 0, 2, success_threshold=-1.0).success_rate == 1.0
    with pytest.raises(LearningError):
        play(_Corridor(), lambda obs: 1, 0)


class _Fixed:
    def __init__(self, action: int) -> None:
        self.action = action
        self.calls: list[int] = []

    def act_batch(self, observations: list[Any]) -> np.ndarray:
        self.calls.append(len(observations))
        return np.full(len(observations), self.action)


def test_play_multi_batches_agents_per_policy_and_sums_rewards() -> None:
    from learning.envs import TaskMarketMultiAgentEnv

    env = TaskMarketMultiAgentEnv(n_agents=3, horizon=7, observation="box")
    shared = _Fixed(0)  # action 0 idles: no reward, no cost
    ev = play_multi(env, {"shared": shared}, lambda agent: "shared", 2, seed=3)
    assert (ev.mean_length, ev.episodes, ev.success_rate) == (7.0, 2, 0.0)
    assert shared.calls == [3] * 14  # one batch of all three agents per step
    mine, theirs = _Fixed(0), _Fixed(1)
    play_multi(env, {"a0": mine, "rest": theirs},
               lambda agent: "a0" if agent == "agent_0" else "rest", 1, seed=3)
    assert mine.calls == [1] * 7 and theirs.calls == [2] * 7


def _fake_checkpoint(root: Path, modules: dict[str, dict[str, Any]]) -> Path:
    for pid, state in modules.items():
        d = root / "learner_group" / "learner" / "rl_module" / pid
        d.mkdir(parents=True)
        (d / "module_state.pkl").write_bytes(pickle.dumps(state))
    return root


def test_module_dirs_and_saved_state(tmp_path: Path) -> None:
    w = {"pi.weight": np.ones((2, 2), dtype=np.float32)}
    ckpt = _fake_checkpoint(tmp_path / "ck", {"agent_0": w, "agent_1": w})
    dirs = module_dirs(ckpt)
    assert sorted(dirs) == ["agent_0", "agent_1"]
    assert module_dirs(dirs["agent_1"]) == {"agent_1": dirs["agent_1"]}
    assert np.array_equal(saved_module_state(dirs["agent_0"])["pi.weight"], w["pi.weight"])
    with pytest.raises(LearningError, match="not an RLlib checkpoint"):
        module_dirs(tmp_path)
    with pytest.raises(LearningError, match="no checkpoint"):
        module_dirs(tmp_path / "nowhere")


def test_check_weights_refuses_missing_or_different_tensors() -> None:
    saved = {"a": np.zeros(3), "b": np.ones(2), "vf.extra": np.ones(1)}
    check_weights({"a": np.zeros(3), "b": np.ones(2)}, saved, "p")  # extra saved keys: fine
    with pytest.raises(LearningError, match=r"no weights for \['c'\]"):
        check_weights({"a": np.zeros(3), "c": np.ones(1)}, saved, "p")
    with pytest.raises(LearningError, match=r"weights \['b'\] differ"):
        check_weights({"a": np.zeros(3), "b": np.zeros(2)}, saved, "p")


def test_task_market_wrapper_passes_rllib_multiagent_checker() -> None:
    from ray.rllib.env.multi_agent_env import MultiAgentEnv
    from ray.rllib.utils.pre_checks.env import check_multiagent_environments

    from learning.rllib.envs import RLTaskMarketEnv

    env = RLTaskMarketEnv({"n_agents": 3, "horizon": 4})
    assert isinstance(env, MultiAgentEnv)
    # the checker skips every check (with a warning) when these base attributes are missing
    assert env._agent_ids == {"agent_0", "agent_1", "agent_2"}
    check_multiagent_environments(env)
    obs, _ = env.reset(seed=1)
    assert env.get_observation_space("agent_2").contains(obs["agent_2"])
    done, steps = False, 0
    while not done:
        _, _, terminated, truncated, _ = env.step({a: 1 for a in env.agents})
        done = terminated["__all__"] or truncated["__all__"]
        steps += 1
    assert steps == 4 and env.agents == []
