"""Agent learning as pure cores: tabular TD control, replay, transfer, bandits, a task market.

Nothing re-exported here imports Ray, torch, tensorflow or scikit-learn: it needs
only NumPy.  The modules that need more are imported by name, when used:

- :mod:`learning.envs` — gymnasium views of the task market;
- :mod:`learning.policy_gradient` — REINFORCE with a baseline (PyTorch);
- :mod:`learning.models`, :mod:`learning.model_store`, :mod:`learning.production` —
  one model interface over scikit-learn, PyTorch and TensorFlow, the versioned
  store and the async ``ProductionMLIntegration``;
- :mod:`learning.automl` (+ :mod:`learning.automl_space`) — Tune AutoML;
- :mod:`learning.rl_config`, :mod:`learning.rllib_train`, :mod:`learning.rl_policy`,
  :mod:`learning.rl_envs` — RLlib training, checkpoints and policies;
- task kinds: ``q_learning`` (:mod:`learning.task`), ``policy_gradient``,
  ``automl``, ``rllib_train`` and ``rl_act``, registered on first use.
"""

from __future__ import annotations

from learning import _rllib_tf
from learning.bandits import (
    Bandit,
    EpsilonGreedyBandit,
    ThompsonBandit,
    UCB1Bandit,
    bandit_from_dict,
    make_bandit,
)
from learning.errors import LearningError, UnknownNameError
from learning.history import Evaluation, TrainingHistory
from learning.market import MarketConfig, TaskMarket
from learning.replay import Batch, PrioritizedReplay, ReplayBuffer, SumTree
from learning.schedules import Constant, Exponential, Linear, Schedule, as_schedule
from learning.tabular import ExpectedSarsa, QLearner, Sarsa, TabularLearner
from learning.transfer import (
    TransferResult,
    measure_transfer,
    transfer_q_table,
    transfer_weights,
)

_rllib_tf.guard()  # before anything imports ray.rllib: see learning/_rllib_tf.py

__all__ = [
    "Bandit",
    "Batch",
    "Constant",
    "EpsilonGreedyBandit",
    "Evaluation",
    "ExpectedSarsa",
    "Exponential",
    "LearningError",
    "Linear",
    "MarketConfig",
    "PrioritizedReplay",
    "QLearner",
    "ReplayBuffer",
    "Sarsa",
    "Schedule",
    "SumTree",
    "TabularLearner",
    "TaskMarket",
    "ThompsonBandit",
    "TrainingHistory",
    "TransferResult",
    "UCB1Bandit",
    "UnknownNameError",
    "as_schedule",
    "bandit_from_dict",
    "make_bandit",
    "measure_transfer",
    "transfer_q_table",
    "transfer_weights",
]
