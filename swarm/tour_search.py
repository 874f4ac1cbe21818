"""Tour helpers and local search for symmetric TSPs, batched over many tours at once.

:func:`two_opt` and :func:`or_opt` only try moves that bring a city next to one
of its ``k`` nearest neighbours (Bentley's neighbour lists) and only from cities
whose surroundings changed since they last failed to improve (don't-look bits).
A round scores the moves of every such (tour, city) pair in one NumPy pass,
keeps each tour's best non-overlapping improving moves, and applies them all as
one index permutation per tour.  Rounds repeat until no pair improves, so the
result is a local optimum of the neighbour-list neighbourhood.

Example:
    >>> pts = np.array([[0, 0], [1, 1], [1, 0], [0, 1]], dtype=float)
    >>> dist = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    >>> crossed = np.array([[0, 1, 2, 3]])
    >>> float(tour_lengths(crossed, dist)[0]) > 4.0
    True
    >>> float(tour_lengths(two_opt(crossed, dist, neighbour_lists(dist, 3)), dist)[0])
    4.0
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "improve",
    "nearest_neighbour_tour",
    "neighbour_lists",
    "or_opt",
    "tour_lengths",
    "two_opt",
]

_EPS = 1e-9
_PER_ROUND = 16  # moves considered per tour and round


def neighbour_lists(dist: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest other cities of every city, nearest first (an ``n x k`` array)."""
    n = dist.shape[0]
    k = max(1, min(k, n - 1))
    d = dist.astype(float, copy=True)
    np.fill_diagonal(d, np.inf)
    part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < n - 1 else np.argsort(d, 1)[:, :k]
    order = np.argsort(np.take_along_axis(d, part, 1), axis=1, kind="stable")
    return np.take_along_axis(part, order, 1)


