from __future__ import annotations

import numpy as np
import pytest

from swarm.aco_path import AntPathFinder, PathOptions
from swarm.errors import SwarmError


def _dijkstra(w: np.ndarray, s: int, t: int) -> float:
    n = len(w)
    dist = np.full(n, np.inf)
    dist[s] = 0.0
    done = np.zeros(n, dtype=bool)
    for _ in range(n):
        u = int(np.argmin(np.where(done, np.inf, dist)))
        if not np.isfinite(dist[u]):
            break
        done[u] = True
        dist = np.minimum(dist, dist[u] + w[u])
    return float(dist[t])


def _random_graph(n: int, p: float, seed: int, directed: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = np.where(rng.random((n, n)) < p, rng.integers(1, 20, (n, n)).astype(float), np.inf)
    if not directed:
        w = np.minimum(w, w.T)
    np.fill_diagonal(w, np.inf)
    return w


@pytest.mark.parametrize("seed", range(6))
def test_finds_the_dijkstra_shortest_path(seed: int) -> None:
    w = _random_graph(25, 0.2, seed)
    res = AntPathFinder(w, 0, 24, rng=seed).run()
    assert res.path[0] == 0 and res.path[-1] == 24
    assert len(set(res.path)) == len(res.path)
    assert all(np.isfinite(w[a, b]) for a, b in zip(res.path, res.path[1:], strict=False))
    assert res.length == pytest.approx(sum(w[a, b] for a, b in zip(res.path, res.path[1:],
                                                                   strict=False)))
    assert res.length == _dijkstra(w, 0, 24)


def test_directed_edges_are_respected() -> None:
    edges = [(0, 1, 1.0), (1, 2, 1.0), (2, 0, 1.0), (0, 2, 5.0)]
    res = AntPathFinder.from_edges(3, edges, 0, 2, directed=True, rng=0).run()
    assert (res.path, res.length) == ([0, 1, 2], 2.0)
    back = AntPathFinder.from_edges(3, edges, 2, 1, directed=True, rng=0).run()
    assert (back.path, back.length) == ([2, 0, 1], 2.0)


def test_reproducible_and_history_monotone() -> None:
    w = _random_graph(30, 0.15, 3)
    a = AntPathFinder(w, 0, 29, PathOptions(n_ants=10), rng=5).run(max_iterations=15)
    b = AntPathFinder(w, 0, 29, PathOptions(n_ants=10), rng=5).run(max_iterations=15)
    assert a.path == b.path and np.array_equal(a.history, b.history)
    assert np.all(np.diff(a.history[np.isfinite(a.history)]) <= 0)
    assert a.evaluations == 10 * a.iterations


def test_bad_graphs_are_rejected() -> None:
    w = np.full((3, 3), np.inf)
    w[0, 1] = w[1, 0] = 1.0
    with pytest.raises(SwarmError, match="cannot be reached"):
        AntPathFinder(w, 0, 2)
    with pytest.raises(SwarmError, match="outside"):
        AntPathFinder(w, 0, 7)
    with pytest.raises(SwarmError, match="same node"):
        AntPathFinder(w, 1, 1)
    with pytest.raises(SwarmError, match="non-negative"):
        AntPathFinder(-w, 0, 1)
    with pytest.raises(SwarmError, match="outside"):
        AntPathFinder.from_edges(2, [(0, 5, 1.0)], 0, 1)
    with pytest.raises(SwarmError, match="rho"):
        AntPathFinder(w, 0, 1, PathOptions(rho=2.0))
