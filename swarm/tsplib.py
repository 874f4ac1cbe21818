"""TSPLIB reading: ``.tsp`` instances and ``.opt.tour`` tours, with the TSPLIB distance rules.

Supported: ``TYPE`` TSP and ATSP; ``EDGE_WEIGHT_TYPE`` EUC_2D, EUC_3D, CEIL_2D, MAN_2D,
MAX_2D, ATT, GEO and EXPLICIT (with every ``EDGE_WEIGHT_FORMAT``: FULL_MATRIX, the
UPPER/LOWER ROW/COL variants, with or without diagonal).  A malformed file raises
:class:`~swarm.errors.TSPLIBError` naming the file, the line and the field.

Example:
    >>> text = '''NAME: square
    ... TYPE: TSP
    ... DIMENSION: 4
    ... EDGE_WEIGHT_TYPE: EUC_2D
    ... NODE_COORD_SECTION
    ... 1 0 0
    ... 2 3 0
    ... 3 3 4
    ... 4 0 4
    ... EOF'''
    >>> inst = parse_tsplib(text)
    >>> inst.name, inst.dimension, float(inst.distances[0, 2])
    ('square', 4, 5.0)
    >>> inst.tour_length([0, 1, 2, 3])
    14.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from swarm.errors import TSPLIBError

__all__ = [
    "DISTANCE_RULES",
    "TSPInstance",
    "distance_matrix",
    "load_tour",
    "load_tsplib",
    "parse_tour",
    "parse_tsplib",
]

DISTANCE_RULES = ("EUC_2D", "EUC_3D", "CEIL_2D", "MAN_2D", "MAX_2D", "ATT", "GEO")
_FORMATS = (
    "FULL_MATRIX", "UPPER_ROW", "LOWER_ROW", "UPPER_DIAG_ROW", "LOWER_DIAG_ROW",
    "UPPER_COL", "LOWER_COL", "UPPER_DIAG_COL", "LOWER_DIAG_COL",
)
_SECTIONS = (
    "NODE_COORD_SECTION", "EDGE_WEIGHT_SECTION", "DISPLAY_DATA_SECTION", "TOUR_SECTION",
    "FIXED_EDGES_SECTION", "DEPOT_SECTION", "DEMAND_SECTION",
)


@dataclass(frozen=True)
class TSPInstance:
    """A travelling-salesman instance: an ``n x n`` distance matrix, and coordinates if any."""

    name: str
    distances: np.ndarray
    coords: np.ndarray | None = None
    edge_weight_type: str = "EXPLICIT"
    comment: str = ""
    symmetric: bool = field(default=True)

    @property
    def dimension(self) -> int:
        """The number of cities."""
        return int(self.distances.shape[0])

    @classmethod
    def from_coords(cls, coords: np.ndarray | Sequence[Sequence[float]], rule: str = "EUC_2D",
                    name: str = "coords") -> TSPInstance:
        """Build an instance from city coordinates with one of :data:`DISTANCE_RULES`."""
        xy = np.asarray(coords, dtype=float)
        return cls(name, distance_matrix(xy, rule), xy, rule)

    def tour_length(self, tour: Sequence[int] | np.ndarray) -> float:
        """Length of the closed tour visiting the 0-based cities in ``tour`` order."""
        t = np.asarray(tour, dtype=np.intp)
        return float(self.distances[t, np.roll(t, -1)].sum())


def distance_matrix(coords: np.ndarray, rule: str = "EUC_2D") -> np.ndarray:
    """The TSPLIB distance matrix of ``coords`` (``n x 2``, or ``n x 3`` for EUC_3D).

    Example:
        >>> distance_matrix(np.array([[0.0, 0.0], [1.0, 1.0]]), "CEIL_2D").tolist()
        [[0.0, 2.0], [2.0, 0.0]]
    """
    xy = np.asarray(coords, dtype=float)
    if rule not in DISTANCE_RULES:
        raise TSPLIBError("<coords>", "EDGE_WEIGHT_TYPE",
                          f"unsupported rule {rule!r} (use one of {', '.join(DISTANCE_RULES)})")
    need = 3 if rule == "EUC_3D" else 2
    if xy.ndim != 2 or xy.shape[1] < need:
        raise TSPLIBError("<coords>", "NODE_COORD_SECTION",
                          f"{rule} needs {need} coordinates per node, got shape {xy.shape}")
    if rule == "GEO":
        return _geo(xy)
    diff = xy[:, None, :need] - xy[None, :, :need]
    if rule == "MAN_2D":
        return np.floor(np.abs(diff).sum(axis=2) + 0.5)
    if rule == "MAX_2D":
        return np.floor(np.abs(diff).max(axis=2) + 0.5)
    sq = (diff**2).sum(axis=2)
    if rule == "ATT":
        r = np.sqrt(sq / 10.0)
        t = np.floor(r + 0.5)
        return np.where(t < r, t + 1.0, t)
    d = np.sqrt(sq)
    return np.ceil(d) if rule == "CEIL_2D" else np.floor(d + 0.5)


def _geo(xy: np.ndarray) -> np.ndarray:
    """TSPLIB GEO: DDD.MM latitude/longitude, distances in km on the idealised sphere."""
    deg = np.trunc(xy)
    rad = 3.141592 * (deg + 5.0 * (xy - deg) / 3.0) / 180.0  # TSPLIB's own value of pi
    lat, lon = rad[:, 0], rad[:, 1]
    q1 = np.cos(lon[:, None] - lon[None, :])
    q2 = np.cos(lat[:, None] - lat[None, :])
    q3 = np.cos(lat[:, None] + lat[None, :])
    arg = np.clip(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3), -1.0, 1.0)
    d = np.floor(6378.388 * np.arccos(arg) + 1.0)
    np.fill_diagonal(d, 0.0)
    return d


class _Reader:
    """Tokens of a TSPLIB text with their line numbers, and the spec keywords."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.spec: dict[str, tuple[str, int]] = {}
        self.sections: dict[str, list[tuple[str, int]]] = {}
        current: list[tuple[str, int]] | None = None
        for lineno, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line:
                continue
            head = line.split(":", 1)[0].split()[0].upper()
            if head == "EOF":
                break
            if head in _SECTIONS:
                current = self.sections.setdefault(head, [])
                rest = line.split(None, 1)[1:] if ":" not in line else []
                current.extend((tok, lineno) for part in rest for tok in part.split())
            elif ":" in line and not _is_number(head):
                key, value = line.split(":", 1)
                self.spec[key.strip().upper()] = (value.strip(), lineno)
                current = None
            elif current is not None:
                current.extend((tok, lineno) for tok in line.split())
            else:
                raise TSPLIBError(source, head, f"unexpected line {line[:40]!r}", lineno)

    def error(self, key: str, message: str, line: int | None = None) -> TSPLIBError:
        if line is None and key in self.spec:
            line = self.spec[key][1]
        return TSPLIBError(self.source, key, message, line)

    def get(self, key: str, default: str | None = None) -> str:
        if key in self.spec:
            return self.spec[key][0]
        if default is None:
            raise self.error(key, "missing required keyword")
        return default

    def dimension(self) -> int:
        raw = self.get("DIMENSION")
        try:
            n = int(raw)
        except ValueError:
            raise self.error("DIMENSION", f"not an integer: {raw!r}") from None
        if n < 1:
            raise self.error("DIMENSION", f"must be positive, got {n}")
        return n

    def numbers(self, section: str) -> tuple[np.ndarray, list[int]]:
        toks = self.sections.get(section)
        if toks is None:
            raise self.error(section, "missing section")
        values = []
        for tok, lineno in toks:
            try:
                values.append(float(tok))
            except ValueError:
                raise self.error(section, f"not a number: {tok!r}", lineno) from None
        return np.asarray(values), [ln for _, ln in toks]


