"""Small data sets the learning tests share (bundled with scikit-learn: no download)."""

from __future__ import annotations

from typing import Any

import numpy as np


def digits_split(seed: int = 0, train: float = 0.8) -> tuple[Any, ...]:
    """``(X_train, y_train, X_test, y_test)`` of scikit-learn's digits, shuffled by ``seed``."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(train * len(y))
    return X[order[:cut]], y[order[:cut]], X[order[cut:]], y[order[cut:]]
