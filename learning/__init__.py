"""Agent learning as pure cores: tabular TD control, replay, transfer, bandits, a task market.

Nothing re-exported here imports Ray, torch, tensorflow or scikit-learn: it needs
only NumPy.  The modules that need more are imported by name, when used; the
subpackages load nothing heavy on import either:

- :mod:`learning.envs` — gymnasium views of the task market;
- :mod:`learning.pg` — REINFORCE with a baseline (:mod:`learning.pg.reinforce`,
  PyTorch) on a torch-free core (:mod:`learning.pg.core`);
- :mod:`learning.models` (+ :mod:`learning.models.store`), :mod:`learning.production` —
  one model interface over scikit-learn, PyTorch and TensorFlow, the versioned
  store and the async ``ProductionMLIntegration``;
- :mod:`learning.automl` — Tune AutoML (:mod:`learning.automl.search` over
  :mod:`learning.automl.space`);
- :mod:`learning.rllib` — RLlib training, checkpoints and policies
  (:mod:`learning.rllib.config`, :mod:`learning.rllib.trainer`,
  :mod:`learning.rllib.policy`, :mod:`learning.rllib.envs`);
- task kinds: ``q_learning`` (:mod:`learning.task`), ``policy_gradient``
  (:mod:`learning.pg.task`), ``automl`` (:mod:`learning.automl.task`),
  ``rllib_train`` and ``rl_act`` (:mod:`learning.rllib.task`), registered on first use.

The production names ``ProductionMLIntegration`` (:mod:`learning.production`),
``ModelType``, ``MLFramework`` and ``TrainingConfig`` (:mod:`learning.models`) are
exported too, loaded on first use, so ``from learning import ProductionMLIntegration``
works as the seed document writes it and ``import learning`` stays light.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

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
from learning.rllib import _tf_guard
from learning.schedules import Constant, Exponential, Linear, Schedule, as_schedule
from learning.tabular import ExpectedSarsa, QLearner, Sarsa, TabularLearner
from learning.transfer import (
    TransferResult,
    measure_transfer,
    transfer_q_table,
    transfer_weights,
)

logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from learning.models.config import MLFramework, ModelType, TrainingConfig
    from learning.production import ProductionMLIntegration

_tf_guard.guard()  # before anything imports ray.rllib: see learning/rllib/_tf_guard.py

#: Names exported here but loaded from their module on first use.
_LAZY = {"ProductionMLIntegration": "learning.production", "MLFramework": "learning.models.config",
         "ModelType": "learning.models.config", "TrainingConfig": "learning.models.config"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'learning' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
    "MLFramework",
    "MarketConfig",
    "ModelType",
    "PrioritizedReplay",
    "ProductionMLIntegration",
    "QLearner",
    "ReplayBuffer",
    "Sarsa",
    "Schedule",
    "SumTree",
    "TabularLearner",
    "TaskMarket",
    "ThompsonBandit",
    "TrainingConfig",
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
