"""Consensus by voting: simple majority, weighted majority, quorum with a deadline.

:func:`tally` is the whole idea: votes in, a :class:`Decision` out that keeps
every vote and the counts.  :class:`Consensus` uses it to allocate: the capable
agents vote on which of them should take each task.

Example:
    >>> votes = [Vote("a", "x"), Vote("b", "x"), Vote("c", "y")]
    >>> tally(votes, rule="majority").choice
    'x'
    >>> tally(votes, rule="weighted", weights={"c": 5.0}).choice
    'y'
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Literal

import numpy as np

from agents.errors import AllocationError
from agents.protocols.base import (
    AgentView,
    AllocationOutcome,
    Award,
    Decision,
    Proposal,
    StrategyBase,
    TaskView,
    Vote,
    capable_agents,
    task_order,
)

__all__ = ["Consensus", "Decision", "Vote", "tally"]

Rule = Literal["majority", "weighted", "quorum"]


def tally(
    votes: Sequence[Vote],
    *,
    rule: Rule = "majority",
    eligible: Sequence[str] | None = None,
    weights: Mapping[str, float] | None = None,
    quorum: float = 0.5,
    threshold: float = 0.5,
) -> Decision:
    """Count ``votes`` under ``rule``.

    A choice is accepted when its share of the (weighted) votes cast exceeds
    ``threshold`` (0.5: a strict majority).  ``quorum`` needs at least that
    fraction of ``eligible`` voters to have voted (abstentions count as turnout).
    Votes from outside ``eligible`` and second votes from one voter are ignored.
    """
    if rule not in ("majority", "weighted", "quorum"):
        raise AllocationError(f"unknown voting rule {rule!r}: majority, weighted or quorum")
    if not 0.0 <= threshold < 1.0:
        raise AllocationError(f"threshold must be in [0, 1), got {threshold}")
    allowed = set(eligible) if eligible is not None else None
    seen: set[str] = set()
    counted: list[Vote] = []
    for v in votes:
        if v.voter in seen or (allowed is not None and v.voter not in allowed):
            continue
        seen.add(v.voter)
        counted.append(v)
    w = {v.voter: (float((weights or {}).get(v.voter, 1.0)) if rule == "weighted" else 1.0)
         for v in counted}
    population = len(allowed) if allowed is not None else len(counted)
    turnout = len(counted) / population if population else 0.0
    counts: dict[Hashable, float] = {}
    for v in counted:
        if v.choice is not None:
            counts[v.choice] = counts.get(v.choice, 0.0) + w[v.voter]
    decision = Decision(False, None, counts, counted, turnout=turnout, weights=w)
    if rule == "quorum" and turnout < quorum:
        decision.reason = f"no quorum: turnout {turnout:.0%} < {quorum:.0%}"
        return decision
    total = sum(w[v.voter] for v in counted if v.choice is not None)
    if not counts or total <= 0:
        decision.reason = "no votes cast"
        return decision
    # deterministic: highest count, then the smallest choice by its string form
    choice, best = min(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    decision.choice = choice
    if best / total > threshold:
        decision.accepted = True
        decision.reason = f"{best:g} of {total:g}"
    else:
        decision.reason = f"no majority: best {best:g} of {total:g}"
    return decision


class Consensus(StrategyBase):
    """A committee of capable agents votes on which agent takes each task.

    Ballots list the candidates (capable agents with a free slot) and their
    load; each voter answers with its registered voter function.  The winner
    must be accepted under ``rule``; otherwise the task stays pending.
    """

    name = "consensus"
    needs_votes = True

    def __init__(self, rule: Rule = "majority", quorum: float = 0.5) -> None:
        self.rule: Rule = rule
        self.quorum = quorum
        self._decisions: dict[str, Decision] = {}

    def candidates(self, task: TaskView, agents: Mapping[str, AgentView]) -> list[AgentView]:
        return [a for a in capable_agents(task, agents) if a.free > 0]

    def allocate(
        self,
        tasks: Sequence[TaskView],
        agents: Mapping[str, AgentView],
        proposals: Mapping[str, Sequence[Proposal]],
        rng: np.random.Generator,
        votes: Mapping[str, Sequence[Vote]] | None = None,
        electorate: Mapping[str, Sequence[str]] | None = None,
    ) -> AllocationOutcome:
        """``electorate`` names who was asked per task (default: every capable agent)."""
        out = AllocationOutcome()
        self._decisions = {}
        for task in task_order(tasks):
            asked = (electorate or {}).get(task.task_id)
            eligible = (list(asked) if asked is not None
                        else [a.agent_id for a in capable_agents(task, agents)])
            weights = {a: float(agents[a].capacity) for a in eligible if a in agents}
            decision = tally(
                (votes or {}).get(task.task_id, ()),
                rule=self.rule,
                eligible=eligible,
                weights=weights,
                quorum=self.quorum,
            )
            self._decisions[task.task_id] = decision
            winner = agents.get(str(decision.choice)) if decision.accepted else None
            if winner is None or winner.free <= 0 or not winner.alive:
                out.pending[task.task_id] = decision.reason or "winner unavailable"
                continue
            winner.load += 1
            out.awards.append(Award(task.task_id, winner.agent_id))
        return out
