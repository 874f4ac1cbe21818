"""Tabular temporal-difference control: Q-learning, SARSA and Expected SARSA.

The three learners share one table ``Q[state, action]`` and one update,
``Q[s, a] += alpha * (r + gamma * V(s') - Q[s, a])``; they differ only in the
bootstrap value ``V(s')``: the greedy maximum (Q-learning, off-policy), the value
of the action actually taken next (SARSA, on-policy) or its expectation under the
epsilon-greedy policy (Expected SARSA).  ``alpha`` and ``epsilon`` are numbers or
:mod:`learning.schedules` callables of the training episode (or, with
``schedule_by="step"``, of the update count).

They drive any gymnasium environment with discrete observations and actions (the
environment is duck-typed, so this module does not import gymnasium).  All
randomness comes from the learner's ``np.random.Generator`` and the environment's
``reset(seed=...)``: the same seeds give the same table.

Example:
    >>> import gymnasium as gym
    >>> from learning.schedules import Linear
    >>> env = gym.make("FrozenLake-v1", is_slippery=False)
    >>> agent = QLearner(16, 4, alpha=0.5, gamma=0.95, epsilon=Linear(1.0, 0.05, 150), rng=0)
    >>> history = agent.train(env, episodes=200, seed=0)
    >>> agent.evaluate(env, episodes=10, seed=1).success_rate
    1.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from learning.errors import LearningError
from learning.history import Evaluation, TrainingHistory
from learning.schedules import Schedule, as_schedule
from messaging import metrics

__all__ = ["REPORT_EVERY", "DiscreteEnv", "ExpectedSarsa", "QLearner", "Sarsa",
           "TabularLearner"]

#: training episodes between progress reports to the metrics
REPORT_EVERY = 100


class DiscreteEnv(Protocol):
    """What the learners need of an environment: gymnasium's ``reset`` and ``step``."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None,
              ) -> tuple[Any, dict[str, Any]]: ...

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]: ...


