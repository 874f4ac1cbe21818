from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from typing import Any

import pytest

from agents.planning import Domain, Method, Operator, PlanError, Resources, Task, TaskGraph
from agents.planning.htn import plan


def kitchen() -> Domain:
    d = Domain("kitchen")
    d.register_operator(Operator("boil", effects={"water": "hot"}))
    d.register_operator(Operator("grind", effects={"coffee": "ground"}))
    d.register_operator(Operator("brew", kind="brewer", precondition={"water": "hot"},
                                 effects={"drink": "{what}"}, retries=2, timeout_s=9.0,
                                 resources=Resources(num_cpus=1)))
    d.register_operator(Operator("serve", precondition={"drink": "{what}"}))
    d.register_method(Method("prep", "prepare", ["boil", "grind"], parallel=True))
    d.register_method(Method("brewed", "make", ["prepare", ("brew", {"what": "{what}"}),
                                                ("serve", {"what": "{what}"})]))
    return d


def test_sequential_and_parallel_dependencies() -> None:
    g = plan(kitchen(), {}, [("make", {"what": "coffee"})])
    assert list(g) == ["boil#2", "grind#3", "brew#4", "serve#5"]
    assert g["boil#2"].depends_on == () and g["grind#3"].depends_on == ()  # parallel
    assert set(g["brew#4"].depends_on) == {"boil#2", "grind#3"}  # after all of prepare
    assert g["serve#5"].depends_on == ("brew#4",)
    assert g.levels() == [["boil#2", "grind#3"], ["brew#4"], ["serve#5"]]
    brew = g["brew#4"]
    assert (brew.kind, brew.args, brew.retries, brew.timeout_s) == ("brewer", {"what": "coffee"},
                                                                     2, 9.0)
    assert brew.resources == Resources(num_cpus=1)
    g.validate(known_kinds=kitchen().task_kinds())


def test_node_and_graph_metadata_record_the_tree() -> None:
    g = plan(kitchen(), {}, [("make", {"what": "tea"})])
    assert g["boil#2"].meta == {"htn": {"operator": "boil", "parent": "prepare#1"}}
    tree = g.meta["htn"]
    assert tree["roots"] == ["make#0"]
    assert tree["compounds"]["make#0"] == {
        "task": "make", "args": {"what": "tea"}, "method": "brewed", "parallel": False,
        "parent": None, "children": ["prepare#1", "brew#4", "serve#5"]}
    assert tree["compounds"]["prepare#1"]["parent"] == "make#0"
    assert tree["next_id"] == 6
    again = TaskGraph.from_dict(json.loads(json.dumps(g.to_dict())))
    assert again.meta == g.meta and list(again) == list(g)


def test_top_level_tasks_are_sequential_unless_parallel() -> None:
    d = kitchen()
    seq = plan(d, {}, [("make", {"what": "a"}), ("make", {"what": "b"})])
    # the second task's first primitives wait for the first task's last one
    assert seq["boil#8"].depends_on == ("serve#5",) == seq["grind#9"].depends_on
    assert len(seq.levels()) == 6
    par = plan(d, {}, [("make", {"what": "a"}), ("make", {"what": "b"})], parallel=True)
    assert [len(level) for level in par.levels()] == [4, 2, 2]


def test_state_threads_through_and_input_state_is_untouched() -> None:
    state = {"water": "cold"}
    plan(kitchen(), state, ["boil", ("brew", {"what": "x"})])
    assert state == {"water": "cold"}
    with pytest.raises(PlanError) as exc:
        plan(kitchen(), state, [("brew", {"what": "x"})])
    assert exc.value.reason == "precondition"
    assert "cannot decompose task brew(what='x'): operator 'brew': precondition failed" \
        in str(exc.value)


def test_methods_tried_in_order_with_preconditions() -> None:
    d = Domain()
    d.register_operator(Operator("walk"))
    d.register_operator(Operator("taxi"))
    d.register_method(Method("on_foot", "travel", ["walk"], precondition={"near": True}))
    d.register_method(Method("by_taxi", "travel", ["taxi"]))
    assert [g.kind for g in plan(d, {"near": True}, ["travel"]).nodes.values()] == ["walk"]
    assert [g.kind for g in plan(d, {"near": False}, ["travel"]).nodes.values()] == ["taxi"]


