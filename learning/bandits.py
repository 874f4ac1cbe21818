"""Adaptive strategy choice: multi-armed bandits over named options.

An agent that can act in several ways (bidding strategies, behaviours) asks a
bandit which to use with :meth:`Bandit.choose`, and reports the outcome with
:meth:`Bandit.record`.  Three policies: epsilon-greedy, UCB1 (``mean +
c * sqrt(ln n / n_i)``) and Thompson sampling with Beta posteriors (rewards in
``[0, 1]``; a fractional reward counts fractionally).  State goes to and from a
plain dict (JSON-safe) with :meth:`Bandit.to_dict` / :func:`bandit_from_dict`, so
an agent's actor can persist it in its ledger.

Example:
    >>> rng = np.random.default_rng(0)
    >>> bandit = make_bandit("ucb1", ["cheap", "fair", "greedy"], rng=1)
    >>> win = {"cheap": 0.2, "fair": 0.8, "greedy": 0.4}
    >>> for _ in range(500):
    ...     option = bandit.choose()
    ...     bandit.record(option, float(rng.random() < win[option]))
    >>> bandit.best(), bandit.counts["fair"] > 350
    ('fair', True)
    >>> bandit_from_dict(bandit.to_dict()).counts == bandit.counts
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from learning.errors import LearningError, UnknownNameError

__all__ = [
    "Bandit",
    "EpsilonGreedyBandit",
    "ThompsonBandit",
    "UCB1Bandit",
    "bandit_from_dict",
    "make_bandit",
]


class Bandit:
    """Shared state of the bandits: counts and mean rewards per option.

    Args:
        options: the names to choose among (distinct, at least one).
        rng: seed or generator for exploration and tie-breaking.
    """

    kind: ClassVar[str] = "bandit"

    def __init__(self, options: Sequence[str], *,
                 rng: int | np.random.Generator | None = None) -> None:
        options = list(options)
        if not options or len(set(options)) != len(options):
            raise LearningError(f"bandit options must be distinct and non-empty, got {options}")
        self.options = options
        self.rng = np.random.default_rng(rng)
        self.counts: dict[str, int] = dict.fromkeys(options, 0)
        self.values: dict[str, float] = dict.fromkeys(options, 0.0)

    @property
    def total(self) -> int:
        """Outcomes recorded so far."""
        return sum(self.counts.values())

    def _check(self, option: str) -> None:
        if option not in self.counts:
            raise UnknownNameError("bandit option", option, self.options)

    def _argmax(self, scores: Sequence[float]) -> str:
        arr = np.asarray(scores, dtype=float)
        best = np.flatnonzero(arr == arr.max())
        return self.options[int(best[self.rng.integers(best.size)])]

    def choose(self) -> str:
        """The option to try next."""
        raise NotImplementedError

    def record(self, option: str, reward: float) -> None:
        """Report the reward ``option`` earned (incremental mean)."""
        self._check(option)
        self.counts[option] += 1
        self.values[option] += (float(reward) - self.values[option]) / self.counts[option]

    def best(self) -> str:
        """The option with the highest mean reward so far (exploitation only)."""
        return self._argmax([self.values[o] for o in self.options])

    def _params(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state: kind, parameters, options, statistics and the RNG state."""
        return {"kind": self.kind, "params": self._params(), "options": list(self.options),
                "counts": dict(self.counts), "values": dict(self.values),
                "rng": self.rng.bit_generator.state}


class EpsilonGreedyBandit(Bandit):
    """With probability ``epsilon`` a random option, otherwise the best mean so far."""

    kind = "epsilon_greedy"

    def __init__(self, options: Sequence[str], *, epsilon: float = 0.1,
                 rng: int | np.random.Generator | None = None) -> None:
        super().__init__(options, rng=rng)
        if not 0.0 <= epsilon <= 1.0:
            raise LearningError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = float(epsilon)

    def choose(self) -> str:
        if self.rng.random() < self.epsilon:
            return self.options[int(self.rng.integers(len(self.options)))]
        return self.best()

    def _params(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon}


