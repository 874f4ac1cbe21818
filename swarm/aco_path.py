"""Ant colony search for a short path from a source to a target on a weighted graph.

The graph is an ``n x n`` weight matrix with ``inf`` where there is no edge
(:meth:`AntPathFinder.from_edges` builds one from an edge list).  Ants walk from
the source in lock-step, never revisiting a node, choosing an outgoing edge with
probability ``tau**alpha * (1/w)**beta``; an ant that reaches a dead end drops out.
Each path that reaches the target is shortened wherever one edge can replace a
stretch of it; then the iteration's best and the best-so-far path deposit ``1/L``
on their edges and trails are kept within MAX-MIN bounds so the colony keeps
exploring.

Example:
    >>> edges = [(0, 1, 1.0), (1, 3, 1.0), (0, 2, 1.0), (2, 3, 5.0), (0, 3, 4.0)]
    >>> finder = AntPathFinder.from_edges(4, edges, source=0, target=3, rng=0)
    >>> res = finder.run(max_iterations=20)
    >>> res.path, res.length
    ([0, 1, 3], 2.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from swarm.aco import _roulette
from swarm.errors import SwarmError
from swarm.result import Stopper

__all__ = ["AntPathFinder", "PathOptions", "PathResult"]


@dataclass(frozen=True)
class PathOptions:
    """Colony settings for path finding."""

    n_ants: int = 20
    alpha: float = 1.0
    beta: float = 2.0
    rho: float = 0.1
    tau_ratio: float = 0.01

    def validate(self) -> None:
        """Raise :class:`SwarmError` naming the first bad setting."""
        if self.n_ants < 1 or self.alpha < 0 or self.beta < 0:
            raise SwarmError(f"PathOptions: need n_ants >= 1, alpha >= 0, beta >= 0; got "
                             f"{self.n_ants}, {self.alpha}, {self.beta}")
        if not 0 < self.rho <= 1 or not 0 < self.tau_ratio < 1:
            raise SwarmError(f"PathOptions: need 0 < rho <= 1 and 0 < tau_ratio < 1; got "
                             f"{self.rho}, {self.tau_ratio}")


@dataclass(frozen=True)
class PathResult:
    """The shortest path found (node ids from source to target), and the run's cost."""

    path: list[int]
    length: float
    history: np.ndarray
    iterations: int
    evaluations: int
    seconds: float
    stop_reason: str


