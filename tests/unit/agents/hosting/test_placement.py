"""Placing shared agents in hosts, and what a shared agent may ask for."""

from __future__ import annotations

import pickle

import pytest

from agents.hosting import HostedAgentHandle, host_of, plan_hosts
from agents.hosting.host import expand_specs
from agents.specs import AgentSpec
from agents.supervisor.rounds import offers


def test_hosts_fill_in_order_and_carry_only_what_differs() -> None:
    specs = [AgentSpec(f"a{i}", hosting="shared", agents_per_host=3,
                       capabilities=["x"] if i != 4 else ["x", "y"]) for i in range(7)]
    specs.insert(2, AgentSpec("actor-1"))  # an actor agent is not placed in a host
    plans = plan_hosts(specs, "p")
    assert [p.host_id for p in plans] == ["p-0", "p-1", "p-2"]
    assert [p.agent_ids for p in plans] == [["a0", "a1", "a2"], ["a3", "a4", "a5"], ["a6"]]
    assert plans[1].rows[1] == {"agent_id": "a4", "capabilities": ["x", "y"]}
    assert all(set(r) == {"agent_id"} for p in (plans[0], plans[2]) for r in p.rows)
    assert specs[2].host is None and {s.host for s in specs if s.agent_id == "a4"} == {"p-1"}
    rebuilt = expand_specs(plans[1].template, plans[1].rows)
    assert [s.to_dict() for s in rebuilt] == [s.to_dict() for s in specs if s.host == "p-1"]


def test_a_change_of_agents_per_host_starts_a_new_host() -> None:
    specs = [AgentSpec(f"a{i}", hosting="shared", agents_per_host=10 if i < 2 else 5)
             for i in range(4)]
    assert [p.agent_ids for p in plan_hosts(specs, "h")] == [["a0", "a1"], ["a2", "a3"]]


@pytest.mark.parametrize(("field", "value"), [("num_cpus", 0.5), ("num_gpus", 1),
                                              ("memory", 2**20), ("resources", {"r": 1})])
def test_a_shared_agent_asking_for_resources_is_refused_by_name(field: str, value: object
                                                                 ) -> None:
    with pytest.raises(ValueError, match=f"cannot ask for {field}.*hosting: actor"):
        AgentSpec("a", hosting="shared", **{field: value})  # type: ignore[arg-type]


def test_hosting_must_be_actor_or_shared() -> None:
    with pytest.raises(ValueError, match="hosting must be 'actor' or 'shared', got 'pool'"):
        AgentSpec("a", hosting="pool")
    with pytest.raises(ValueError, match="agents_per_host must be >= 1"):
        AgentSpec("a", hosting="shared", agents_per_host=0)


def test_a_spec_round_trips_with_its_hosting() -> None:
    spec = AgentSpec("a", hosting="shared", agents_per_host=7, host="h-1")
    assert AgentSpec.from_dict(spec.to_dict()) == spec


class _Host:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    @property
    def call(self) -> _Host:
        return self

    def remote(self, *args: object) -> int:
        self.calls.append(args)
        return len(self.calls)


def test_a_hosted_handle_calls_its_host_and_pickles() -> None:
    host = _Host()
    h = HostedAgentHandle(host, "h-0", "a1")
    assert h.tell.remote("a2", {"x": 1}, priority=7) == 1
    assert host.calls == [("a1", "tell", ("a2", {"x": 1}), {"priority": 7})]
    assert host_of(h) == (host, "h-0") and host_of(object()) is None
    copy = pickle.loads(pickle.dumps(HostedAgentHandle("host-handle", "h-0", "a1")))
    assert copy == HostedAgentHandle("other", "h-0", "a1") and hash(copy) == hash(h)
    with pytest.raises(AttributeError):
        h.__getstate_not_an_agent_method__  # noqa: B018


@pytest.mark.parametrize(("members", "tasks", "per_task"), [(3, 4, 2), (100, 1000, 8),
                                                            (5, 3, 8), (7, 0, 2), (1, 5, 3)])
def test_each_task_is_offered_to_per_task_distinct_members_evenly(
        members: int, tasks: int, per_task: int) -> None:
    shares = offers(members, tasks, per_task)
    k = min(per_task, members)
    for task in range(tasks):
        assert sum(task in s for s in shares) == k
    sizes = [len(s) for s in shares]
    assert max(sizes, default=0) - min(sizes, default=0) <= 1
    assert all(s == sorted(set(s)) for s in shares)
