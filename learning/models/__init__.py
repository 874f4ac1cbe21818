"""One model interface over scikit-learn, PyTorch and TensorFlow.

:func:`create_model` makes a :class:`Model` of a family (:class:`ModelType`) with
a framework (:class:`MLFramework`); every model fits, predicts, evaluates and
saves the same way, and :func:`load_model` reads any saved one back;
:mod:`learning.models.store` keeps saved models as numbered versions on disk
(:class:`~learning.models.store.ModelStore`).  Importing this package imports no
framework: scikit-learn, torch and tensorflow load when a model of theirs is
first created or loaded.

Example:
    >>> TrainingConfig(epochs=3, batch_size=16).epochs
    3
    >>> sorted(t.value for t in SUPPORTED[MLFramework.PYTORCH])
    ['linear_regression', 'logistic_regression', 'neural_network']
"""

from __future__ import annotations

from learning.models.base import Model
from learning.models.config import MLFramework, ModelType, TrainingConfig
from learning.models.errors import ModelError, UnknownModelNameError
from learning.models.factory import (
    SUPPORTED,
    create_model,
    is_supported,
    load_model,
    model_from_bytes,
    model_to_bytes,
)

__all__ = [
    "SUPPORTED",
    "MLFramework",
    "Model",
    "ModelError",
    "ModelType",
    "TrainingConfig",
    "UnknownModelNameError",
    "create_model",
    "is_supported",
    "load_model",
    "model_from_bytes",
    "model_to_bytes",
]
