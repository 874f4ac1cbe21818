"""An online anomaly detector: a robust rolling statistic per series.

Each series (a sensor's field, a machine figure) keeps its last ``window``
values; a new value is scored by its distance from the window's median in
units of the median absolute deviation (scaled by 1.4826, so the unit is a
standard deviation for normal data).  Median and MAD are not dragged along
by the outliers they are looking for, as a mean and standard deviation are,
and need no training: the detector works from its ``min_samples``-th value.
A value scoring above ``threshold`` is anomalous; it does not enter the
window unless ``learn_anomalies``, so a burst of anomalies does not become
the new normal.

Example:
    >>> d = RobustDetector(window=20, threshold=5.0, min_samples=5)
    >>> [d.update("t", v).anomalous for v in (20.0, 20.5, 19.8, 20.2, 20.1)]
    [False, False, False, False, False]
    >>> s = d.update("t", 35.0)
    >>> s.anomalous, round(s.score, 1), s.median
    (True, 100.5, 20.1)
    >>> d.update("t", 20.3).anomalous
    False
"""

from __future__ import annotations

import bisect
import collections
from dataclasses import dataclass

__all__ = ["RobustDetector", "Score"]

_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Score:
    """One value's verdict: its score in robust standard deviations from the median."""

    series: str
    value: float
    score: float
    median: float
    mad: float
    anomalous: bool
    samples: int


class _Window:
    def __init__(self, size: int) -> None:
        self.order: collections.deque[float] = collections.deque()
        self.sorted: list[float] = []
        self.size = size

    def add(self, value: float) -> None:
        self.order.append(value)
        bisect.insort(self.sorted, value)
        if len(self.order) > self.size:
            old = self.order.popleft()
            del self.sorted[bisect.bisect_left(self.sorted, old)]

    def median(self) -> float:
        s, n = self.sorted, len(self.sorted)
        return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2

    def mad(self, median: float) -> float:
        dev = sorted(abs(v - median) for v in self.sorted)
        n = len(dev)
        return dev[n // 2] if n % 2 else (dev[n // 2 - 1] + dev[n // 2]) / 2


class RobustDetector:
    """Rolling median/MAD scores for any number of series (see the module docstring).

    Args:
        window: values kept per series.
        threshold: score above which a value is anomalous.
        min_samples: values a series needs before it can call anything anomalous.
        min_scale: the smallest MAD used, so a flat series does not flag noise as
            infinitely far (in the series' own units).
        learn_anomalies: let anomalous values into the window too.
    """

    def __init__(self, window: int = 60, threshold: float = 6.0, min_samples: int = 10,
                 min_scale: float = 1e-6, learn_anomalies: bool = False) -> None:
        if window < 3 or min_samples < 3 or min_samples > window:
            raise ValueError(f"need 3 <= min_samples <= window, got window={window}, "
                             f"min_samples={min_samples}")
        if threshold <= 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        self.window, self.threshold, self.min_samples = window, threshold, min_samples
        self.min_scale, self.learn_anomalies = min_scale, learn_anomalies
        self._series: dict[str, _Window] = {}

    def update(self, series: str, value: float) -> Score:
        """Score ``value`` against ``series``' window, then (if normal) add it."""
        w = self._series.get(series)
        if w is None:
            w = self._series[series] = _Window(self.window)
        n = len(w.sorted)
        if n < self.min_samples:
            w.add(value)
            return Score(series, value, 0.0, value, 0.0, False, n + 1)
        median = w.median()
        mad = w.mad(median)
        scale = max(_MAD_TO_SIGMA * mad, self.min_scale)
        score = abs(value - median) / scale
        anomalous = score > self.threshold
        if not anomalous or self.learn_anomalies:
            w.add(value)
        return Score(series, value, score, median, mad, anomalous, n + 1)

    def series(self) -> list[str]:
        return sorted(self._series)
