"""Checking and preparing training data, with no framework import.

:func:`check_X` and :func:`check_y` turn array-likes into NumPy arrays or raise a
:class:`ModelError` that names the argument and what is wrong with it;
:class:`LabelCodec` maps class labels of any kind (ints, strings) to ``0..k-1`` and
back; :class:`Standardizer` centres and scales columns; :func:`split_validation`
holds out a seeded fraction.

Example:
    >>> X = check_X([[1.0, 2.0], [3.0, 4.0]])
    >>> X.shape
    (2, 2)
    >>> check_X([1.0, 2.0])
    Traceback (most recent call last):
    ...
    learning.models.errors.ModelError: X must be 2-D (samples, features), got shape (2,)
    >>> codec = LabelCodec.fit(np.array(["cat", "dog", "cat"]))
    >>> codec.encode(np.array(["dog", "cat"])).tolist(), codec.decode(np.array([1])).tolist()
    ([1, 0], ['dog'])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from learning.models.errors import ModelError

__all__ = [
    "LabelCodec",
    "Standardizer",
    "check_X",
    "check_Xy",
    "check_y",
    "jsonable",
    "split_validation",
]


def check_X(X: Any, name: str = "X", n_features: int | None = None) -> np.ndarray:
    """``X`` as a finite 2-D float64 array with ``n_features`` columns (when given)."""
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{name} must be numeric: {exc}") from exc
    if arr.ndim != 2:
        raise ModelError(f"{name} must be 2-D (samples, features), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ModelError(f"{name} is empty (shape {arr.shape})")
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ModelError(f"{name} contains NaN or infinity (first at row {bad[0]}, "
                         f"column {bad[1]})")
    if n_features is not None and arr.shape[1] != n_features:
        raise ModelError(f"{name} has {arr.shape[1]} features but the model was fitted "
                         f"with {n_features}")
    return arr


def _missing(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind in "fc":
        return ~np.isfinite(arr)
    if arr.dtype.kind == "O":
        return np.array([v is None or (isinstance(v, float) and not np.isfinite(v))
                         for v in arr], dtype=bool)
    return np.zeros(arr.shape, dtype=bool)


def check_y(y: Any, n_samples: int, task: str, name: str = "y", x_name: str = "X") -> np.ndarray:
    """``y`` as a 1-D array of ``n_samples`` targets (float64 for regression).

    A column vector ``(n, 1)`` is accepted and flattened.
    """
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ModelError(f"{name} must be 1-D (one target per sample), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ModelError(f"{name} is empty")
    if arr.shape[0] != n_samples:
        raise ModelError(f"{name} has {arr.shape[0]} samples but {x_name} has {n_samples}")
    if task == "regression":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{name} must be numeric for a regression task: {exc}") from exc
    missing = _missing(arr)
    if missing.any():
        raise ModelError(f"{name} contains a missing value (NaN, infinity or None) at "
                         f"index {int(np.flatnonzero(missing)[0])}")
    return arr


def check_Xy(X: Any, y: Any, task: str, names: tuple[str, str] = ("X", "y"),
             n_features: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`check_X` then :func:`check_y` against its number of samples."""
    x_arr = check_X(X, names[0], n_features)
    return x_arr, check_y(y, x_arr.shape[0], task, names[1], names[0])


