"""Blocks world, the classic planning benchmark, as GOAP actions.

Blocks stand in towers on a table; one move takes a clear block off whatever
it stands on (a block or the table) and puts it on the table or on another
clear block.  The state has two facts per block: ``"on:x"`` (a block name or
``"table"``) and ``"clear:x"`` (``True`` when nothing stands on ``x``).  Each
move costs 1, so the cheapest plan is the shortest.

Example:
    >>> from agents.planning.goap import plan
    >>> start = state([["a", "b"]])            # b stands on a
    >>> goal = goal_of([["b", "a"]])           # a on b
    >>> steps = plan(start, goal, actions(["a", "b"]))
    >>> [s.name for s in steps], valid(steps, start, goal)
    (['move(b,a,table)', 'move(a,table,b)'], True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from agents.planning.goap import Action

__all__ = ["TABLE", "actions", "block_names", "goal_of", "random_instance", "random_towers",
           "state", "towers", "valid"]

TABLE = "table"


def block_names(n: int) -> list[str]:
    """``["b0", "b1", ...]``."""
    return [f"b{i}" for i in range(n)]


def actions(blocks: Sequence[str], *, cost: float = 1.0) -> list[Action]:
    """Every move of one block from a block or the table onto another block or the table."""
    places = [*blocks, TABLE]
    out: list[Action] = []
    for b in blocks:
        for src in places:
            for dst in places:
                if b in (src, dst) or src == dst:
                    continue
                pre: dict[str, Any] = {f"on:{b}": src, f"clear:{b}": True}
                eff: dict[str, Any] = {f"on:{b}": dst}
                if dst != TABLE:
                    pre[f"clear:{dst}"] = True
                    eff[f"clear:{dst}"] = False
                if src != TABLE:
                    eff[f"clear:{src}"] = True
                out.append(Action(f"move({b},{src},{dst})", pre, eff, cost, kind="blocks.move",
                                  args={"block": b, "src": src, "dst": dst}))
    return out


def state(stacks: Iterable[Sequence[str]]) -> dict[str, Any]:
    """The full state for towers listed bottom to top."""
    out: dict[str, Any] = {}
    for tower in stacks:
        for below, b in zip([TABLE, *tower], tower, strict=False):
            out[f"on:{b}"] = below
            out[f"clear:{b}"] = False
        if tower:
            out[f"clear:{tower[-1]}"] = True
    return out


def goal_of(stacks: Iterable[Sequence[str]]) -> dict[str, Any]:
    """The usual goal: where each block stands (``on`` facts only)."""
    return {k: v for k, v in state(stacks).items() if k.startswith("on:")}


def towers(facts: Mapping[str, Any]) -> list[list[str]]:
    """The towers (bottom to top) of a state, sorted by their bottom block."""
    on = {k[3:]: v for k, v in facts.items() if k.startswith("on:")}
    above = {v: b for b, v in on.items() if v != TABLE}
    out = []
    for b in sorted(b for b, v in on.items() if v == TABLE):
        tower = [b]
        while tower[-1] in above and len(tower) <= len(on):
            tower.append(above[tower[-1]])
        out.append(tower)
    return out


def random_towers(blocks: Sequence[str], rng: np.random.Generator | int) -> list[list[str]]:
    """A random arrangement: blocks in random order, each starting a tower or topping one."""
    gen = np.random.default_rng(rng)
    stacks: list[list[str]] = []
    for i in gen.permutation(len(blocks)):
        if not stacks or gen.random() < 0.35:
            stacks.append([blocks[i]])
        else:
            stacks[int(gen.integers(len(stacks)))].append(blocks[i])
    return stacks


def random_instance(n: int, rng: np.random.Generator | int) -> tuple[dict[str, Any],
                                                                    dict[str, Any]]:
    """A seeded random ``(start, goal)`` pair over ``block_names(n)``."""
    gen = np.random.default_rng(rng)
    names = block_names(n)
    return state(random_towers(names, gen)), goal_of(random_towers(names, gen))


def valid(plan: Iterable[Action], start: Mapping[str, Any], goal: Mapping[str, Any]) -> bool:
    """Whether ``plan`` is physically legal from ``start`` and ends satisfying ``goal``.

    The check replays the moves on towers itself, from each action's ``args``,
    rather than trusting the actions' declared preconditions and effects.
    """
    on = {k[3:]: v for k, v in start.items() if k.startswith("on:")}
    for step in plan:
        b, src, dst = (step.args.get(k) for k in ("block", "src", "dst"))
        supports = set(on.values())
        if b not in on or on[b] != src or b in supports or dst == b:
            return False
        if dst != TABLE and (dst not in on or dst in supports):
            return False
        on[b] = dst
    supports = set(on.values())
    for k, v in goal.items():
        name = k.split(":", 1)[1]
        got = on.get(name) if k.startswith("on:") else (name in on and name not in supports)
        if got != v:
            return False
    return True
