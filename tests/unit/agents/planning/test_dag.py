from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from agents.errors import RaymasError
from agents.planning import Frontier, PlanError, Resources, TaskGraph, TaskNode
from agents.planning import frontier as frontier_module


def diamond() -> TaskGraph:
    return TaskGraph([
        TaskNode("a", "load"),
        TaskNode("b", "clean", depends_on=("a",)),
        TaskNode("c", "stats", depends_on=("a",)),
        TaskNode("d", "report", depends_on=("b", "c")),
    ])


def test_order_levels_ready() -> None:
    g = diamond()
    order = g.topological_order()
    assert order == ["a", "b", "c", "d"]
    assert g.levels() == [["a"], ["b", "c"], ["d"]]
    assert g.ready(set()) == ["a"]
    assert g.ready({"a"}) == ["b", "c"]
    assert g.ready({"a", "b"}) == ["c"]
    assert g.ready({"a": 1, "b": 2, "c": 3}) == ["d"]  # done may map ids to results
    assert g.ready({"a", "b", "c", "d"}) == []


def test_descendants_ancestors_dependents() -> None:
    g = diamond()
    assert g.descendants(["a"]) == {"b", "c", "d"}
    assert g.descendants(["b"]) == {"d"}
    assert g.ancestors(["d"]) == {"a", "b", "c"}
    assert g.dependents("a") == ("b", "c")
    assert g.dependents("d") == ()


def test_missing_input_names_node_and_input() -> None:
    g = TaskGraph([TaskNode("a", "k"), TaskNode("b", "k", depends_on=("a", "ghost"))])
    with pytest.raises(PlanError) as exc:
        g.validate()
    assert exc.value.reason == "missing_input"
    assert exc.value.nodes == ("b",)
    assert "node 'b' depends on missing input 'ghost'" in str(exc.value)
    with pytest.raises(PlanError, match="ghost"):
        g.topological_order()


def test_unknown_kinds_named_with_their_nodes() -> None:
    g = TaskGraph([TaskNode("a", "load"), TaskNode("b", "trian"), TaskNode("c", "trian")])
    g.validate()  # no kinds given: not checked
    with pytest.raises(PlanError) as exc:
        g.validate(known_kinds={"load", "train"})
    assert exc.value.reason == "unknown_kind"
    assert exc.value.nodes == ("trian",)
    assert "'trian' (used by b, c)" in str(exc.value)


def test_cycle_names_nodes_in_order() -> None:
    g = TaskGraph([
        TaskNode("start", "k"),
        TaskNode("x", "k", depends_on=("start", "z")),
        TaskNode("y", "k", depends_on=("x",)),
        TaskNode("z", "k", depends_on=("y",)),
        TaskNode("after", "k", depends_on=("z",)),
    ])
    with pytest.raises(PlanError) as exc:
        g.validate()
    err = exc.value
    assert err.reason == "cycle" and isinstance(err, RaymasError)
    assert set(err.nodes) == {"x", "y", "z"}
    assert "x -> z -> y -> x" in str(err)  # each node depends on the next
    assert "1 more nodes wait on a cycle" in str(err)
    for method in (g.levels, g.topological_order):
        with pytest.raises(PlanError, match="cycle"):
            method()


def test_self_loop_and_two_cycles() -> None:
    with pytest.raises(PlanError, match="a -> a"):
        TaskGraph([TaskNode("a", "k", depends_on=("a",))]).validate()
    g = TaskGraph([TaskNode("a", "k", depends_on=("b",)), TaskNode("b", "k", depends_on=("a",)),
                   TaskNode("c", "k", depends_on=("d",)), TaskNode("d", "k", depends_on=("c",))])
    with pytest.raises(PlanError) as exc:
        g.validate()
    assert set(exc.value.nodes) == {"a", "b", "c", "d"}
    assert "a -> b -> a; c -> d -> c" in str(exc.value)


def test_checks_run_in_order_missing_then_kinds_then_cycles() -> None:
    g = TaskGraph([TaskNode("a", "bad", depends_on=("b",)), TaskNode("b", "k", depends_on=("a",)),
                   TaskNode("c", "k", depends_on=("nope",))])
    with pytest.raises(PlanError) as exc:
        g.validate(known_kinds={"k"})
    assert exc.value.reason == "missing_input"
    g2 = TaskGraph([TaskNode("a", "bad", depends_on=("b",)), TaskNode("b", "k", depends_on=("a",))])
    with pytest.raises(PlanError) as exc:
        g2.validate(known_kinds={"k"})
    assert exc.value.reason == "unknown_kind"


def test_node_checks_and_duplicates() -> None:
    with pytest.raises(PlanError, match="duplicate"):
        TaskGraph([TaskNode("a", "k"), TaskNode("a", "k")])
    with pytest.raises(PlanError):
        TaskNode("", "k")
    with pytest.raises(PlanError):
        TaskNode("a", "")
    with pytest.raises(PlanError, match="retries"):
        TaskNode("a", "k", retries=-1)
    with pytest.raises(PlanError, match="timeout_s"):
        TaskNode("a", "k", timeout_s=0)
    assert TaskNode("a", "k", depends_on=("b", "b", "c")).depends_on == ("b", "c")
    assert Resources(num_cpus=1, memory=2**20).options() == {"num_cpus": 1, "memory": 2**20}


