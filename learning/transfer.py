"""Transfer learning: start one learner from another's knowledge, and measure the gain.

:func:`transfer_q_table` copies a tabular learner's table into another,
optionally through a state map and an action map (target index -> source index)
and a scale; :func:`transfer_weights` does the same for a neural policy's weights
given as a dict of NumPy arrays (the framework shell converts tensors).
:func:`measure_transfer` trains learners from scratch and from a source, seed by
seed, and reports the two classic figures: the *jump-start* (greedy mean return of
the first evaluation, before any training, with transfer minus without) and the
*time to threshold* (training episodes until the greedy mean return reaches a
threshold).

Example:
    >>> from learning.tabular import QLearner
    >>> src = QLearner(2, 2, rng=0)
    >>> src.set_q_table(np.array([[1.0, 0.0], [0.0, 2.0]]))
    >>> dst = transfer_q_table(src, QLearner(2, 2, rng=0), action_map=[1, 0])
    >>> dst.get_q_table().tolist()
    [[0.0, 1.0], [2.0, 0.0]]
    >>> transfer_weights({"w": np.ones(2), "b": np.zeros(1)}, {"w": np.zeros(2), "h": np.ones(3)},
    ...                  strict=False)["w"].tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from learning.errors import LearningError
from learning.history import TrainingHistory
from learning.tabular import DiscreteEnv, TabularLearner

__all__ = ["TransferResult", "measure_transfer", "transfer_q_table", "transfer_weights"]


def _index_map(mapping: Mapping[int, int] | Sequence[int] | None, size: int,
               source_size: int, what: str) -> np.ndarray:
    if mapping is None:
        if size != source_size:
            raise LearningError(f"source has {source_size} {what}s, target {size}: "
                                f"give a {what}_map")
        return np.arange(size)
    if isinstance(mapping, Mapping):
        idx = np.full(size, -1, dtype=np.int64)
        for target, source in mapping.items():
            idx[int(target)] = int(source)
    else:
        idx = np.asarray(mapping, dtype=np.int64)
    if idx.shape != (size,):
        raise LearningError(f"{what}_map must give one source {what} per target {what} "
                            f"({size}), got {idx.shape[0]}")
    if idx.max(initial=-1) >= source_size:
        raise LearningError(f"{what}_map names {what} {idx.max()} but the source has "
                            f"{source_size}")
    return idx


def transfer_q_table(source: TabularLearner, target: TabularLearner, *,
                     state_map: Mapping[int, int] | Sequence[int] | None = None,
                     action_map: Mapping[int, int] | Sequence[int] | None = None,
                     scale: float = 1.0) -> TabularLearner:
    """Initialise ``target``'s table from ``source``'s and return ``target``.

    A map gives, for each target state (action), the source state (action) to copy;
    ``-1`` (or a target index missing from a dict) keeps the target's own values.
    """
    src, dst = source.get_q_table(), target.get_q_table()
    states = _index_map(state_map, dst.shape[0], src.shape[0], "state")
    actions = _index_map(action_map, dst.shape[1], src.shape[1], "action")
    known_s, known_a = states >= 0, actions >= 0
    block = src[np.ix_(states[known_s], actions[known_a])] * scale
    dst[np.ix_(np.flatnonzero(known_s), np.flatnonzero(known_a))] = block
    target.set_q_table(dst)
    return target


def transfer_weights(source: Mapping[str, np.ndarray], target: Mapping[str, np.ndarray], *,
                     name_map: Mapping[str, str] | None = None,
                     strict: bool = True) -> dict[str, np.ndarray]:
    """A new weights dict: ``target``'s arrays, replaced by ``source``'s where they match.

    ``name_map`` maps target names to source names.  With ``strict`` every target
    weight must have a source of the same shape; otherwise unmatched ones keep
    their values.  A name found with a different shape is always an error (a
    silently skipped layer is how restored policies lose their performance).
    """
    name_map = dict(name_map or {})
    out: dict[str, np.ndarray] = {}
    for name, value in target.items():
        src_name = name_map.get(name, name)
        if src_name not in source:
            if strict:
                raise LearningError(f"no source weight {src_name!r} for target {name!r}")
            out[name] = np.array(value, copy=True)
            continue
        src = np.asarray(source[src_name])
        if src.shape != np.shape(value):
            raise LearningError(f"weight {name!r}: source shape {src.shape} != target "
                                f"shape {np.shape(value)}")
        out[name] = src.astype(np.asarray(value).dtype, copy=True)
    return out


@dataclass(frozen=True)
class TransferResult:
    """Per-seed and mean figures of :func:`measure_transfer`.

    A time to threshold is ``None`` for a seed that never reached the threshold;
    the means count such a seed as ``episodes`` (the whole budget).
    """

    jump_start: float
    time_to_threshold_scratch: float
    time_to_threshold_transfer: float
    seeds: list[int]
    first_return_scratch: list[float]
    first_return_transfer: list[float]
    thresholds_scratch: list[int | None]
    thresholds_transfer: list[int | None]
    histories: dict[str, list[TrainingHistory]] = field(repr=False, default_factory=dict)

    @property
    def time_to_threshold_gain(self) -> float:
        """Episodes saved by transfer (mean over seeds)."""
        return self.time_to_threshold_scratch - self.time_to_threshold_transfer


def measure_transfer(make_learner: Callable[[int], TabularLearner],
                     env_fn: Callable[[], DiscreteEnv], source_learner: TabularLearner,
                     episodes: int, threshold: float, seeds: Sequence[int], *,
                     eval_every: int = 100, eval_episodes: int = 100,
                     max_steps: int | None = None,
                     make_transfer_learner: Callable[[int], TabularLearner] | None = None,
                     ) -> TransferResult:
    """Train from scratch and from ``source_learner`` for each seed; compare.

    ``make_learner(seed)`` builds a fresh learner (``make_transfer_learner``, if
    given, builds the one that receives the transfer: often with less
    exploration).  Each learner trains ``episodes`` episodes on its own
    ``env_fn()``, with greedy evaluations of ``eval_episodes`` episodes every
    ``eval_every``; the same evaluation seed is used for both arms.
    """
    if not seeds:
        raise LearningError("measure_transfer needs at least one seed")
    make_transfer = make_transfer_learner or make_learner
    first: dict[str, list[float]] = {"scratch": [], "transfer": []}
    reach: dict[str, list[int | None]] = {"scratch": [], "transfer": []}
    histories: dict[str, list[TrainingHistory]] = {"scratch": [], "transfer": []}
    for seed in seeds:
        arms = {"scratch": make_learner(seed),
                "transfer": transfer_q_table(source_learner, make_transfer(seed))}
        for arm, learner in arms.items():
            history = learner.train(env_fn(), episodes, seed=seed, max_steps=max_steps,
                                    eval_env=env_fn(), eval_every=eval_every,
                                    eval_episodes=eval_episodes, eval_seed=10_000 + seed)
            first[arm].append(history.evaluations[0][1].mean_return)
            reach[arm].append(history.first_reaching(threshold))
            histories[arm].append(history)

    def mean_time(values: list[int | None]) -> float:
        return float(np.mean([episodes if v is None else v for v in values]))

    return TransferResult(
        jump_start=float(np.mean(first["transfer"]) - np.mean(first["scratch"])),
        time_to_threshold_scratch=mean_time(reach["scratch"]),
        time_to_threshold_transfer=mean_time(reach["transfer"]),
        seeds=list(seeds), first_return_scratch=first["scratch"],
        first_return_transfer=first["transfer"], thresholds_scratch=reach["scratch"],
        thresholds_transfer=reach["transfer"], histories=histories)
