"""RLlib training, checkpoints and policies, and their task kinds.

- :mod:`learning.rllib.config` — :class:`~learning.rllib.config.RLConfig` and
  :class:`~learning.rllib.config.StopCriteria`, checked without importing Ray;
- :mod:`learning.rllib.trainer` — :class:`~learning.rllib.trainer.RLTrainer`:
  build, train to a stop criterion, evaluate, save, restore;
- :mod:`learning.rllib.policy` — :class:`~learning.rllib.policy.RLPolicy`: a
  checkpoint's RLModule without its Algorithm;
- :mod:`learning.rllib.envs` — the task market as an RLlib ``MultiAgentEnv``
  (imports RLlib);
- :mod:`learning.rllib.task` — the ``rllib_train`` and ``rl_act`` task kinds,
  registered when an agent first runs them;
- :mod:`learning.rllib._tf_guard` — keeps RLlib from switching TensorFlow to
  graph mode; ``import learning`` runs it, before anything can import ``ray.rllib``.

Importing this package imports neither ``ray.rllib`` nor torch; each name loads
its module on first use (``learning.rllib.RLConfig`` stays RLlib-free).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ALGORITHMS", "CONFIG_FILE", "MODEL_KEYS", "MODULES_DIR", "MULTI_AGENT_ENV",
           "SHARED_POLICY", "TRAINING_KEYS", "RLConfig", "RLPolicy", "RLTaskMarketEnv",
           "RLTrainer", "StopCriteria", "TrainResult", "algorithm_config", "check_weights",
           "learner_gpus", "make_env", "module_dirs", "per_agent_policy", "play", "play_multi",
           "policy_ids", "policy_mapping", "read_config", "register_envs", "saved_module_state",
           "shared_policy", "stop_reason"]

_WHERE = {
    **dict.fromkeys(("ALGORITHMS", "MODEL_KEYS", "MULTI_AGENT_ENV", "TRAINING_KEYS",
                     "RLConfig", "StopCriteria", "learner_gpus"), "config"),
    **dict.fromkeys(("CONFIG_FILE", "RLTrainer", "TrainResult", "algorithm_config",
                     "read_config", "stop_reason"), "trainer"),
    **dict.fromkeys(("MODULES_DIR", "RLPolicy", "check_weights", "module_dirs", "play",
                     "play_multi", "saved_module_state"), "policy"),
    **dict.fromkeys(("SHARED_POLICY", "RLTaskMarketEnv", "make_env", "per_agent_policy",
                     "policy_ids", "policy_mapping", "register_envs", "shared_policy"), "envs"),
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"learning.rllib.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'learning.rllib' has no attribute {name!r}")