def test_round_trip_through_json() -> None:
    g = TaskGraph([
        TaskNode("a", "load", {"path": "/x"}, resources=Resources(num_gpus=0.5), retries=2,
                 timeout_s=3.5, meta={"origin": "test"}),
        TaskNode("b", "clean", depends_on=("a",)),
    ], meta={"goal": "g1"})
    back = TaskGraph.from_dict(json.loads(json.dumps(g.to_dict())))
    assert back.to_dict() == g.to_dict()
    assert back["a"] == g["a"] and back["a"].resources.num_gpus == 0.5
    assert back.meta == {"goal": "g1"}
    with pytest.raises(PlanError, match="version"):
        TaskGraph.from_dict({"version": 99, "nodes": []})


def test_plan_error_pickles() -> None:
    err = PlanError("cycle: a -> a", "cycle", ("a",))
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.reason, back.nodes) == ("cycle: a -> a", "cycle", ("a",))


def test_ten_thousand_nodes_deep_and_wide() -> None:
    n = 10_000
    chain = TaskGraph(TaskNode(f"t{i}", "k", depends_on=(f"t{i - 1}",) if i else ())
                      for i in range(n))
    assert chain.validate({"k"}).topological_order()[-1] == f"t{n - 1}"
    assert len(chain.levels()) == n
    assert len(chain.descendants(["t0"])) == n - 1
    wide = TaskGraph([TaskNode("root", "k"),
                      *(TaskNode(f"w{i}", "k", depends_on=("root",)) for i in range(n)),
                      TaskNode("sink", "k", depends_on=tuple(f"w{i}" for i in range(n)))])
    assert [len(level) for level in wide.levels()] == [1, n, 1]
    assert len(wide.ready({"root"})) == n
    ring = TaskGraph(TaskNode(f"r{i}", "k", depends_on=(f"r{(i - 1) % n}",)) for i in range(n))
    with pytest.raises(PlanError) as exc:
        ring.validate()
    assert len(exc.value.nodes) == n


def test_frontier_tracks_runnable_nodes_incrementally() -> None:
    f = Frontier(diamond(), done={"a"})
    assert f.runnable == ["b", "c"] and f.remaining == 3
    assert f.complete("b") == []
    with pytest.raises(PlanError, match="unfinished"):
        f.complete("d")
    with pytest.raises(PlanError, match="done already"):
        f.complete("a")
    with pytest.raises(PlanError, match="not in the graph"):
        f.complete("zzz")
    assert f.complete("c") == ["d"]
    assert f.complete("d") == [] and f.finished


def _chain(n: int) -> TaskGraph:
    return TaskGraph(TaskNode(f"t{i}", "k", depends_on=(f"t{i - 1}",) if i else ())
                     for i in range(n))


def _wide(n: int) -> TaskGraph:
    return TaskGraph([TaskNode("root", "k"),
                      *(TaskNode(f"w{i}", "k", depends_on=("root",)) for i in range(n)),
                      TaskNode("sink", "k", depends_on=tuple(f"w{i}" for i in range(n)))])


class _OverBudget(Exception):
    pass


def _run_counting_steps(graph: TaskGraph, budget: float = float("inf")) -> tuple[list[str], int]:
    """Drive a Frontier over ``graph`` to the end; count the Python lines run in planning code.

    A deterministic operation count, not a timing: every line executed in
    ``agents/planning/`` (the frontier and the graph methods it calls, their
    loops and comprehensions included) while the frontier is built and every
    node completed.  A rescan of all nodes or of all waiting counts per
    completion shows up as n lines per node, so n² in all (a loop hidden in a C
    builtin, ``x in some_list``, is not seen: only Python-level work counts).  Past ``budget``
    steps the run stops (a quadratic frontier would take minutes under the
    tracer) and the count returned is ``budget + 1``.
    """
    planning = str(Path(frontier_module.__file__).resolve().parent)
    steps = 0

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal steps
        if not frame.f_code.co_filename.startswith(planning):
            return None
        if event == "line":
            steps += 1
            if steps > budget:
                raise _OverBudget
        return trace

    order: list[str] = []
    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        f = Frontier(graph)
        queue = list(f.runnable)
        while queue:
            node = queue.pop()
            order.append(node)
            queue += f.complete(node)
    except _OverBudget:
        return order, steps
    finally:
        sys.settrace(previous)
    assert f.finished and len(order) == len(graph)
    return order, steps


def test_frontier_work_grows_linearly_with_the_graph() -> None:
    # 16x the nodes: linear work grows ~16x, quadratic work ~256x.  The bound
    # (20x) leaves room for constant overheads and fails a quadratic frontier
    # by more than a factor of 10.  A chain completes one node per step; the
    # wide graph (root, n workers, one sink with n inputs) has a node whose
    # dependency count a naive frontier would recount on every finished input.
    small, large, bound = 500, 8_000, 20
    for shape, first, last in [(_chain, "t0", f"t{large - 1}"), (_wide, "root", "sink")]:
        _, steps_small = _run_counting_steps(shape(small))
        assert steps_small > small  # the count sees the frontier's work at all
        order, steps_large = _run_counting_steps(shape(large), budget=bound * steps_small)
        assert steps_large <= bound * steps_small, (
            f"{shape.__name__}: {steps_small} steps for {small} nodes, more than "
            f"{bound * steps_small} for {large} (over {bound}x for 16x the nodes)")
        assert (order[0], order[-1]) == (first, last)
