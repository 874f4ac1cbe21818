from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarm.errors import SwarmError, UnknownNameError
from swarm.evaluate import SerialEvaluator, VectorisedEvaluator, check_fitness
from swarm.objectives import BENCHMARKS, ackley, get_benchmark, griewank, rastrigin, rosenbrock
from swarm.problem import Problem, Space, better


@pytest.mark.parametrize(("name", "dim"), [(n, d) for n in sorted(BENCHMARKS) for d in (1, 2, 30)
                                           if not (n == "rosenbrock" and d == 1)])  # needs 2+
def test_benchmarks_are_zero_at_their_optimum_and_positive_elsewhere(name: str, dim: int) -> None:
    b = get_benchmark(name)
    opt = b.optimum_position(dim)
    assert b.fn(opt[None, :])[0] == pytest.approx(b.optimum_value, abs=1e-12)
    pts = np.random.default_rng(0).uniform(b.lower, b.upper, (50, dim))
    values = b.fn(pts)
    assert values.shape == (50,) and np.all(values > 0)
    assert b.lower < b.optimum_at < b.upper


def test_benchmark_values_by_hand() -> None:
    ones = np.ones((1, 4))
    assert rastrigin(ones)[0] == pytest.approx(4.0)          # 1 - 10 cos(2 pi) + 10 per dim
    assert rosenbrock(np.zeros((1, 3)))[0] == pytest.approx(2.0)
    assert griewank(np.zeros((1, 5)))[0] == 0.0
    assert ackley(np.zeros((1, 7)))[0] == pytest.approx(0.0, abs=1e-12)
    assert rosenbrock(np.array([1.0, 1.0]))[0] == 0.0         # a 1-D point is one row


def test_registry_suggests_a_close_name() -> None:
    assert get_benchmark("Sphere").name == "sphere"
    with pytest.raises(UnknownNameError, match="did you mean 'rastrigin'"):
        get_benchmark("rastrign")


def test_space_from_scalars_and_validation() -> None:
    s = Space.box(-1, 1, dim=3, integer=[False, True, False])
    assert s.dim == 3 and s.integer.tolist() == [False, True, False]
    assert s.lower.tolist() == [-1, -1, -1]
    with pytest.raises(SwarmError, match="above upper"):
        Space.box([0, 2], [1, 1])
    with pytest.raises(SwarmError, match="finite"):
        Space.box(-np.inf, 1, dim=2)
    with pytest.raises(SwarmError, match="width"):
        Space.box(-1e308, 1e308, dim=1)
    with pytest.raises(SwarmError, match="no integer"):
        Space.box(0.2, 0.8, dim=1, integer=True)
    with pytest.raises(SwarmError, match="equal-length"):
        Space(np.zeros(2), np.ones(3))
    with pytest.raises(SwarmError, match="dim"):
        Space.box(0, 1, dim=0)


@settings(max_examples=40, deadline=None)
@given(st.floats(-1e12, 1e12), st.floats(1e-9, 1e12), st.booleans())
def test_samples_and_repairs_stay_inside_any_box(lo: float, width: float, integer: bool) -> None:
    hi = lo + width
    if integer and np.floor(hi) < np.ceil(lo):
        return
    s = Space.box(lo, hi, dim=3, integer=integer)
    rng = np.random.default_rng(0)
    x = s.sample(rng, 64)
    assert np.all(s.contains(x))
    wild = rng.normal(0, 1e15, (64, 3))
    assert np.all(s.contains(s.repair(wild)))


def test_integer_samples_cover_the_integers() -> None:
    s = Space.box(0, 3, dim=1, integer=True)
    x = s.sample(np.random.default_rng(0), 4000)[:, 0]
    counts = np.bincount(x.astype(int), minlength=4)
    assert counts.min() > 800


def test_problem_keys_sense_feasibility_and_penalty() -> None:
    space = Space.box(-5, 5, dim=2)
    g = (lambda x: 1 - x[:, 0] - x[:, 1],)
    x = np.array([[1.0, 1.0], [0.0, 0.0], [2.0, 0.0]])
    f = np.array([2.0, 0.0, 4.0])
    v, key = Problem(space, constraints=g).keys(f, x)
    assert v.tolist() == [0.0, 1.0, 0.0] and key.tolist() == [2.0, 0.0, 4.0]
    v, key = Problem(space, sense="maximize").keys(f, x)
    assert v.tolist() == [0, 0, 0] and key.tolist() == [-2.0, -0.0, -4.0]
    v, key = Problem(space, constraints=g, constraint_handling="penalty", penalty=10).keys(f, x)
    assert v.tolist() == [0, 0, 0] and key.tolist() == [2.0, 10.0, 4.0]
    _, key = Problem(space).keys(np.array([np.nan, 1.0, 2.0]), x)
    assert key[0] == np.inf
    assert better(np.array([0.0]), np.array([9.0]), np.array([0.1]), np.array([0.0]))[0]


def test_problem_rejects_bad_settings_and_bad_constraints() -> None:
    space = Space.box(0, 1, dim=2)
    with pytest.raises(SwarmError, match="sense"):
        Problem(space, sense="largest")  # type: ignore[arg-type]
    with pytest.raises(SwarmError, match="constraint_handling"):
        Problem(space, constraint_handling="death")  # type: ignore[arg-type]
    with pytest.raises(SwarmError, match="penalty"):
        Problem(space, penalty=0)
    prob = Problem(space, constraints=(lambda x: np.zeros(1),))
    with pytest.raises(SwarmError, match="constraint 0 must return one value"):
        prob.violation(np.zeros((3, 2)))
    multi = Problem(space, constraints=(lambda x: x - 0.5,))  # (n, k) values are summed
    assert multi.violation(np.array([[1.0, 1.0]])).tolist() == [1.0]


def test_evaluators_agree_and_check_shapes() -> None:
    x = np.random.default_rng(0).random((5, 3))
    vec = VectorisedEvaluator(lambda m: (m**2).sum(axis=1))
    ser = SerialEvaluator(lambda p: float((p**2).sum()))
    assert np.allclose(vec(x), ser(x)) and vec.calls == ser.calls == 5
    with pytest.raises(SwarmError, match="expected shape"):
        VectorisedEvaluator(lambda m: m)(x)
    with pytest.raises(SwarmError, match="one number per position"):
        SerialEvaluator(lambda p: p)(x)
    with pytest.raises(SwarmError, match="callable"):
        VectorisedEvaluator(3)  # type: ignore[arg-type]
    with pytest.raises(SwarmError, match="not numbers"):
        check_fitness(["a", "b"], 2)
    assert check_fitness(np.ones((2, 1)), 2).shape == (2,)