def test_backtracks_when_a_later_step_fails() -> None:
    d = Domain()
    d.register_operator(Operator("spend", precondition={"cash": True}, effects={"cash": False}))
    d.register_operator(Operator("card"))
    d.register_operator(Operator("tip", precondition={"cash": True}))
    d.register_method(Method("pay_cash", "pay", ["spend"]))
    d.register_method(Method("pay_card", "pay", ["card"]))
    # paying cash first leaves none for the tip: the planner must go back and pay by card
    g = plan(d, {"cash": True}, ["pay", "tip"])
    assert [n.kind for n in g.nodes.values()] == ["card", "tip"]
    assert g.meta["htn"]["compounds"]["pay#0"]["method"] == "pay_card"


def test_callable_methods_and_decorators() -> None:
    d = Domain()

    @d.operator(kind="http_get")
    def fetch(state: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
        return {f"have:{args['url']}": True}

    @d.method("fetch_all", parallel=True)
    def each(state: Mapping[str, Any], args: Mapping[str, Any]) -> list[Any]:
        return [("fetch", {"url": u}) for u in args["urls"]]

    @d.method("fetch_all")
    def nothing_to_do(state: Mapping[str, Any], args: Mapping[str, Any]) -> list[Any]:
        return []

    assert [m.name for m in d.methods["fetch_all"]] == ["each", "nothing_to_do"]
    g = plan(d, {}, [("fetch_all", {"urls": ["u1", "u2", "u3"]})])
    assert g.levels() == [["fetch#1", "fetch#2", "fetch#3"]]
    assert {n.kind for n in g.nodes.values()} == {"http_get"}


def test_method_returning_none_does_not_apply() -> None:
    d = Domain()
    d.register_operator(Operator("x"))
    d.register_method(Method("never", "t", lambda s, a: None))
    d.register_method(Method("fallback", "t", ["x"]))
    assert list(plan(d, {}, ["t"])) == ["x#1"]


def test_unknown_task_is_named_with_a_hint() -> None:
    with pytest.raises(PlanError) as exc:
        plan(kitchen(), {}, ["mkae"])
    assert exc.value.reason == "no_method" and exc.value.nodes == ("mkae",)
    assert "no method or operator named 'mkae'; did you mean 'make'?" in str(exc.value)


def test_every_method_precondition_failed_lists_them() -> None:
    d = Domain()
    d.register_operator(Operator("x"))
    d.register_method(Method("m1", "t", ["x"], precondition={"a": 1}))
    d.register_method(Method("m2", "t", ["x"], precondition=lambda s, a: False))
    with pytest.raises(PlanError) as exc:
        plan(d, {"a": 0}, [("t", {"k": 1})])
    assert exc.value.reason == "precondition" and exc.value.nodes == ("t",)
    assert str(exc.value) == ("cannot decompose task t(k=1): every method's precondition "
                              "failed: 'm1', 'm2'")


def test_nested_failure_names_the_innermost_task_and_shows_the_tree() -> None:
    d = Domain()
    d.register_operator(Operator("a"))
    d.register_method(Method("m_outer", "outer", ["a", "inner"]))
    d.register_method(Method("m_outer2", "outer", ["a"], precondition={"never": True}))
    d.register_method(Method("m_inner", "inner", ["missing_op"]))
    with pytest.raises(PlanError) as exc:
        plan(d, {}, ["outer"])
    text = str(exc.value)
    assert text.startswith("cannot decompose task missing_op(): no method or operator named")
    assert exc.value.nodes == ("missing_op",)
    assert "outer(): no method worked" in text
    assert "method 'm_outer': was applied, but then" in text
    assert "method 'm_outer2': precondition failed" in text


def test_depth_limit_stops_endless_recursion() -> None:
    d = Domain()
    d.register_operator(Operator("step"))
    d.register_method(Method("again", "loop", ["step", "loop"]))
    with pytest.raises(PlanError) as exc:
        plan(d, {}, ["loop"], max_depth=50)
    assert exc.value.reason == "depth"
    assert "depth limit 50 exceeded" in str(exc.value)


def test_search_limit_stops_exponential_backtracking() -> None:
    d = Domain()
    d.register_operator(Operator("x"))
    d.register_operator(Operator("fail", precondition={"never": True}))
    for i in range(4):
        d.register_method(Method(f"m{i}", "choose", ["x"]))
    # 4**12 combinations before the final failure is certain
    with pytest.raises(PlanError) as exc:
        plan(d, {}, ["choose"] * 12 + ["fail"], max_expansions=5_000)
    assert exc.value.reason == "search_limit"


def test_template_errors_and_registration_errors() -> None:
    d = Domain()
    d.register_operator(Operator("x", effects={"v": "{missing}"}))
    with pytest.raises(PlanError) as exc:
        plan(d, {}, ["x"])
    assert exc.value.reason == "template" and "'missing'" in str(exc.value)
    with pytest.raises(PlanError, match="primitive"):
        d.register_method(Method("m", "x", []))
    d.register_method(Method("m", "t", []))
    with pytest.raises(PlanError, match="already has a method"):
        d.register_method(Method("m", "t", []))
    with pytest.raises(PlanError, match="compound"):
        d.register_operator(Operator("t"))
    with pytest.raises(PlanError, match="not a task"):
        plan(d, {}, [42])  # type: ignore[list-item]


def test_empty_methods_and_single_task_forms() -> None:
    d = kitchen()
    d.register_method(Method("noop", "rest", []))
    g = plan(d, {}, ["rest", "boil", "rest", "grind"])
    assert g["grind#3"].depends_on == ("boil#1",)
    assert list(plan(d, {}, "boil")) == ["boil#0"]
    assert list(plan(d, {"water": "hot"}, ("brew", {"what": "x"}))) == ["brew#0"]
    assert list(plan(d, {}, Task("boil"))) == ["boil#0"]


def test_large_plans_are_iterative() -> None:
    d = Domain()
    d.register_operator(Operator("work"))
    d.register_method(Method("fan", "fan_out", lambda s, a: [("work", {"i": i})
                                                             for i in range(a["n"])],
                             parallel=True))
    d.register_method(Method("more", "chain", lambda s, a: [("work", {"i": a["n"]}),
                                                            ("chain", {"n": a["n"] - 1})],
                             precondition=lambda s, a: a["n"] > 0))
    d.register_method(Method("end", "chain", []))
    wide = plan(d, {}, [("fan_out", {"n": 10_000})])
    assert len(wide) == 10_000 and len(wide.levels()) == 1
    deep = plan(d, {}, [("chain", {"n": 3_000})], max_depth=5_000)
    assert len(deep) == 3_000 and len(deep.levels()) == 3_000


def test_plan_error_from_htn_pickles() -> None:
    with pytest.raises(PlanError) as exc:
        plan(kitchen(), {}, ["nope"])
    back = pickle.loads(pickle.dumps(exc.value))
    assert str(back) == str(exc.value) and back.reason == "no_method"


def test_error_names_where_the_search_got_furthest_not_a_recovered_failure() -> None:
    d = Domain()
    d.register_operator(Operator("walk", precondition={"near": True}))
    d.register_operator(Operator("taxi"))
    d.register_operator(Operator("pay", precondition={"cash": True}))
    d.register_method(Method("on_foot", "travel", ["walk"]))
    d.register_method(Method("by_taxi", "travel", ["taxi"]))
    d.register_method(Method("visit", "trip", ["travel", "pay"]))
    with pytest.raises(PlanError) as exc:
        plan(d, {}, ["trip"])
    # walk failed first but was recovered by taking a taxi; paying is what cannot be done
    assert exc.value.nodes == ("pay",)
    assert str(exc.value).startswith("cannot decompose task pay(): operator 'pay': precondition")