@dataclass(frozen=True)
class LabelCodec:
    """Class labels (sorted, in their original dtype) and their indices ``0..k-1``."""

    classes: np.ndarray

    @classmethod
    def fit(cls, y: np.ndarray, name: str = "y") -> LabelCodec:
        """The codec of ``y``'s distinct labels; a classifier needs at least two."""
        try:
            classes = np.unique(y)
        except TypeError as exc:
            raise ModelError(f"{name} mixes labels that cannot be ordered: {exc}") from exc
        if classes.shape[0] < 2:
            raise ModelError(f"{name} has a single class ({classes.tolist()!r}); "
                             "classification needs at least two")
        return cls(classes)

    def encode(self, y: np.ndarray, name: str = "y") -> np.ndarray:
        """The index of each label; a label not seen at fit raises a :class:`ModelError`."""
        idx = self.lookup(y)
        if (idx < 0).any():
            unseen = np.asarray(y)[idx < 0][:1].tolist()[0]
            raise ModelError(f"{name} has label {unseen!r}, unseen when the model was fitted "
                             f"(known: {self.classes.tolist()!r})")
        return idx

    def lookup(self, y: np.ndarray) -> np.ndarray:
        """The index of each label, or -1 for one not seen at fit.

        Example:
            >>> LabelCodec(np.array([2, 5])).lookup(np.array([5, 3])).tolist()
            [1, -1]
        """
        y = np.asarray(y)
        try:
            pos = np.clip(np.searchsorted(self.classes, y), 0, len(self.classes) - 1)
            found = self.classes[pos] == y
        except TypeError:  # labels of another kind than the classes (str vs int)
            return np.full(y.shape, -1, dtype=np.int64)
        return np.where(found, pos, -1).astype(np.int64)

    def decode(self, idx: np.ndarray) -> np.ndarray:
        """The labels at indices ``idx``."""
        return self.classes[np.asarray(idx, dtype=np.int64)]

    def to_json(self) -> dict[str, Any]:
        """The classes and their dtype, for ``meta.json``."""
        return {"classes": jsonable(self.classes.tolist()), "dtype": self.classes.dtype.str
                if self.classes.dtype.kind != "O" else "object"}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LabelCodec:
        """The codec :meth:`to_json` described.

        Example:
            >>> LabelCodec.from_json(LabelCodec(np.array([3, 7], np.int32)).to_json()).classes
            array([3, 7], dtype=int32)
        """
        return cls(np.asarray(data["classes"], dtype=np.dtype(data["dtype"])))


@dataclass(frozen=True)
class Standardizer:
    """Per-column mean and scale; a constant column keeps scale 1."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        """The mean and standard deviation of each column of ``X`` (2-D) or of ``X`` (1-D).

        Example:
            >>> s = Standardizer.fit(np.array([[0.0, 5.0], [2.0, 5.0]]))
            >>> s.transform(np.array([[2.0, 5.0]])).tolist()
            [[1.0, 0.0]]
        """
        std = X.std(axis=0)
        return cls(X.mean(axis=0), np.where(std > 1e-12, std, 1.0))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``(X - mean) / scale``."""
        return (X - self.mean) / self.scale

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        """``Z * scale + mean``."""
        return Z * self.scale + self.mean

    def to_json(self) -> dict[str, Any]:
        """Mean and scale as lists, for ``meta.json``."""
        return {"mean": np.asarray(self.mean).tolist(), "scale": np.asarray(self.scale).tolist()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Standardizer:
        """The standardizer :meth:`to_json` described."""
        return cls(np.asarray(data["mean"], dtype=np.float64),
                   np.asarray(data["scale"], dtype=np.float64))


def split_validation(X: np.ndarray, y: np.ndarray, fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_val, y_val)``: a seeded shuffle, ``fraction`` held out.

    Example:
        >>> parts = split_validation(np.arange(20.0).reshape(10, 2), np.arange(10), 0.3, seed=0)
        >>> [p.shape[0] for p in parts]
        [7, 7, 3, 3]
    """
    n = X.shape[0]
    n_val = max(1, round(n * fraction))
    if n_val >= n:
        raise ModelError(f"TrainingConfig.validation_split={fraction} leaves no training "
                         f"sample out of {n}")
    order = np.random.default_rng(seed).permutation(n)
    train, val = order[:-n_val], order[-n_val:]
    return X[train], y[train], X[val], y[val]


def jsonable(value: Any) -> Any:
    """``value`` with NumPy scalars, tuples and paths turned into JSON types.

    Anything else that JSON cannot hold becomes its ``repr``.

    Example:
        >>> jsonable({"a": (np.int64(1), np.float32(0.5)), 2: Path("x"), "s": {3}})
        {'a': [1, 0.5], '2': 'x', 's': '{3}'}
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)
