"""Evaluation metrics in NumPy, the same for every framework.

Example:
    >>> classification_metrics(np.array([0, 1, 1]), np.array([0, 1, 0]))
    {'accuracy': 0.6666666666666666}
    >>> m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    >>> round(m["mse"], 4), round(m["mae"], 4), round(m["r2"], 4)
    (0.3333, 0.3333, 0.5)
"""

from __future__ import annotations

import numpy as np

__all__ = ["classification_metrics", "log_loss", "r2_score", "regression_metrics"]

_EPS = 1e-15


def log_loss(true_index: np.ndarray, proba: np.ndarray) -> float:
    """Mean negative log-probability of the true class.

    ``true_index`` holds each sample's column in ``proba``, or -1 for a label the
    model never saw, which counts as probability 0 (clipped to 1e-15).

    Example:
        >>> round(log_loss(np.array([0, 1]), np.array([[0.5, 0.5], [0.2, 0.8]])), 4)
        0.4581
    """
    rows = np.arange(true_index.shape[0])
    p = np.where(true_index >= 0, proba[rows, np.maximum(true_index, 0)], 0.0)
    return float(-np.mean(np.log(np.clip(p, _EPS, 1.0))))


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray,
                           proba: np.ndarray | None = None,
                           true_index: np.ndarray | None = None) -> dict[str, float]:
    """``accuracy``, and ``log_loss`` when class probabilities (and indices) are given."""
    metrics = {"accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))}
    if proba is not None and true_index is not None:
        metrics["log_loss"] = log_loss(true_index, proba)
    return metrics


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination; for a constant ``y_true``, 1.0 if exact else 0.0.

    Example:
        >>> r2_score(np.array([2.0, 2.0]), np.array([2.0, 2.0])), r2_score(np.ones(2), np.zeros(2))
        (1.0, 0.0)
    """
    ss_res = float(np.sum((y_true - y_pred) ** 2))
    ss_tot = float(np.sum((y_true - np.mean(y_true)) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``mse``, ``mae`` and ``r2``."""
    err = np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)
    return {"mse": float(np.mean(err**2)), "mae": float(np.mean(np.abs(err))),
            "r2": r2_score(np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64))}
