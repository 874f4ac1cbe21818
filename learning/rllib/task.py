"""Task kinds for RLlib policies: ``rllib_train`` trains one, ``rl_act`` plays a trained one.

An agent that wins either task runs it in its own process, so a learning goal
in config.yaml trains on whichever node the agent sits (with the GPUs its
``num_gpus`` annotation gave it) and the policy acts where it is needed::

    {"kind": "rllib_train",
     "args": {"config": {"algorithm": "PPO", "env": "CartPole-v1",
                         "stop": {"mean_return": 450, "env_steps": 300000}},
              "checkpoint_dir": "/shared/ckpt/ppo"}}
    {"kind": "rl_act", "args": {"checkpoint": "/shared/ckpt/ppo", "episodes": 10}}

``rl_act`` loads only the RLModule(s) (:class:`~learning.rllib.policy.RLPolicy`),
never an Algorithm; the environment and the agent-to-policy mapping come from
the checkpoint's ``raymas_rl.json`` unless ``env`` is given.  Registered lazily
(``agents.agent.kinds._DEFERRED``): an agent that never runs them imports no RLlib.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.agent.kinds import task

__all__ = ["rl_act", "rllib_train"]


@task("rllib_train")
def rllib_train(config: Mapping[str, Any], checkpoint_dir: str | None = None,
                evaluate: bool = True, **_: Any) -> dict[str, Any]:
    """Train from an RLConfig mapping, save, and report the figures and the checkpoint path.

    The checkpoint is written into ``checkpoint_dir``, else into
    ``<config checkpoint_dir>/iter_<n>``, else into a temporary directory on the
    agent's node.  With ``evaluate`` the
    greedy policy plays ``evaluation_episodes`` seeded episodes after training.
    """
    from learning.rllib.config import RLConfig
    from learning.rllib.trainer import RLTrainer

    rl = RLConfig.from_dict(config, source="rllib_train task config")
    with RLTrainer(rl).build() as trainer:
        result = trainer.train()
        path = trainer.save(checkpoint_dir) if checkpoint_dir else trainer.save()
        out: dict[str, Any] = {"algorithm": rl.algorithm, "env": rl.env, **result.as_dict(),
                               "checkpoint": path}
        if evaluate:
            ev = trainer.evaluate(seed=rl.seed)
            out["evaluation"] = {"mean_return": ev.mean_return,
                                 "success_rate": ev.success_rate,
                                 "mean_length": ev.mean_length, "episodes": ev.episodes}
    return out


@task("rl_act")
def rl_act(checkpoint: str, episodes: int = 10, seed: int = 0, env: str | None = None,
           env_config: Mapping[str, Any] | None = None, policy_id: str | None = None,
           success_threshold: float | None = None, **_: Any) -> dict[str, Any]:
    """Load a checkpoint's policy and play ``episodes`` greedy episodes seeded from ``seed``.

    Returns ``mean_return``, ``success_rate``, ``mean_length``, ``episodes`` and ``env``.
    """
    from pathlib import Path

    from learning.errors import LearningError
    from learning.rllib.config import MULTI_AGENT_ENV
    from learning.rllib.envs import make_env, policy_mapping
    from learning.rllib.policy import RLPolicy, module_dirs, play, play_multi
    from learning.rllib.trainer import CONFIG_FILE, read_config

    saved = read_config(checkpoint) if (Path(checkpoint) / CONFIG_FILE).exists() else None
    if env is None and saved is None:
        raise LearningError(f"{checkpoint!r} has no {CONFIG_FILE}: say which env to play")
    env_id = env if env is not None else saved.env  # type: ignore[union-attr]
    if env_config is not None:
        kwargs = dict(env_config)
    else:
        kwargs = dict(saved.env_config) if saved is not None and saved.env == env_id else {}
    instance = make_env(env_id, kwargs)
    try:
        if env_id == MULTI_AGENT_ENV:
            mode = saved.policy_mode if saved is not None else "shared"
            policies = {pid: RLPolicy.from_checkpoint(checkpoint, pid)
                        for pid in module_dirs(checkpoint)}
            ev = play_multi(instance, policies, policy_mapping(mode), episodes, seed=seed,
                            success_threshold=success_threshold)
        else:
            ev = play(instance, RLPolicy.from_checkpoint(checkpoint, policy_id), episodes,
                      seed=seed, success_threshold=success_threshold)
    finally:
        instance.close()
    return {"env": env_id, "mean_return": ev.mean_return, "success_rate": ev.success_rate,
            "mean_length": ev.mean_length, "episodes": ev.episodes}