def _is_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


def parse_tsplib(text: str, source: str = "<string>") -> TSPInstance:
    """Parse the text of a TSPLIB ``.tsp`` (or ``.atsp``) file."""
    r = _Reader(text, source)
    kind = r.get("TYPE", "TSP").split()[0].upper()
    if kind not in ("TSP", "ATSP"):
        raise r.error("TYPE", f"unsupported problem type {kind!r} (TSP or ATSP)")
    n = r.dimension()
    ewt = r.get("EDGE_WEIGHT_TYPE").upper()
    coords = _coords(r, n) if "NODE_COORD_SECTION" in r.sections else None
    if ewt == "EXPLICIT":
        dist = _explicit(r, n)
    elif ewt in DISTANCE_RULES:
        if coords is None:
            raise r.error("NODE_COORD_SECTION", f"missing section (needed by {ewt})")
        need = 3 if ewt == "EUC_3D" else 2
        if coords.shape[1] < need:
            raise r.error("NODE_COORD_SECTION", f"{ewt} needs {need} coordinates per node")
        dist = distance_matrix(coords, ewt)
    else:
        raise r.error("EDGE_WEIGHT_TYPE",
                      f"unsupported value {ewt!r} (use EXPLICIT or {', '.join(DISTANCE_RULES)})")
    if coords is None and "DISPLAY_DATA_SECTION" in r.sections:
        coords = _coords(r, n, "DISPLAY_DATA_SECTION")
    sym = bool(np.array_equal(dist, dist.T))
    return TSPInstance(r.get("NAME", Path(source).stem), dist, coords, ewt,
                       r.get("COMMENT", ""), sym)


