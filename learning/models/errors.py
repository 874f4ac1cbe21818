"""Errors of the model layer, rooted at :class:`learning.errors.LearningError`.

Example:
    >>> err = UnknownModelNameError("model type", "neural_net", ["knn", "neural_network"])
    >>> str(err)
    "unknown model type 'neural_net'; did you mean 'neural_network'? (known: knn, neural_network)"
    >>> isinstance(err, ModelError), isinstance(err, LearningError)
    (True, True)
"""

from __future__ import annotations

from learning.errors import LearningError, UnknownNameError

__all__ = ["LearningError", "ModelError", "UnknownModelNameError"]


class ModelError(LearningError):
    """A model, its configuration, its data or its store was given something it cannot use."""


class UnknownModelNameError(ModelError, UnknownNameError):
    """A lookup by name (model type, framework, config key, stored model or version) failed."""
