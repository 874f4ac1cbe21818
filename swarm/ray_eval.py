"""Fitness on Ray tasks, and :func:`make_evaluator`, which picks the backend.

:class:`RayEvaluator` puts the objective in the object store once, when it is
built; each call splits the ``(n, dim)`` matrix into contiguous chunks of rows,
evaluates every chunk as one Ray task (the task receives the stored objective
by reference) and concatenates the results in row order.  An objective that
raises is reported as an :class:`ObjectiveError` naming the row (or, for a
vectorised objective, the rows of the chunk) that failed.

:func:`make_evaluator` chooses among the backends:

* ``"inprocess"`` — :class:`~swarm.evaluate.VectorisedEvaluator` or
  :class:`~swarm.evaluate.SerialEvaluator` in this process.
* ``"ray"`` — :class:`RayEvaluator`; Ray must already be initialised (this
  module never calls ``ray.init``).
* ``"auto"`` — an :class:`AutoEvaluator`: on its first call it evaluates the
  first few rows in process and times them.  Below ``threshold_s`` per row
  (1 ms by default: a Ray task costs about that much to schedule, so cheaper
  objectives cannot win it back) or when Ray is not initialised, everything
  stays in process; otherwise the rest of that call and every later call go to
  Ray tasks.  The probe rows are not evaluated twice.

Example:
    >>> import numpy as np
    >>> ev = make_evaluator(lambda x: (x ** 2).sum(axis=1), "auto", vectorised=True)
    >>> ev(np.array([[1.0, 2.0], [3.0, 0.0]])).tolist(), ev.chosen
    ([5.0, 9.0], 'inprocess')
    >>> make_evaluator(sum, "cuda")
    Traceback (most recent call last):
    ...
    swarm.errors.UnknownNameError: unknown evaluation backend 'cuda' (known: auto, inprocess, ray)
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from swarm.errors import SwarmError, UnknownNameError
from swarm.evaluate import Evaluator, SerialEvaluator, VectorisedEvaluator, check_fitness

__all__ = ["BACKENDS", "AutoEvaluator", "ObjectiveError", "RayEvaluator", "make_evaluator",
           "split_rows"]

logger = logging.getLogger(__name__)

BACKENDS = ["auto", "inprocess", "ray"]


class ObjectiveError(SwarmError):
    """The objective raised (or returned garbage) while evaluating rows ``first..last``."""

    def __init__(self, first: int, last: int, message: str) -> None:
        self.first = first
        self.last = last
        self.message = message
        super().__init__(first, last, message)

    def __str__(self) -> str:
        where = f"row {self.first}" if self.first == self.last else (
            f"rows {self.first}-{self.last}")
        return f"objective failed on {where}: {self.message}"


def split_rows(n: int, chunks: int) -> list[tuple[int, int]]:
    """``chunks`` (at most ``n``) contiguous ``(start, stop)`` ranges covering ``range(n)``.

    Example:
        >>> split_rows(7, 3)
        [(0, 3), (3, 5), (5, 7)]
    """
    k = max(1, min(chunks, n))
    q, r = divmod(n, k)
    stops = [(i + 1) * q + min(i + 1, r) for i in range(k)]
    return list(zip([0, *stops[:-1]], stops, strict=True))


def evaluate_chunk(fn: Callable[[np.ndarray], object], x: np.ndarray, start: int,
                   vectorised: bool) -> np.ndarray:
    """Fitness of the rows ``x`` (rows ``start..`` of the whole matrix); the task body."""
    if vectorised:
        try:
            return check_fitness(fn(x), x.shape[0])
        except Exception as exc:
            raise ObjectiveError(start, start + x.shape[0] - 1,
                                 f"{type(exc).__name__}: {exc}") from exc
    out = np.empty(x.shape[0])
    for i, row in enumerate(x):
        try:
            value = np.asarray(fn(row), dtype=float)
            if value.size != 1:
                raise SwarmError(f"expected one number, got shape {value.shape}")
        except Exception as exc:
            raise ObjectiveError(start + i, start + i, f"{type(exc).__name__}: {exc}") from exc
        out[i] = value.reshape(())
    return out


def _ray() -> Any:
    """The ``ray`` module, when this process has initialised it; ``None`` otherwise."""
    ray = sys.modules.get("ray")  # not imported at all: certainly not initialised
    return ray if ray is not None and ray.is_initialized() else None


class RayEvaluator:
    """Evaluates chunks of rows as Ray tasks; the objective travels once, via the object store.

    Args:
        fn: the objective; per position (``vectorised=False``) or per matrix.
        chunks: tasks per call (default: the cluster's CPUs divided by ``num_cpus``).
        num_cpus: CPUs each task reserves.
        vectorised: whether ``fn`` takes the ``(m, dim)`` matrix of a chunk.
    """

    def __init__(self, fn: Callable[[np.ndarray], object], chunks: int | None = None,
                 num_cpus: float = 1, *, vectorised: bool = False) -> None:
        if not callable(fn):
            raise SwarmError(f"objective must be callable, got {type(fn).__name__}")
        ray = _ray()
        if ray is None:
            raise SwarmError("the 'ray' evaluation backend needs a running Ray: call ray.init() "
                             "(or cluster.connect) first, or use backend='inprocess'")
        if chunks is not None and chunks < 1:
            raise SwarmError(f"chunks must be >= 1, got {chunks}")
        if not num_cpus > 0:
            raise SwarmError(f"num_cpus must be > 0, got {num_cpus}")
        self.fn = fn
        self.vectorised = vectorised
        self.num_cpus = num_cpus
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        self.chunks = chunks or max(1, int(cpus // num_cpus))
        self.fn_ref = ray.put(fn)
        self._task = ray.remote(evaluate_chunk).options(num_cpus=num_cpus, max_retries=0)
        self.calls = 0

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        import ray
        from ray.exceptions import RayTaskError

        x = np.atleast_2d(positions)
        if x.shape[0] == 0:
            return np.empty(0)
        refs = [self._task.remote(self.fn_ref, x[a:b], a, self.vectorised)
                for a, b in split_rows(x.shape[0], self.chunks)]
        try:
            parts = ray.get(refs)
        except RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, ObjectiveError):
                raise ObjectiveError(cause.first, cause.last, cause.message) from exc
            raise SwarmError(f"a Ray evaluation task failed: {exc}") from exc
        self.calls += x.shape[0]
        return check_fitness(np.concatenate(parts), x.shape[0], "Ray evaluation")


class AutoEvaluator:
    """Times the first call's first rows in process, then stays there or moves to Ray.

    ``chosen`` is ``None`` until the first call, then ``"inprocess"`` or ``"ray"``;
    ``per_row_s`` is the measured cost of one row.
    """

    def __init__(self, fn: Callable[[np.ndarray], object], *, vectorised: bool = False,
                 threshold_s: float = 1e-3, probe_rows: int = 4, chunks: int | None = None,
                 num_cpus: float = 1) -> None:
        if probe_rows < 1:
            raise SwarmError(f"probe_rows must be >= 1, got {probe_rows}")
        self.fn = fn
        self.vectorised = vectorised
        self.threshold_s = threshold_s
        self.probe_rows = probe_rows
        self._ray_args: dict[str, Any] = {"chunks": chunks, "num_cpus": num_cpus}
        self.local: VectorisedEvaluator | SerialEvaluator = (
            VectorisedEvaluator(fn) if vectorised else SerialEvaluator(fn))
        self.backend: Evaluator = self.local
        self.chosen: str | None = None
        self.per_row_s: float | None = None
        self.calls = 0

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(positions)
        if self.chosen is not None:
            out = np.asarray(self.backend(x))
        else:
            k = min(self.probe_rows, x.shape[0])
            t = time.perf_counter()
            head = self.local(x[:k])
            self.per_row_s = (time.perf_counter() - t) / max(k, 1)
            self._choose(self.per_row_s)
            out = head if k == x.shape[0] else np.concatenate([head, self.backend(x[k:])])
        self.calls += x.shape[0]
        return out

    def _choose(self, per_row: float) -> None:
        if per_row >= self.threshold_s and _ray() is not None:
            self.backend = RayEvaluator(self.fn, vectorised=self.vectorised, **self._ray_args)
            self.chosen = "ray"
        else:
            if per_row >= self.threshold_s:
                logger.info("objective takes %.1f ms per row but Ray is not initialised; "
                            "evaluating in process", per_row * 1e3)
            self.chosen = "inprocess"
        logger.debug("auto backend: %.3g s per row -> %s", per_row, self.chosen)


def make_evaluator(fn: Callable[[np.ndarray], object], backend: str = "auto", *,
                   vectorised: bool = False, threshold_s: float = 1e-3,
                   chunks: int | None = None, num_cpus: float = 1) -> Any:
    """An evaluator for ``fn`` on ``backend`` (see the module docstring for the rule of ``auto``).

    Args:
        fn: the objective: one position -> a number, or (``vectorised``) a matrix -> a vector.
        backend: ``"auto"``, ``"inprocess"`` or ``"ray"``.
        threshold_s: ``auto`` keeps objectives cheaper than this per row in process.
        chunks, num_cpus: passed to :class:`RayEvaluator`.
    """
    if backend not in BACKENDS:
        raise UnknownNameError("evaluation backend", str(backend), BACKENDS)
    if not callable(fn):
        raise SwarmError(f"objective must be callable, got {type(fn).__name__}")
    if backend == "inprocess":
        return VectorisedEvaluator(fn) if vectorised else SerialEvaluator(fn)
    if backend == "ray":
        return RayEvaluator(fn, chunks, num_cpus, vectorised=vectorised)
    return AutoEvaluator(fn, vectorised=vectorised, threshold_s=threshold_s, chunks=chunks,
                         num_cpus=num_cpus)
