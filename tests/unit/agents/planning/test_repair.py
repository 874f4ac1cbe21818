from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from agents.planning import (
    AgentLost,
    Domain,
    Method,
    Observation,
    Operator,
    PlanError,
    TaskFailed,
    TaskGraph,
    TaskNode,
    repair,
)
from agents.planning.htn import plan


def shipping() -> Domain:
    """Deliver parcels by road or by air; a whole batch may go by courier instead."""
    d = Domain("shipping")
    d.register_operator(Operator("pack", effects={"packed:{pkg}": True}))
    d.register_operator(Operator("load_truck", precondition={"truck": "ok"},
                                 effects={"at:{pkg}": "truck"}))
    d.register_operator(Operator("drive", precondition={"road": "open"},
                                 effects={"at:{pkg}": "{to}"}))
    d.register_operator(Operator("fly", precondition={"airport": "open"},
                                 effects={"at:{pkg}": "{to}"}))
    d.register_operator(Operator("courier", effects={"couriered": True}))
    d.register_operator(Operator("notify"))
    d.register_method(Method("by_road", "deliver", [
        ("pack", {"pkg": "{pkg}"}), ("load_truck", {"pkg": "{pkg}"}),
        ("drive", {"pkg": "{pkg}", "to": "{to}"})], precondition={"road": "open"}))
    d.register_method(Method("by_air", "deliver", [
        ("pack", {"pkg": "{pkg}"}), ("fly", {"pkg": "{pkg}", "to": "{to}"})],
        precondition={"airport": "open"}))

    def each(state: Mapping[str, Any], args: Mapping[str, Any]) -> list[Any]:
        return [("deliver", {"pkg": p, "to": args["to"]}) for p in args["pkgs"]]

    d.register_method(Method("each", "deliver_all", each, parallel=True))
    d.register_method(Method("by_courier", "deliver_all", [("courier", {})]))
    d.register_method(Method("ship", "order", [("deliver_all", {"pkgs": "{pkgs}", "to": "{to}"}),
                                               "notify"]))
    return d


WORLD = {"road": "open", "airport": "open", "truck": "ok"}


def order(pkgs: list[str]) -> TaskGraph:
    return plan(shipping(), WORLD, [("order", {"pkgs": pkgs, "to": "x"})])


def ids(g: TaskGraph, kind: str) -> list[str]:
    return [k for k, n in g.nodes.items() if n.kind == kind]


def test_the_plan_under_repair() -> None:
    g = order(["p1", "p2"])
    assert list(g) == ["pack#3", "load_truck#4", "drive#5", "pack#7", "load_truck#8", "drive#9",
                       "notify#10"]
    assert set(g["notify#10"].depends_on) == {"drive#5", "drive#9"}


def test_failed_task_re_decomposes_its_compound_without_the_failed_method() -> None:
    g = order(["p1", "p2"])
    done = {"pack#3", "load_truck#4", "pack#7"}
    fixed = repair(g, done, TaskFailed("drive#5", "bridge out"), domain=shipping(), state=WORLD)
    new = fixed.graph.validate(shipping().task_kinds())
    assert fixed.removed == ("drive#5",)  # load_truck#4 is done: kept, never redone
    assert fixed.added == ("fly#13",)  # pack#12 would repeat done pack#3: reused instead
    assert fixed.replanned == ("deliver#2",)
    assert done <= set(new) and "drive#5" not in new
    assert new["fly#13"].depends_on == ("pack#3",)
    assert set(new["notify#10"].depends_on) == {"drive#9", "fly#13"}
    assert new.ready(done) == ["load_truck#8", "fly#13"]
    tree = new.meta["htn"]["compounds"]
    assert tree["deliver#11"]["method"] == "by_air"
    assert tree["deliver#11"]["failed_methods"] == ["by_road"]
    assert tree["deliver_all#1"]["children"] == ["deliver#11", "deliver#6"]
    assert "deliver#2" not in tree
    assert new["pack#3"].meta["htn"]["parent"] == "deliver#11"
    assert new["load_truck#4"].meta["htn"]["parent"] == "deliver#11"
    json.dumps(new.to_dict())


def test_repeated_failures_climb_to_the_enclosing_compound() -> None:
    d = shipping()
    g = order(["p1", "p2"])
    done = {"pack#3", "load_truck#4"}
    first = repair(g, done, TaskFailed("drive#5"), domain=d, state=WORLD).graph
    second = repair(first, done, TaskFailed("fly#13"), domain=d, state=WORLD)
    # deliver(p1) has no method left: deliver_all goes by courier instead, done tasks stay
    g2 = second.graph.validate()
    assert second.replanned == ("deliver_all#1",)
    assert ids(g2, "courier") == ["courier#15"]
    assert done <= set(g2)
    assert set(second.removed) == {"fly#13", "pack#7", "load_truck#8", "drive#9"}
    assert g2["courier#15"].depends_on == ()
    assert g2["notify#10"].depends_on == ("courier#15",)