@dataclass
class _Episode:
    ret: float = 0.0
    length: int = 0
    terminated: bool = False
    last_reward: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class TabularLearner:
    """Base of the tabular learners: the table, epsilon-greedy acting, training, evaluation.

    Args:
        n_states: number of discrete states (observations ``0 .. n_states - 1``).
        n_actions: number of discrete actions.
        alpha: learning rate, a number or a schedule.
        gamma: discount factor in ``[0, 1]``.
        epsilon: exploration rate, a number or a schedule.
        rng: seed or generator for exploration and tie-breaking.
        initial_q: initial value of every table entry (optimism encourages exploration).
        schedule_by: ``"episode"`` (default) or ``"step"``: what the schedules count.
    """

    kind: ClassVar[str] = "tabular"
    on_policy: ClassVar[bool] = False

    def __init__(self, n_states: int, n_actions: int, *, alpha: float | Schedule = 0.1,
                 gamma: float = 0.99, epsilon: float | Schedule = 0.1,
                 rng: int | np.random.Generator | None = None, initial_q: float = 0.0,
                 schedule_by: Literal["episode", "step"] = "episode") -> None:
        if n_states < 1 or n_actions < 1:
            raise LearningError(f"need n_states >= 1 and n_actions >= 1, got {n_states}, "
                                f"{n_actions}")
        if not 0.0 <= gamma <= 1.0:
            raise LearningError(f"gamma must be in [0, 1], got {gamma}")
        if schedule_by not in ("episode", "step"):
            raise LearningError(f"schedule_by must be 'episode' or 'step', got {schedule_by!r}")
        self.n_states = n_states
        self.n_actions = n_actions
        self.alpha = as_schedule(alpha)
        self.gamma = float(gamma)
        self.epsilon = as_schedule(epsilon)
        self.rng = np.random.default_rng(rng)
        self.schedule_by = schedule_by
        self.q = np.full((n_states, n_actions), float(initial_q))
        self.episodes = 0
        self.steps = 0

    # --- the table -------------------------------------------------------------------
    def get_q_table(self) -> np.ndarray:
        """A copy of the table, shape ``(n_states, n_actions)``."""
        return self.q.copy()

    def set_q_table(self, table: np.ndarray) -> None:
        """Replace the table (e.g. with another learner's, for transfer)."""
        table = np.asarray(table, dtype=float)
        if table.shape != self.q.shape:
            raise LearningError(f"Q-table shape {table.shape} does not match the learner's "
                                f"{self.q.shape}")
        self.q = table.copy()

    def policy(self) -> np.ndarray:
        """The greedy action of every state (ties broken towards the lowest action)."""
        return np.asarray(self.q.argmax(axis=1))

    @property
    def current_epsilon(self) -> float:
        """The exploration rate the schedule gives now."""
        return self.epsilon(self._clock())

    @property
    def current_alpha(self) -> float:
        """The learning rate the schedule gives now."""
        return self.alpha(self._clock())

    def _clock(self) -> int:
        return self.episodes if self.schedule_by == "episode" else self.steps

    def _state(self, obs: Any) -> int:
        state = int(obs)
        if not 0 <= state < self.n_states:
            raise LearningError(f"state {state} outside 0..{self.n_states - 1}")
        return state

    # --- acting and learning ---------------------------------------------------------
    def act(self, state: Any, greedy: bool = False) -> int:
        """Epsilon-greedy action in ``state`` (greedy ties broken at random)."""
        s = self._state(state)
        if not greedy and self.rng.random() < self.current_epsilon:
            return int(self.rng.integers(self.n_actions))
        row = self.q[s]
        best = np.flatnonzero(row == row.max())
        return int(best[0] if best.size == 1 else best[self.rng.integers(best.size)])

    def _bootstrap(self, next_state: int, next_action: int | None) -> float:
        raise NotImplementedError

    def update(self, state: Any, action: int, reward: float, next_state: Any,
               terminated: bool, next_action: int | None = None) -> float:
        """Apply one TD update and return the TD error.

        ``terminated`` means the episode really ended (no bootstrap); a time-limit
        truncation is not a termination.  ``next_action`` is needed by SARSA only.
        """
        s, s2 = self._state(state), self._state(next_state)
        target = float(reward)
        if not terminated:
            target += self.gamma * self._bootstrap(s2, next_action)
        error = target - self.q[s, action]
        self.q[s, action] += self.current_alpha * error
        self.steps += 1
        return float(error)

    def _run_episode(self, env: DiscreteEnv, seed: int | None, learn: bool,
                     max_steps: int | None) -> _Episode:
        obs, _ = env.reset(seed=seed)
        ep = _Episode()
        action = self.act(obs, greedy=not learn)
        while max_steps is None or ep.length < max_steps:
            next_obs, reward, terminated, truncated, _ = env.step(action)
            ep.ret += float(reward)
            ep.length += 1
            ep.last_reward, ep.terminated = float(reward), bool(terminated)
            done = terminated or truncated
            if learn:
                if self.on_policy:
                    next_action = 0 if done else self.act(next_obs)
                    self.update(obs, action, float(reward), next_obs, bool(terminated),
                                next_action)
                else:
                    self.update(obs, action, float(reward), next_obs, bool(terminated))
                    next_action = 0 if done else self.act(next_obs)
            else:
                next_action = 0 if done else self.act(next_obs, greedy=True)
            if done:
                break
            obs, action = next_obs, next_action
        return ep

    def train(self, env: DiscreteEnv, episodes: int, *, seed: int | None = None,
              max_steps: int | None = None, eval_env: DiscreteEnv | None = None,
              eval_every: int | None = None, eval_episodes: int = 100,
              eval_seed: int | None = None,
              success_threshold: float | None = None) -> TrainingHistory:
        """Train for ``episodes`` episodes; ``env`` is seeded once, on the first reset.

        With ``eval_every`` the greedy policy is evaluated (on ``eval_env``, default
        ``env``) before training and every ``eval_every`` episodes; the results land
        in ``history.evaluations``.  ``max_steps`` caps episodes of environments
        without a time limit.
        """
        history = TrainingHistory()
        for i in range(episodes):
            if eval_every and i % eval_every == 0:
                history.evaluations.append((self.episodes, self.evaluate(
                    eval_env or env, eval_episodes, seed=eval_seed, max_steps=max_steps,
                    success_threshold=success_threshold)))
            history.epsilons.append(self.current_epsilon)
            ep = self._run_episode(env, seed if i == 0 else None, True, max_steps)
            history.returns.append(ep.ret)
            history.lengths.append(ep.length)
            self.episodes += 1
            if (i + 1) % REPORT_EVERY == 0 or i + 1 == episodes:
                self._report(history, i + 1 - (i // REPORT_EVERY) * REPORT_EVERY)
        if eval_every:
            history.evaluations.append((self.episodes, self.evaluate(
                eval_env or env, eval_episodes, seed=eval_seed, max_steps=max_steps,
                success_threshold=success_threshold)))
        return history

    def _report(self, history: TrainingHistory, n: int) -> None:
        """Training progress to the metrics: ``n`` more episodes, the mean of their returns."""
        algorithm = type(self).__name__
        metrics.count("raymas_learning_episodes", n, algorithm=algorithm)
        metrics.set_gauge("raymas_learning_return", float(np.mean(history.returns[-n:])),
                          algorithm=algorithm)

    def evaluate(self, env: DiscreteEnv, episodes: int, *, seed: int | None = None,
                 max_steps: int | None = None,
                 success_threshold: float | None = None) -> Evaluation:
        """Run the greedy policy for ``episodes`` episodes, learning nothing.

        An episode succeeds when its return reaches ``success_threshold`` or, by
        default, when it terminated with a positive last reward (FrozenLake's goal).
        """
        if episodes < 1:
            raise LearningError(f"evaluate needs episodes >= 1, got {episodes}")
        returns, lengths, wins = [], [], 0
        for i in range(episodes):
            ep = self._run_episode(env, seed if i == 0 else None, False, max_steps)
            returns.append(ep.ret)
            lengths.append(ep.length)
            if success_threshold is None:
                wins += ep.terminated and ep.last_reward > 0
            else:
                wins += ep.ret >= success_threshold
        return Evaluation(mean_return=float(np.mean(returns)), success_rate=wins / episodes,
                          mean_length=float(np.mean(lengths)), episodes=episodes)

    # --- persistence -----------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the table and counters to an ``.npz`` file."""
        np.savez(path, q=self.q, gamma=self.gamma, kind=self.kind, episodes=self.episodes,
                 steps=self.steps)

    @classmethod
    def load(cls, path: str | Path, *, alpha: float | Schedule = 0.1,
             epsilon: float | Schedule = 0.0,
             rng: int | np.random.Generator | None = None) -> TabularLearner:
        """Rebuild a learner saved with :meth:`save` (of the saved kind)."""
        with np.load(path) as data:
            kind = str(data["kind"])
            if kind not in _KINDS:
                raise LearningError(f"{path}: unknown learner kind {kind!r}")
            q = data["q"]
            agent = _KINDS[kind](q.shape[0], q.shape[1], alpha=alpha,
                                 gamma=float(data["gamma"]), epsilon=epsilon, rng=rng)
            agent.q = q.astype(float)
            agent.episodes, agent.steps = int(data["episodes"]), int(data["steps"])
        return agent


class QLearner(TabularLearner):
    """Q-learning: bootstraps from ``max_a Q(s', a)`` (off-policy)."""

    kind = "q_learning"

    def _bootstrap(self, next_state: int, next_action: int | None) -> float:
        return float(self.q[next_state].max())


class Sarsa(TabularLearner):
    """SARSA: bootstraps from ``Q(s', a')`` of the action taken next (on-policy)."""

    kind = "sarsa"
    on_policy = True

    def _bootstrap(self, next_state: int, next_action: int | None) -> float:
        if next_action is None:
            raise LearningError("SARSA's update needs next_action")
        return float(self.q[next_state, next_action])


class ExpectedSarsa(TabularLearner):
    """Expected SARSA: bootstraps from the epsilon-greedy expectation over ``Q(s', .)``."""

    kind = "expected_sarsa"

    def _bootstrap(self, next_state: int, next_action: int | None) -> float:
        row = self.q[next_state]
        eps = self.current_epsilon
        best = row == row.max()
        probs = np.full(self.n_actions, eps / self.n_actions)
        probs[best] += (1.0 - eps) / best.sum()
        return float(probs @ row)


_KINDS: dict[str, type[TabularLearner]] = {
    c.kind: c for c in (QLearner, Sarsa, ExpectedSarsa)
}
