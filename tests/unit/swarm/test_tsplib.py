from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from swarm.errors import SwarmError, TSPLIBError
from swarm.tsplib import (
    TSPInstance,
    distance_matrix,
    load_tour,
    load_tsplib,
    parse_tour,
    parse_tsplib,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "tsplib"  # copied from ../shared/data

BURMA14 = """NAME: burma14
TYPE: TSP
DIMENSION: 14
EDGE_WEIGHT_TYPE: GEO
NODE_COORD_SECTION
1 16.47 96.10
2 16.47 94.44
3 20.09 92.54
4 22.39 93.37
5 25.23 97.24
6 22.00 96.05
7 20.47 97.02
8 17.20 96.29
9 16.30 97.38
10 14.05 98.12
11 16.53 97.38
12 21.52 95.59
13 19.41 97.13
14 20.09 94.55
EOF
"""


def test_berlin52_optimal_tour_has_the_known_length() -> None:
    inst = load_tsplib(DATA / "berlin52.tsp")
    tour = load_tour(DATA / "berlin52.opt.tour")
    assert inst.dimension == 52 and inst.name == "berlin52" and inst.symmetric
    assert sorted(tour.tolist()) == list(range(52))
    assert inst.tour_length(tour) == 7542


@pytest.mark.parametrize(("name", "n"), [("eil51", 51), ("berlin52", 52), ("st70", 70)])
def test_shared_instances_load(name: str, n: int) -> None:
    inst = load_tsplib(DATA / f"{name}.tsp")
    assert inst.dimension == n and inst.edge_weight_type == "EUC_2D"
    assert inst.coords is not None and inst.coords.shape == (n, 2)
    assert np.all(np.diag(inst.distances) == 0)
    assert np.all(inst.distances == np.round(inst.distances))


def test_geo_rule_gives_burma14_optimum() -> None:
    inst = parse_tsplib(BURMA14)
    opt = np.array([1, 2, 14, 3, 4, 5, 6, 12, 7, 13, 8, 11, 9, 10]) - 1
    assert inst.tour_length(opt) == 3323


def test_euclidean_rules_round_as_tsplib_says() -> None:
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [3.0, 4.0]])
    assert distance_matrix(xy, "EUC_2D")[0, 1] == 1.0      # nint(1.414)
    assert distance_matrix(xy, "CEIL_2D")[0, 1] == 2.0     # ceil(1.414)
    assert distance_matrix(xy, "EUC_2D")[0, 2] == 5.0
    assert distance_matrix(xy, "MAN_2D")[0, 2] == 7.0
    assert distance_matrix(xy, "MAX_2D")[0, 2] == 4.0
    # ATT: r = sqrt(25/10) = 1.58, nint 2 is not below r -> 2; r = sqrt(2/10) = 0.45 -> 0 < r -> 1
    att = distance_matrix(xy, "ATT")
    assert att[0, 2] == 2.0 and att[0, 1] == 1.0
    xyz = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]])
    assert distance_matrix(xyz, "EUC_3D")[0, 1] == 3.0


def _explicit_text(fmt: str, n: int, values: list[float], per_line: int = 4) -> str:
    lines = [" ".join(f"{v:g}" for v in values[i : i + per_line])
             for i in range(0, len(values), per_line)]
    body = "\n".join(lines)
    return (f"NAME: x\nTYPE: TSP\nDIMENSION: {n}\nEDGE_WEIGHT_TYPE: EXPLICIT\n"
            f"EDGE_WEIGHT_FORMAT: {fmt}\nEDGE_WEIGHT_SECTION\n{body}\nEOF\n")


@pytest.mark.parametrize("fmt", ["FULL_MATRIX", "UPPER_ROW", "LOWER_ROW", "UPPER_DIAG_ROW",
                                 "LOWER_DIAG_ROW", "UPPER_COL", "LOWER_COL", "UPPER_DIAG_COL",
                                 "LOWER_DIAG_COL"])
def test_explicit_formats_round_trip(fmt: str) -> None:
    rng = np.random.default_rng(3)
    n = 6
    m = rng.integers(1, 100, (n, n)).astype(float)
    m = np.triu(m, 1) + np.triu(m, 1).T
    if fmt == "FULL_MATRIX":
        values = m.ravel()
    else:
        k = 0 if "DIAG" in fmt else 1
        upper = fmt.startswith("UPPER")
        rows, cols = np.triu_indices(n, k) if upper else np.tril_indices(n, -k)
        if fmt.endswith("COL"):  # walk the same triangle column by column
            order = np.lexsort((rows, cols))
            rows, cols = rows[order], cols[order]
        values = m[rows, cols]
    inst = parse_tsplib(_explicit_text(fmt, n, values.tolist()))
    assert np.array_equal(inst.distances, m)
    assert inst.coords is None


def test_explicit_lower_diag_row_hand_example() -> None:
    text = _explicit_text("LOWER_DIAG_ROW", 3, [0, 5, 0, 7, 9, 0], per_line=2)
    assert parse_tsplib(text).distances.tolist() == [[0, 5, 7], [5, 0, 9], [7, 9, 0]]