def test_unrepairable_failure_is_an_error() -> None:
    d = shipping()
    g = plan(d, WORLD, [("deliver", {"pkg": "p", "to": "x"})])
    step1 = repair(g, set(), TaskFailed("drive#3"), domain=d, state=WORLD).graph
    with pytest.raises(PlanError) as exc:
        repair(step1, set(), TaskFailed(ids(step1, "fly")[0]), domain=d, state=WORLD)
    assert exc.value.reason == "repair"
    assert "no compound task above" in str(exc.value) and "deliver#" in str(exc.value)
    with pytest.raises(PlanError, match="never redone"):
        repair(g, {"drive#3"}, TaskFailed("drive#3"), domain=d, state=WORLD)
    with pytest.raises(PlanError, match="unknown task"):
        repair(g, set(), TaskFailed("ghost"), domain=d, state=WORLD)


def test_observation_repairs_what_it_breaks_and_nothing_else() -> None:
    d = shipping()
    g = order(["p1", "p2"])
    done = {"pack#3", "load_truck#4"}
    quiet = repair(g, done, Observation({"weather": "rain"}), domain=d, state=WORLD)
    assert list(quiet.graph) == list(g) and quiet.removed == quiet.added == ()
    closed = repair(g, done, Observation({"road": "closed"}), domain=d, state=WORLD)
    new = closed.graph.validate()
    # both deliveries move to the air; the done packing and loading are kept, and the
    # unfinished packing of p2 keeps its id (an agent may be running it already)
    assert closed.replanned == ("deliver#2", "deliver#6")
    assert closed.removed == ("drive#5", "load_truck#8", "drive#9")
    assert closed.added == ("fly#13", "fly#16")
    assert ids(new, "drive") == [] and ids(new, "pack") == ["pack#3", "pack#7"]
    assert done <= set(new)
    assert new["fly#16"].depends_on == ("pack#7",)
    assert new["pack#7"].meta["htn"]["parent"] == "deliver#14"
    assert set(new["notify#10"].depends_on) == {"fly#13", "fly#16"}


def test_agent_loss_requeues_unfinished_tasks_only() -> None:
    g = order(["p1"])
    fixed = repair(g, {"pack#3"}, AgentLost("agent-7", ("pack#3", "load_truck#4")))
    assert fixed.graph is g and fixed.requeue == ("load_truck#4",)
    with pytest.raises(PlanError, match="ghost"):
        repair(g, set(), AgentLost("a", ("ghost",)))


def test_graphs_without_htn_metadata_are_requeued() -> None:
    g = TaskGraph([TaskNode("a", "k"), TaskNode("b", "k", depends_on=("a",))])
    fixed = repair(g, {"a"}, TaskFailed("b"))
    assert fixed.graph is g and fixed.requeue == ("b",)
    assert repair(g, {"a"}, Observation({"x": 1})).graph is g
    # an HTN plan without its domain can only be re-queued too
    h = order(["p1"])
    assert repair(h, set(), TaskFailed("drive#5")).requeue == ("drive#5",)


def test_repaired_parts_keep_their_place_in_a_sequence() -> None:
    d = shipping()
    g = plan(d, WORLD, [("deliver", {"pkg": "p1", "to": "x"}),
                        ("deliver", {"pkg": "p2", "to": "y"})])
    assert g["pack#5"].depends_on == ("drive#3",)
    fixed = repair(g, {"pack#1", "load_truck#2"}, Observation({"road": "closed"}), domain=d,
                   state=WORLD)
    new = fixed.graph.validate()
    assert new.topological_order() == ["pack#1", "load_truck#2", "fly#10", "pack#5", "fly#13"]
    assert new["pack#5"].depends_on == ("fly#10",)  # still after the first delivery
    assert new["fly#13"].depends_on == ("pack#5",)
    assert new.meta["htn"]["roots"] == ["deliver#8", "deliver#11"]


SHIP_CONFIG = {
    "operators": {"prep": {"kind": "echo"}, "fast": {"kind": "fail"},
                  "safe": {"kind": "echo"}},
    "methods": [
        {"name": "quick", "task": "ship", "subtasks": ["prep", "fast"]},
        {"name": "careful", "task": "ship", "subtasks": ["prep", "safe"]},
    ]}


def test_a_graph_carries_its_repair_domain_and_is_repaired_with_it() -> None:
    from agents.planning import Domain, plan_htn
    from agents.planning.repair import Observation, TaskFailed, attach_repair, repair_attached

    graph = attach_repair(plan_htn(Domain.from_config(SHIP_CONFIG), {}, "ship"), SHIP_CONFIG,
                          {"weather": "fine"})
    prep, fast = list(graph)
    fix = repair_attached(graph, {prep}, TaskFailed(fast))
    assert fix is not None and fix.removed == (fast,)
    assert [fix.graph[n].kind for n in fix.added] == ["echo"]
    assert fix.graph.meta["repair"]["state"] == {"weather": "fine"}
    moved = repair_attached(graph, {prep}, Observation({"weather": "storm"}))
    assert moved is not None and moved.graph.meta["repair"]["state"] == {"weather": "storm"}
    assert repair_attached(plan_htn(Domain.from_config(SHIP_CONFIG), {}, "ship"), set(),
                           TaskFailed(fast)) is None  # carries no domain


def test_an_invalid_repair_domain_is_refused_when_attached() -> None:
    from agents.planning import Domain, PlanError, plan_htn
    from agents.planning.repair import attach_repair

    graph = plan_htn(Domain.from_config(SHIP_CONFIG), {}, "ship")
    with pytest.raises(PlanError, match="repair domain is invalid"):
        attach_repair(graph, {"operators": {"x": {"kindd": "echo"}}})
