"""Bandits concentrate on the best option and persist their state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from learning import LearningError, UnknownNameError, bandit_from_dict, make_bandit

WIN = {"undercut": 0.3, "match": 0.5, "premium": 0.7}


def play(kind: str, rounds: int = 2000, seed: int = 0, **params: float) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    bandit = make_bandit(kind, list(WIN), rng=seed, **params)
    for _ in range(rounds):
        option = bandit.choose()
        bandit.record(option, float(rng.random() < WIN[option]))
    assert bandit.best() == "premium"
    return bandit.counts


@pytest.mark.parametrize("kind", ["ucb1", "thompson", "epsilon_greedy"])
def test_bandits_concentrate_on_the_best_arm(kind: str) -> None:
    counts = play(kind)
    assert counts["premium"] > 0.75 * sum(counts.values()), counts


def test_thompson_regret_is_lower_than_uniform() -> None:
    counts = play("thompson", rounds=3000, seed=3)
    pulls_of_worse = counts["undercut"] + counts["match"]
    assert pulls_of_worse < 3000 * 2 / 3 * 0.15


def test_state_round_trips_through_json_and_continues_identically() -> None:
    for kind in ("ucb1", "thompson", "epsilon_greedy"):
        bandit = make_bandit(kind, list(WIN), rng=5)
        for i in range(30):
            bandit.record(bandit.choose(), float(i % 2))
        clone = bandit_from_dict(json.loads(json.dumps(bandit.to_dict())))
        assert type(clone) is type(bandit) and clone.values == bandit.values
        assert [clone.choose() for _ in range(20)] == [bandit.choose() for _ in range(20)]


def test_errors_name_the_problem() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'ucb1'"):
        make_bandit("ucb", ["a"])
    with pytest.raises(LearningError, match="distinct"):
        make_bandit("ucb1", ["a", "a"])
    bandit = make_bandit("thompson", ["a", "b"])
    with pytest.raises(LearningError, match=r"\[0, 1\]"):
        bandit.record("a", 2.0)
    with pytest.raises(UnknownNameError, match="bandit option"):
        bandit.record("c", 1.0)
    with pytest.raises(LearningError, match="lacks"):
        bandit_from_dict({"kind": "ucb1", "options": ["a"]})
