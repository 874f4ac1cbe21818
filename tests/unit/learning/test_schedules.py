"""Schedules are plain callables of the step."""

from __future__ import annotations

import pickle

import pytest

from learning import Constant, Exponential, LearningError, Linear, as_schedule


def test_linear_and_exponential_shapes() -> None:
    lin = Linear(1.0, 0.0, 4)
    assert [lin(t) for t in (-1, 0, 2, 4, 9)] == [1.0, 1.0, 0.5, 0.0, 0.0]
    exp = Exponential(1.0, 0.1, 0.5)
    assert [exp(t) for t in (0, 1, 2, 10)] == [1.0, 0.5, 0.25, 0.1]
    assert Linear(0.0, 1.0, 2)(1) == 0.5  # rising works too


def test_as_schedule_and_pickling() -> None:
    assert as_schedule(0.2) == Constant(0.2)
    lin = Linear(1.0, 0.0, 4)
    assert as_schedule(lin) is lin
    assert pickle.loads(pickle.dumps(lin)) == lin
    with pytest.raises(LearningError):
        as_schedule("0.1")  # type: ignore[arg-type]
    with pytest.raises(LearningError):
        Linear(1.0, 0.0, 0)
    with pytest.raises(LearningError):
        Exponential(1.0, 0.0, 1.5)