class UCB1Bandit(Bandit):
    """Upper confidence bound: every option once, then ``mean + c sqrt(ln n / n_i)``."""

    kind = "ucb1"

    def __init__(self, options: Sequence[str], *, c: float = math.sqrt(2.0),
                 rng: int | np.random.Generator | None = None) -> None:
        super().__init__(options, rng=rng)
        if c < 0:
            raise LearningError(f"UCB1 exploration constant c must be >= 0, got {c}")
        self.c = float(c)

    def choose(self) -> str:
        untried = [o for o in self.options if self.counts[o] == 0]
        if untried:
            return untried[0]
        log_n = math.log(self.total)
        return self._argmax([self.values[o] + self.c * math.sqrt(log_n / self.counts[o])
                             for o in self.options])

    def _params(self) -> dict[str, Any]:
        return {"c": self.c}


class ThompsonBandit(Bandit):
    """Thompson sampling with a ``Beta(a, b)`` posterior per option (rewards in [0, 1])."""

    kind = "thompson"

    def __init__(self, options: Sequence[str], *, prior: tuple[float, float] = (1.0, 1.0),
                 rng: int | np.random.Generator | None = None) -> None:
        super().__init__(options, rng=rng)
        if prior[0] <= 0 or prior[1] <= 0:
            raise LearningError(f"Beta prior parameters must be > 0, got {prior}")
        self.prior = (float(prior[0]), float(prior[1]))
        self.successes: dict[str, float] = dict.fromkeys(self.options, 0.0)

    def record(self, option: str, reward: float) -> None:
        if not 0.0 <= reward <= 1.0:
            raise LearningError(f"Thompson (Beta) rewards must be in [0, 1], got {reward}")
        super().record(option, reward)
        self.successes[option] += float(reward)

    def choose(self) -> str:
        a0, b0 = self.prior
        draws = [self.rng.beta(a0 + self.successes[o],
                               b0 + self.counts[o] - self.successes[o]) for o in self.options]
        return self._argmax(draws)

    def _params(self) -> dict[str, Any]:
        return {"prior": list(self.prior)}

    def to_dict(self) -> dict[str, Any]:
        state = super().to_dict()
        state["successes"] = dict(self.successes)
        return state


_KINDS: dict[str, type[Bandit]] = {
    c.kind: c for c in (EpsilonGreedyBandit, UCB1Bandit, ThompsonBandit)
}


def make_bandit(kind: str, options: Sequence[str], *,
                rng: int | np.random.Generator | None = None, **params: Any) -> Bandit:
    """Build a bandit by name: ``"epsilon_greedy"``, ``"ucb1"`` or ``"thompson"``.

    Example:
        >>> make_bandit("thompson", ["a", "b"], prior=(2, 2)).prior
        (2.0, 2.0)
    """
    if kind not in _KINDS:
        raise UnknownNameError("bandit", kind, sorted(_KINDS))
    return _KINDS[kind](options, rng=rng, **params)


def bandit_from_dict(state: dict[str, Any]) -> Bandit:
    """Rebuild a bandit from :meth:`Bandit.to_dict`, statistics and RNG state included."""
    try:
        params = dict(state.get("params", {}))
        if "prior" in params:
            params["prior"] = tuple(params["prior"])
        bandit = make_bandit(state["kind"], state["options"], **params)
        bandit.counts = {o: int(state["counts"][o]) for o in bandit.options}
        bandit.values = {o: float(state["values"][o]) for o in bandit.options}
        if isinstance(bandit, ThompsonBandit):
            bandit.successes = {o: float(state["successes"][o]) for o in bandit.options}
        if "rng" in state:
            bandit.rng.bit_generator.state = state["rng"]
    except KeyError as exc:
        raise LearningError(f"bandit state lacks {exc.args[0]!r}") from exc
    return bandit
