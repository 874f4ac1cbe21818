"""AutoML on Ray Tune: search spaces, the search, and the ``automl`` task kind.

- :mod:`learning.automl.space` — search spaces and model families (no Ray, no ML
  framework);
- :mod:`learning.automl.search` — :class:`~learning.automl.search.AutoML`: Tune
  trials of k-fold cross-validation under ASHA, the best model kept in a
  :class:`~learning.models.store.ModelStore`;
- :mod:`learning.automl.task` — the ``automl`` task kind and its datasets,
  registered when an agent first runs it.

Importing this package imports neither Ray Tune nor scikit-learn; each name loads
its module on first use, and a search imports Tune and the frameworks when it runs.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DEFAULT_SPACE", "FAMILIES", "TRAINING_KEYS", "AutoML", "AutoMLResult", "Dist",
           "Space", "TrialSummary", "cv_splits", "family_of", "grid_points", "parse_space",
           "split_params"]

_WHERE = {"AutoML": "search", "AutoMLResult": "search", "TrialSummary": "search",
          "cv_splits": "search", "DEFAULT_SPACE": "space", "FAMILIES": "space",
          "TRAINING_KEYS": "space", "Dist": "space", "Space": "space", "family_of": "space",
          "grid_points": "space", "parse_space": "space", "split_params": "space"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"learning.automl.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'learning.automl' has no attribute {name!r}")
