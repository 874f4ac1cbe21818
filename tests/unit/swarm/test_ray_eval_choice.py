"""make_evaluator's choice of backend and the chunk task body, without starting Ray."""

from __future__ import annotations

import itertools
import pickle
from typing import Any

import numpy as np
import pytest

import swarm.ray_eval as ray_eval
from swarm import ObjectiveError, SwarmError, UnknownNameError
from swarm.evaluate import SerialEvaluator, VectorisedEvaluator
from swarm.ray_eval import AutoEvaluator, evaluate_chunk, make_evaluator, split_rows

X = np.arange(20.0).reshape(10, 2)


def vec(x: np.ndarray) -> np.ndarray:
    return np.asarray((x**2).sum(axis=1))


def row(p: np.ndarray) -> float:
    return float((p**2).sum())


def test_inprocess_backends() -> None:
    assert isinstance(make_evaluator(vec, "inprocess", vectorised=True), VectorisedEvaluator)
    ev = make_evaluator(row, "inprocess")
    assert isinstance(ev, SerialEvaluator)
    assert ev(X).tolist() == vec(X).tolist()


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if Ray were not running (the integration tests' Ray may be, in a full run)."""
    monkeypatch.setattr(ray_eval, "_ray", lambda: None)


def test_ray_backend_needs_a_running_ray(no_ray: None) -> None:
    with pytest.raises(SwarmError, match=r"ray\.init"):
        make_evaluator(row, "ray")


def test_unknown_backend_suggests() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'ray'"):
        make_evaluator(row, "rey")
    with pytest.raises(SwarmError, match="callable"):
        make_evaluator(42, "inprocess")  # type: ignore[arg-type]


def test_auto_keeps_cheap_objectives_in_process() -> None:
    ev = make_evaluator(vec, "auto", vectorised=True)
    assert isinstance(ev, AutoEvaluator) and ev.chosen is None
    assert ev(X).tolist() == vec(X).tolist()
    assert ev.chosen == "inprocess" and ev.per_row_s is not None
    assert ev(X[:3]).tolist() == vec(X[:3]).tolist()
    assert ev.calls == 13 and ev.local.calls == 13  # the probe rows were not evaluated twice


def test_auto_falls_back_in_process_when_ray_is_not_running(no_ray: None) -> None:
    ev = make_evaluator(row, "auto", threshold_s=0.0)  # every objective counts as expensive
    assert ev(X).tolist() == vec(X).tolist()
    assert ev.chosen == "inprocess"


class FakeRay:
    def __init__(self, fn: Any, **kw: Any) -> None:
        self.fn, self.kw, self.rows = fn, kw, 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.rows += x.shape[0]
        return np.array([row(p) for p in x])


def test_auto_moves_expensive_objectives_to_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray_eval, "_ray", lambda: object())
    monkeypatch.setattr(ray_eval, "RayEvaluator", FakeRay)
    ev = make_evaluator(row, "auto", threshold_s=0.0, chunks=3)
    assert ev(X).tolist() == vec(X).tolist()
    assert ev.chosen == "ray"
    fake = ev.backend
    assert isinstance(fake, FakeRay) and fake.kw["chunks"] == 3
    assert fake.rows == 10 - ev.probe_rows and ev.local.calls == ev.probe_rows
    ev(X)
    assert fake.rows == 20 - ev.probe_rows


@pytest.mark.parametrize(("n", "k"), [(0, 3), (1, 4), (7, 3), (10, 10), (100, 7), (5, 1)])
def test_split_rows_covers_in_order(n: int, k: int) -> None:
    parts = split_rows(n, k)
    assert parts[0][0] == 0 and parts[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    sizes = [b - a for a, b in parts]
    assert max(sizes) - min(sizes) <= 1 and len(parts) == max(1, min(k, n))


def test_chunk_errors_name_the_row() -> None:
    def bad(p: np.ndarray) -> float:
        if p[0] == 4.0:
            raise ValueError("no fours")
        return 0.0

    with pytest.raises(ObjectiveError, match="row 12: ValueError: no fours") as info:
        evaluate_chunk(bad, X, 10, vectorised=False)
    assert (info.value.first, info.value.last) == (12, 12)
    with pytest.raises(ObjectiveError, match="rows 10-19"):
        evaluate_chunk(lambda x: np.zeros(3), X, 10, vectorised=True)
    with pytest.raises(ObjectiveError, match=r"row 5: .*one number"):
        evaluate_chunk(lambda p: [1.0, 2.0], X, 5, vectorised=False)
    assert evaluate_chunk(row, X, 0, vectorised=False).tolist() == vec(X).tolist()


def test_objective_error_pickles() -> None:
    err = pickle.loads(pickle.dumps(ObjectiveError(3, 5, "boom")))
    assert isinstance(err, ObjectiveError) and str(err) == "objective failed on rows 3-5: boom"