def tour_lengths(tours: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Closed-tour lengths of the rows of ``tours`` (a 1-D tour gives a 1-element array)."""
    t = np.atleast_2d(tours)
    return np.asarray(dist[t, np.roll(t, -1, axis=1)].sum(axis=1), dtype=float)


def nearest_neighbour_tour(dist: np.ndarray, start: int = 0) -> np.ndarray:
    """The greedy nearest-neighbour tour from ``start``."""
    n = dist.shape[0]
    free = np.ones(n, dtype=bool)
    tour = np.empty(n, dtype=np.intp)
    cur = start
    for i in range(n):
        tour[i] = cur
        free[cur] = False
        if i < n - 1:
            cur = int(np.argmin(np.where(free, dist[cur], np.inf)))
    return tour


def _positions(t: np.ndarray) -> np.ndarray:
    pos = np.empty_like(t)
    pos[np.arange(t.shape[0])[:, None], t] = np.arange(t.shape[1])
    return pos


def _independent(ant: np.ndarray, gain: np.ndarray, x: np.ndarray, y: np.ndarray,
                 n: int) -> np.ndarray:
    """Indices of moves to apply together: per tour, the best moves whose changed-edge
    intervals ``[x, y]`` (``x == -1`` is edge ``n - 1``) overlap no better move's."""
    order = np.lexsort((-gain, ant))
    a = ant[order]
    first = np.r_[True, a[1:] != a[:-1]]
    rank = np.arange(a.size) - np.maximum.accumulate(np.where(first, np.arange(a.size), 0))
    keep = rank < _PER_ROUND
    order, group, rank = order[keep], (np.cumsum(first) - 1)[keep], rank[keep]
    shape = (int(group[-1]) + 1, _PER_ROUND)
    lo, hi = np.full(shape, n + 5), np.full(shape, -5)
    lo[group, rank], hi[group, rank] = x[order], y[order]
    ls, hs, lr, hr = lo[:, None, :], hi[:, None, :], lo[:, :, None], hi[:, :, None]
    wrap = ((hs == n - 1) & (lr == -1)) | ((hr == n - 1) & (ls == -1))
    clash = ((ls <= hr) & (lr <= hs)) | wrap
    earlier = np.tri(_PER_ROUND, k=-1, dtype=bool)[None]
    ok = ~(clash & earlier).any(axis=2)
    return np.asarray(order[ok[group, rank]])


def _cover(m: int, n: int, ant: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per (tour, position): 1 + the index of the move whose span covers it, or 0."""
    mark = np.zeros((m, n + 1), dtype=np.int64)
    ids = np.arange(1, ant.size + 1)
    np.add.at(mark, (ant, lo), ids)
    np.add.at(mark, (ant, hi + 1), -ids)
    return np.cumsum(mark[:, :n], axis=1)


def _wake(masks: tuple[np.ndarray, ...], t: np.ndarray, ant: np.ndarray,
          spots: list[np.ndarray]) -> None:
    """Clear the don't-look bits of the cities at and around positions ``spots``."""
    n = t.shape[1]
    for p in spots:
        for off in (-2, -1, 0, 1):
            city = t[ant, (p + off) % n]
            for mask in masks:
                mask[ant, city] = True


def _two_opt_round(t: np.ndarray, dist: np.ndarray, nn: np.ndarray,
                   active: tuple[np.ndarray, ...]) -> bool:
    """Apply improving 2-opt moves from the cities set in ``active[0]``; wake all masks."""
    m, n = t.shape
    k = nn.shape[1]
    ai, ci = np.nonzero(active[0])
    if ai.size == 0:
        return False
    flat = dist.ravel()
    pos = _positions(t)
    i = pos[ai, ci]
    a, col = ci[:, None], ai[:, None]
    b, p = t[ai, (i + 1) % n][:, None], t[ai, (i - 1) % n][:, None]
    c = nn[ci]
    j = pos[col, c]
    d, q = t[col, (j + 1) % n], t[col, (j - 1) % n]
    d_ac = flat[a * n + c]
    g = np.concatenate([flat[a * n + b] + flat[c * n + d] - d_ac - flat[b * n + d],
                        flat[p * n + a] + flat[q * n + c] - d_ac - flat[p * n + q]], axis=1)
    arg = np.argmax(g, axis=1)
    gain = g[np.arange(ai.size), arg]
    imp = gain > _EPS
    active[0][ai[~imp], ci[~imp]] = False
    if not imp.any():
        return False
    ai, i, arg, gain = ai[imp], i[imp], arg[imp], gain[imp]
    jj = j[imp][np.arange(ai.size), arg % k]
    pred = arg >= k
    e1, e2 = np.where(pred, (i - 1) % n, i), np.where(pred, (jj - 1) % n, jj)
    x, y = np.minimum(e1, e2), np.maximum(e1, e2)
    sel = _independent(ai, gain, x, y, n)
    ai, x, y = ai[sel], x[sel], y[sel]
    _wake(active, t, ai, [x, y])
    cover = _cover(m, n, ai, x + 1, y)
    q_ = np.arange(n)[None, :]
    src = np.where(cover > 0, np.r_[0, x + 1 + y][cover] - q_, q_)
    t[:] = np.take_along_axis(t, src, axis=1)
    _wake(active, t, ai, [x, y])
    return True


def _or_opt_round(t: np.ndarray, dist: np.ndarray, nn: np.ndarray,
                  active: tuple[np.ndarray, ...], segments: tuple[int, ...]) -> bool:
    """Apply improving segment moves from the cities set in ``active[0]``; wake all masks."""
    m, n = t.shape
    ai, ci = np.nonzero(active[0])
    if ai.size == 0:
        return False
    flat = dist.ravel()
    pos = _positions(t)
    s = pos[ai, ci][:, None]  # segment t[s .. s+L-1] starts at the active city
    col = ai[:, None]
    best = np.full(ai.size, -np.inf)
    move = np.zeros((ai.size, 3), dtype=np.intp)  # segment length, anchor h, reversed
    rows = np.arange(ai.size)
    for seg in segments:
        e = s + seg - 1
        ok = e < n  # segments do not wrap; the next round's rotation covers those
        s1, sl = t[col, s], t[col, np.minimum(e, n - 1)]
        before, after = t[col, (s - 1) % n], t[col, (e + 1) % n]
        removed = flat[before * n + s1] + flat[sl * n + after] - flat[before * n + after]
        for end_is_first in (True, False):
            end, other = (s1, sl) if end_is_first else (sl, s1)
            c = nn[end[:, 0]]
            jc = pos[col, c]
            for after_c in (True, False):
                je = (jc + 1) % n if after_c else (jc - 1) % n
                ce = t[col, je]
                gain = removed - flat[c * n + end] - flat[other * n + ce] + flat[c * n + ce]
                h = jc if after_c else je  # insert after position h
                bad = ((jc >= s) & (jc <= e)) | ((je >= s) & (je <= e)) | ~ok
                bad |= (h == s - 1) | ((h == n - 1) & (s == 0))
                gain = np.where(bad, -np.inf, gain)
                arg = np.argmax(gain, axis=1)
                g = gain[rows, arg]
                win = g > best
                best = np.where(win, g, best)
                move[win] = np.stack([np.full(ai.size, seg), h[rows, arg],
                                      np.full(ai.size, end_is_first != after_c)], axis=1)[win]
    imp = best > _EPS
    active[0][ai[~imp], ci[~imp]] = False
    if not imp.any():
        return False
    ai, s, best, move = ai[imp], s[imp, 0], best[imp], move[imp]
    length, h, rev = move[:, 0], move[:, 1], move[:, 2].astype(bool)
    e = s + length - 1
    fwd = h > e
    x, y = np.where(fwd, s - 1, h), np.where(fwd, h, e)
    sel = _independent(ai, best, x, y, n)
    ai, s, e, length = ai[sel], s[sel], e[sel], length[sel]
    h, rev, fwd = h[sel], rev[sel], fwd[sel]
    _wake(active, t, ai, [s, e, h])
    lo, hi = np.where(fwd, s, h + 1), np.where(fwd, h, e)
    cover = _cover(m, n, ai, lo, hi)
    mv = np.maximum(cover - 1, 0)
    q_ = np.arange(n)[None, :]
    start = np.where(fwd, h - length + 1, h + 1)[mv]
    inside = (q_ >= start) & (q_ < start + length[mv])
    kk = q_ - start
    src_seg = np.where(rev[mv], e[mv] - kk, s[mv] + kk)
    src_rest = np.where(fwd[mv], q_ + length[mv], q_ - length[mv])
    src = np.where(cover > 0, np.where(inside, src_seg, src_rest), q_)
    t[:] = np.take_along_axis(t, src, axis=1)
    _wake(active, t, ai, [lo, hi])
    return True


def _search(tours: np.ndarray, dist: np.ndarray, nn: np.ndarray, use_2opt: bool,
            use_oropt: bool, segments: tuple[int, ...] = (1, 2, 3),
            max_rounds: int | None = None) -> np.ndarray:
    t = np.array(np.atleast_2d(tours), dtype=np.intp)
    m, n = t.shape
    segments = tuple(sg for sg in segments if n >= sg + 3)
    use_oropt = use_oropt and bool(segments)
    if n < 4 or not (use_2opt or use_oropt):
        return t
    act2 = np.full((m, n), use_2opt)
    act_or = np.full((m, n), use_oropt)
    masks2 = (act2, act_or) if use_oropt else (act2,)
    masks_or = (act_or, act2) if use_2opt else (act_or,)
    rounds = 0
    while max_rounds is None or rounds < max_rounds:
        rounds += 1
        moved = use_2opt and _two_opt_round(t, dist, nn, masks2)
        if use_oropt and not moved:
            t[:] = np.roll(t, 1 + rounds % 3, axis=1)  # lets segments at the seam be moved
            moved = _or_opt_round(t, dist, nn, masks_or, segments)
        if not moved and not (act2.any() or act_or.any()):
            break
    return t


def two_opt(tours: np.ndarray, dist: np.ndarray, nn: np.ndarray,
            max_rounds: int | None = None) -> np.ndarray:
    """2-opt local optimum of every row of ``tours`` (a new array; the input is left alone).

    Args:
        tours: ``m x n`` city orders (a 1-D tour is treated as one row).
        dist: the symmetric ``n x n`` distance matrix.
        nn: neighbour lists from :func:`neighbour_lists`; more neighbours search wider.
        max_rounds: stop after this many rounds (default: until no tour improves).
    """
    return _search(tours, dist, nn, True, False, max_rounds=max_rounds)


def or_opt(tours: np.ndarray, dist: np.ndarray, nn: np.ndarray,
           segments: tuple[int, ...] = (1, 2, 3), max_rounds: int | None = None) -> np.ndarray:
    """Or-opt local optimum: move segments of 1-3 cities, either way round (a new array)."""
    return _search(tours, dist, nn, False, True, segments, max_rounds)


def improve(tours: np.ndarray, dist: np.ndarray, nn: np.ndarray,
            method: str = "2opt+oropt") -> np.ndarray:
    """Local search by name: ``"2opt"``, ``"oropt"``, ``"2opt+oropt"`` (both) or ``"none"``.

    Example:
        >>> dist = np.array([[0, 1, 2, 1], [1, 0, 1, 2], [2, 1, 0, 1], [1, 2, 1, 0.]])
        >>> better = improve(np.array([0, 2, 1, 3]), dist, neighbour_lists(dist, 3))
        >>> tour_lengths(np.array([0, 2, 1, 3]), dist).tolist(), tour_lengths(better, dist).tolist()
        ([6.0], [4.0])
    """
    kinds = {"2opt": (True, False), "oropt": (False, True), "2opt+oropt": (True, True),
             "none": (False, False)}
    if method not in kinds:
        from swarm.errors import UnknownNameError

        raise UnknownNameError("local search", method, list(kinds))
    return _search(tours, dist, nn, *kinds[method])
