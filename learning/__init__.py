"""Agent learning as pure cores: tabular TD control, replay, transfer, bandits, a task market.

Nothing here imports Ray, torch or tensorflow.  The gymnasium views of the task
market live in :mod:`learning.envs` (imported on demand, since it needs
gymnasium, the ``learning`` extra); everything re-exported here needs only NumPy.
RLlib training and Tune AutoML are shells built on top of these, elsewhere.
"""

from __future__ import annotations

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