def test_asymmetric_full_matrix_is_flagged() -> None:
    text = _explicit_text("FULL_MATRIX", 2, [0, 1, 2, 0]).replace("TYPE: TSP", "TYPE: ATSP")
    inst = parse_tsplib(text)
    assert not inst.symmetric and inst.distances[1, 0] == 2


def test_nodes_may_come_in_any_order_and_keywords_any_spacing() -> None:
    text = ("NAME :tri\nTYPE : TSP\nDIMENSION :3\nEDGE_WEIGHT_TYPE: EUC_2D\n"
            "NODE_COORD_SECTION\n3 0 4\n1 0 0\n2 3 0\n")
    inst = parse_tsplib(text)
    assert inst.name == "tri"
    assert inst.coords is not None and inst.coords[2].tolist() == [0.0, 4.0]
    assert inst.tour_length([0, 1, 2]) == 12.0


@pytest.mark.parametrize(("text", "field", "line"), [
    ("NAME: a\nTYPE: TSP\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n1 0 0\n",
     "DIMENSION", None),
    ("NAME: a\nDIMENSION: two\nEDGE_WEIGHT_TYPE: EUC_2D\n", "DIMENSION", 2),
    ("NAME: a\nDIMENSION: 2\nEDGE_WEIGHT_TYPE: XRAY1\n", "EDGE_WEIGHT_TYPE", 3),
    ("NAME: a\nTYPE: CVRP\nDIMENSION: 2\nEDGE_WEIGHT_TYPE: EUC_2D\n", "TYPE", 2),
    ("DIMENSION: 2\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 0 x\n",
     "NODE_COORD_SECTION", 5),
    ("DIMENSION: 2\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n1 0 0\n",
     "NODE_COORD_SECTION", 4),
    ("DIMENSION: 2\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n1 0 0\n5 1 1\n",
     "NODE_COORD_SECTION", 5),
    ("DIMENSION: 2\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n1 0 0\n1 1 1\n",
     "NODE_COORD_SECTION", None),
    ("DIMENSION: 2\nEDGE_WEIGHT_TYPE: EUC_2D\n", "NODE_COORD_SECTION", None),
    ("DIMENSION: 3\nEDGE_WEIGHT_TYPE: EXPLICIT\nEDGE_WEIGHT_FORMAT: UPPER_ROW\n"
     "EDGE_WEIGHT_SECTION\n1 2\n", "EDGE_WEIGHT_SECTION", 5),
    ("DIMENSION: 3\nEDGE_WEIGHT_TYPE: EXPLICIT\nEDGE_WEIGHT_FORMAT: DIAGONAL\n"
     "EDGE_WEIGHT_SECTION\n1 2 3\n", "EDGE_WEIGHT_FORMAT", 3),
    ("DIMENSION: 3\nEDGE_WEIGHT_TYPE: EXPLICIT\nEDGE_WEIGHT_SECTION\n1 2 3\n",
     "EDGE_WEIGHT_FORMAT", None),
    ("DIMENSION: 2\nEDGE_WEIGHT_TYPE: EUC_2D\ngarbage here\n", "GARBAGE", 3),
])
def test_malformed_files_name_the_field_and_line(text: str, field: str, line: int | None) -> None:
    with pytest.raises(TSPLIBError) as info:
        parse_tsplib(text, source="bad.tsp")
    err = info.value
    assert isinstance(err, SwarmError)
    assert (err.source, err.field, err.line) == ("bad.tsp", field, line)
    assert str(err).startswith("bad.tsp" + (f":{line}" if line else "") + f": {field}: ")
    again = pickle.loads(pickle.dumps(err))
    assert isinstance(again, TSPLIBError) and str(again) == str(err)


def test_missing_file_is_a_tsplib_error(tmp_path: Path) -> None:
    with pytest.raises(TSPLIBError, match="cannot read"):
        load_tsplib(tmp_path / "nope.tsp")
    with pytest.raises(TSPLIBError, match="cannot read"):
        load_tour(tmp_path / "nope.tour")


def test_tour_parsing() -> None:
    assert parse_tour("TOUR_SECTION\n3 1\n2\n-1\nEOF\n").tolist() == [2, 0, 1]
    with pytest.raises(TSPLIBError, match="not a permutation"):
        parse_tour("DIMENSION: 3\nTOUR_SECTION\n1\n1\n2\n-1\n")
    with pytest.raises(TSPLIBError, match="not a permutation"):
        parse_tour("DIMENSION: 4\nTOUR_SECTION\n1\n2\n3\n-1\n")
    with pytest.raises(TSPLIBError, match="TOUR_SECTION"):
        parse_tour("DIMENSION: 2\n")


def test_from_coords_and_bad_rule() -> None:
    inst = TSPInstance.from_coords([[0, 0], [3, 4]])
    assert inst.dimension == 2 and inst.tour_length([0, 1]) == 10.0
    with pytest.raises(TSPLIBError, match="unsupported rule"):
        distance_matrix(np.zeros((2, 2)), "EUC_4D")
    with pytest.raises(TSPLIBError, match="needs 3 coordinates"):
        distance_matrix(np.zeros((2, 2)), "EUC_3D")
