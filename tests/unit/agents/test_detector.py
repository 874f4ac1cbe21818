"""The robust rolling detector: finds injected anomalies, is not fooled by a few."""

from __future__ import annotations

import numpy as np
import pytest

from agents.roles.detector import RobustDetector


def test_it_finds_injected_spikes_in_noise_and_nothing_else() -> None:
    rng = np.random.default_rng(7)
    values = 20 + rng.normal(0, 0.5, 2000)
    spikes = {300, 901, 1500, 1777}
    for i in spikes:
        values[i] += 8 if i % 2 else -8
    d = RobustDetector(window=60, threshold=6.0, min_samples=20)
    flagged = {i for i, v in enumerate(values) if d.update("s", float(v)).anomalous}
    assert flagged == spikes


def test_series_are_independent() -> None:
    d = RobustDetector(window=10, threshold=4.0, min_samples=5)
    for v in (1.0, 1.1, 0.9, 1.0, 1.05):
        d.update("a", v)
        d.update("b", v * 100)
    assert d.update("a", 100.0).anomalous
    assert not d.update("b", 100.0).anomalous
    assert d.series() == ["a", "b"]


def test_anomalies_do_not_become_the_new_normal_unless_asked() -> None:
    d = RobustDetector(window=10, threshold=4.0, min_samples=5)
    for v in (1.0, 1.1, 0.9, 1.0, 1.05):
        d.update("a", v)
    assert all(d.update("a", 50.0).anomalous for _ in range(20))
    learning = RobustDetector(window=10, threshold=4.0, min_samples=5, learn_anomalies=True)
    for v in (1.0, 1.1, 0.9, 1.0, 1.05):
        learning.update("a", v)
    assert not all(learning.update("a", 50.0).anomalous for _ in range(20))


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="min_samples"):
        RobustDetector(window=5, min_samples=10)
    with pytest.raises(ValueError, match="threshold"):
        RobustDetector(threshold=0)
