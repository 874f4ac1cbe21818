"""Model builders for hosted stepping tests (``module:function`` names the hosts import)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.agent.core import Agent


class Relay:
    """Passes a counter to the next agent of the ring each step; keeps what it got."""

    def __init__(self, agent: Agent, ring: Sequence[str]) -> None:
        self.world = agent.world
        self.world.setdefault("got", [])
        me = ring.index(agent.agent_id)
        self.next = ring[(me + 1) % len(ring)]

    def step(self, ctx: Any) -> None:
        self.world["got"].extend(m[2] for m in ctx.inbox)
        ctx.send(self.next, (ctx.agent_id, ctx.step))


def relay(agents: Sequence[Agent], options: dict[str, Any], seed: int | None
          ) -> tuple[None, dict[str, Relay], dict[str, Any]]:
    ring = list(options["ring"])
    made = {a.agent_id: Relay(a, ring) for a in agents}
    return None, made, {"got": lambda stepper: {
        k: [list(m) for m in r.world["got"]] for k, r in made.items()}}


class Wealth:
    """Mesa's Boltzmann wealth model: a coin to a random agent each step, if it has one."""

    def __init__(self, agent: Agent, everyone: Sequence[str]) -> None:
        self.world = agent.world
        self.world["wealth"] = 1
        self.everyone = everyone

    def step(self, ctx: Any) -> None:
        self.world["wealth"] += len(ctx.inbox)
        if self.world["wealth"] > 0:
            self.world["wealth"] -= 1
            ctx.send(self.everyone[int(ctx.rng.integers(len(self.everyone)))], 1)


def wealth(agents: Sequence[Agent], options: dict[str, Any], seed: int | None
           ) -> tuple[None, dict[str, Wealth], dict[str, Any]]:
    everyone = list(options["everyone"])
    made = {a.agent_id: Wealth(a, everyone) for a in agents}
    return None, made, {
        "wealth_here": lambda stepper: sum(a.world["wealth"] for a in made.values()),
        "coins_in_inboxes": lambda stepper: sum(len(stepper.mail_for(k)) for k in made)}