def _coords(r: _Reader, n: int, section: str = "NODE_COORD_SECTION") -> np.ndarray:
    values, lines = r.numbers(section)
    for width in (3, 4):
        if values.size == n * width:
            break
    else:
        raise r.error(section, f"expected {n} lines of 'id x y' (or 'id x y z'), "
                      f"got {values.size} numbers", lines[-1] if lines else None)
    rows = values.reshape(n, width)
    ids = rows[:, 0].astype(np.int64)
    bad = np.flatnonzero((ids < 1) | (ids > n) | (ids != rows[:, 0]))
    if bad.size:
        raise r.error(section, f"node id {rows[bad[0], 0]:g} outside 1..{n}", lines[bad[0] * width])
    uniq, counts = np.unique(ids, return_counts=True)
    if uniq.size != n:
        dup = int(uniq[counts > 1][0])
        raise r.error(section, f"node id {dup} appears more than once")
    coords = np.empty((n, width - 1))
    coords[ids - 1] = rows[:, 1:]
    return coords


def _explicit(r: _Reader, n: int) -> np.ndarray:
    fmt = r.get("EDGE_WEIGHT_FORMAT").upper()
    if fmt not in _FORMATS:
        raise r.error("EDGE_WEIGHT_FORMAT",
                      f"unsupported value {fmt!r} (use {', '.join(_FORMATS)})")
    values, lines = r.numbers("EDGE_WEIGHT_SECTION")
    if fmt == "FULL_MATRIX":
        expected = n * n
    else:
        expected = n * (n + 1) // 2 if "DIAG" in fmt else n * (n - 1) // 2
    if values.size != expected:
        last = lines[-1] if lines else None
        raise r.error("EDGE_WEIGHT_SECTION", f"{fmt} for DIMENSION {n} needs {expected} "
                      f"weights, got {values.size}", last)
    if fmt == "FULL_MATRIX":
        return values.reshape(n, n).copy()
    # A column-wise upper triangle lists the same sequence as the row-wise lower one.
    row_wise = {"UPPER_COL": "LOWER_ROW", "LOWER_COL": "UPPER_ROW",
                "UPPER_DIAG_COL": "LOWER_DIAG_ROW", "LOWER_DIAG_COL": "UPPER_DIAG_ROW"}
    fmt = row_wise.get(fmt, fmt)
    k = 0 if "DIAG" in fmt else 1
    if fmt.startswith("UPPER"):
        rows, cols = np.triu_indices(n, k)
    else:
        rows, cols = np.tril_indices(n, -k)
    dist = np.zeros((n, n))
    dist[rows, cols] = values
    dist[cols, rows] = values
    return dist


def load_tsplib(path: str | Path) -> TSPInstance:
    """Read a TSPLIB ``.tsp`` file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise TSPLIBError(str(p), "file", f"cannot read: {exc.strerror or exc}") from exc
    return parse_tsplib(text, str(p))


def parse_tour(text: str, source: str = "<string>") -> np.ndarray:
    """Parse a TSPLIB ``.tour`` text into a 0-based city order.

    Example:
        >>> parse_tour("TYPE: TOUR\\nDIMENSION: 3\\nTOUR_SECTION\\n2\\n1\\n3\\n-1\\nEOF")
        array([1, 0, 2])
    """
    r = _Reader(text, source)
    values, lines = r.numbers("TOUR_SECTION")
    stop = np.flatnonzero(values == -1)
    ids = values[: stop[0]] if stop.size else values
    n = r.dimension() if "DIMENSION" in r.spec else ids.size
    tour = ids.astype(np.intp) - 1
    if ids.size != n or not np.array_equal(np.sort(tour), np.arange(n)) or np.any(ids % 1):
        raise r.error("TOUR_SECTION", f"not a permutation of the cities 1..{n} "
                      f"({ids.size} entries)", lines[0] if lines else None)
    return tour


def load_tour(path: str | Path) -> np.ndarray:
    """Read a TSPLIB ``.tour`` / ``.opt.tour`` file into a 0-based city order."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise TSPLIBError(str(p), "file", f"cannot read: {exc.strerror or exc}") from exc
    return parse_tour(text, str(p))