class AntPathFinder:
    """Ants searching ``source -> target`` on a weighted (directed or undirected) graph."""

    def __init__(self, weights: np.ndarray, source: int, target: int,
                 options: PathOptions | None = None, *,
                 rng: np.random.Generator | int | None = None) -> None:
        w = np.asarray(weights, dtype=float)
        n = w.shape[0] if w.ndim == 2 else 0
        if w.ndim != 2 or w.shape != (n, n) or n < 2:
            raise SwarmError(f"weights must be a square matrix of at least 2 nodes, got {w.shape}")
        if np.any(np.isnan(w)) or np.any(w < 0):
            raise SwarmError("edge weights must be non-negative (inf for no edge, never NaN)")
        for name, node in (("source", source), ("target", target)):
            if not 0 <= node < n:
                raise SwarmError(f"{name} node {node} is outside 0..{n - 1}")
        if source == target:
            raise SwarmError("source and target are the same node")
        self.options = options or PathOptions()
        self.options.validate()
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.w, self.n, self.source, self.target = w, n, source, target
        self.edge = np.isfinite(w)
        np.fill_diagonal(self.edge, False)
        if not self._reachable():
            raise SwarmError(f"target {target} cannot be reached from source {source}")
        positive = w[self.edge & (w > 0)]
        floor = positive.min() / 2 if positive.size else 1.0
        self.heuristic = np.where(self.edge, np.maximum(np.where(self.edge, w, 1), floor), 1.0
                                  ) ** -self.options.beta
        self.tau_max = 1.0
        self.tau = np.where(self.edge, self.tau_max, 0.0)
        self.best_path: list[int] = []
        self.best_length = np.inf
        self.iteration = 0
        self.evaluations = 0

    @classmethod
    def from_edges(cls, n: int, edges: Sequence[tuple[int, int, float]], source: int,
                   target: int, *, directed: bool = False, options: PathOptions | None = None,
                   rng: np.random.Generator | int | None = None) -> AntPathFinder:
        """Build from ``(u, v, weight)`` triples (both directions unless ``directed``)."""
        w = np.full((n, n), np.inf)
        for k, (u, v, weight) in enumerate(edges):
            if not (0 <= u < n and 0 <= v < n):
                raise SwarmError(f"edge {k} ({u}, {v}) names a node outside 0..{n - 1}")
            w[u, v] = min(w[u, v], weight)
            if not directed:
                w[v, u] = min(w[v, u], weight)
        return cls(w, source, target, options, rng=rng)

    def _reachable(self) -> bool:
        seen = np.zeros(self.n, dtype=bool)
        seen[self.source] = True
        frontier = seen.copy()
        while frontier.any():
            frontier = self.edge[frontier].any(axis=0) & ~seen
            seen |= frontier
        return bool(seen[self.target])

    def _walk(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Walks of all ants: ``(nodes m x n padded with -1, steps, reached target)``."""
        o, m, n = self.options, self.options.n_ants, self.n
        choice = (self.tau if o.alpha == 1 else self.tau**o.alpha) * self.heuristic
        walks = np.full((m, n), -1, dtype=np.intp)
        visited = np.zeros((m, n), dtype=bool)
        cur = np.full(m, self.source)
        walks[:, 0] = cur
        visited[:, self.source] = True
        moving = np.ones(m, dtype=bool)
        steps = np.zeros(m, dtype=np.intp)
        for step in range(1, n):
            idx = np.flatnonzero(moving)
            if idx.size == 0:
                break
            w = choice[cur[idx]] * ~visited[idx]
            total = w.sum(axis=1)
            pick = _roulette(w, total, self.rng.random(idx.size))
            dead = total <= 0
            moving[idx[dead]] = False
            go, nxt = idx[~dead], pick[~dead]
            walks[go, step], steps[go] = nxt, step
            visited[go, nxt] = True
            cur[go] = nxt
            moving[go[nxt == self.target]] = False
        reached = walks[np.arange(m), steps] == self.target
        return walks, steps, reached

    def _shortcut(self, path: np.ndarray) -> np.ndarray:
        """Replace a stretch of ``path`` by a single edge wherever that edge is shorter."""
        nodes = path.tolist()
        i = 0
        while i < len(nodes) - 2:
            legs = self.w[nodes[i:-1], nodes[i + 1 :]].cumsum()
            direct = self.w[nodes[i], nodes[i + 2 :]]
            gain = legs[1:] - direct
            j = int(np.argmax(gain))
            if gain[j] > 1e-12:
                del nodes[i + 1 : i + 2 + j]
            else:
                i += 1
        return np.asarray(nodes)

    def step(self) -> float:
        """One iteration; returns the best length found so far (``inf`` until one is)."""
        o = self.options
        walks, steps, reached = self._walk()
        self.iteration += 1
        self.evaluations += o.n_ants
        self.tau *= 1 - o.rho
        best_iter, best_iter_len = None, np.inf
        for k in np.flatnonzero(reached):
            path = self._shortcut(walks[k, : steps[k] + 1])
            length = float(self.w[path[:-1], path[1:]].sum())
            if length < best_iter_len:
                best_iter, best_iter_len = path, length
        if best_iter is not None:
            if best_iter_len < self.best_length:
                self.best_length, self.best_path = best_iter_len, best_iter.tolist()
            self.tau[best_iter[:-1], best_iter[1:]] += 1.0 / max(best_iter_len, 1e-12)
        if self.best_path:
            p = np.asarray(self.best_path)
            self.tau[p[:-1], p[1:]] += 1.0 / max(self.best_length, 1e-12)
            self.tau_max = 1.0 / (o.rho * max(self.best_length, 1e-12))
        self.tau = np.where(self.edge, np.clip(self.tau, o.tau_ratio * self.tau_max,
                                               self.tau_max), 0.0)
        return self.best_length

    def run(self, max_iterations: int | None = 200, *, time_limit: float | None = None,
            max_stagnation: int | None = 50) -> PathResult:
        """Iterate until ``max_iterations``, ``time_limit`` seconds, or ``max_stagnation``
        iterations without a shorter path."""
        stop = Stopper("AntPathFinder.run", max_iterations, time_limit, max_stagnation)
        history: list[float] = []
        while stop.more():
            before = self.best_length
            history.append(self.step())
            if stop.record(self.best_length < before):
                break
        return PathResult(list(self.best_path), self.best_length, np.asarray(history),
                          len(history), self.evaluations, stop.elapsed, stop.reason)
