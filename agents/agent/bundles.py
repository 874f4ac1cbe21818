"""An agent's part in the bundle algorithm (CBBA), with no auctioneer.

Each member of a round holds a :class:`~agents.protocols.cbba.CbbaAgent`
priced by its own cost function (the extra cost of a task on top of what it
runs and what its bundle already holds) and gossips with its peers:
push-pull, the way the bus's rumours spread — it sends its winners, bids and
time stamps to each peer, and the peer answers with its own.  A member stops
when its bundle has not changed for ``quiet_rounds`` rounds and every peer
it heard from agrees on the winners; it keeps answering its peers after
that, so the ones still going converge too.  A peer that dies is forgotten:
its claims are reset and its tasks re-won by the others.

The bundle algorithm awards the cheapest pair first, like any sequential
auction, and so commits early.  Where every member's costs add up (its bid
for a task does not depend on its other tasks), each member also gossips its
cost for every task and its capacity; once they agree, every member runs the
same task exchanges (:func:`agents.protocols.exchanges.improve`) on the same
numbers and so reaches the same better allocation — still with no
auctioneer and no further message.

The transport is the caller's: ``exchange(peer, message) -> reply`` (a Ray
call between agent actors, or in-process in tests), so this module has no Ray.

Example:
    >>> import asyncio
    >>> from agents.specs import AgentSpec
    >>> from agents.agent.core import Agent
    >>> a = Agent(AgentSpec("a"))
    >>> a.start()
    >>> cfp = {"task_ids": ["t"], "kinds": ["noop"], "capabilities": [["execution"]]}
    >>> member = Member(a, "c1", cfp, peers=[], capacity=1)
    >>> asyncio.run(member.run(lambda peer, msg: None))["bundle"]
    ['t']
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.agent.costs import task_infos
from agents.agent.kinds import resolvable
from agents.protocols.cbba import CbbaAgent, CbbaMessage
from agents.protocols.exchanges import improve

if TYPE_CHECKING:
    from agents.agent.core import Agent

__all__ = ["DEAD", "Exchange", "Member"]

logger = logging.getLogger(__name__)

#: what an exchange returns for a peer that is gone (Ray says its actor died)
DEAD = "dead"
#: ``exchange(peer, message) -> the peer's message``, None while the peer has not
#: joined the round yet, or :data:`DEAD`
Exchange = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | str | None] | None]


class Member:
    """This agent in one CBBA round: its state, its loop and its answers to peers."""

    def __init__(self, agent: Agent, conversation_id: str, cfp: Mapping[str, Sequence[Any]],
                 peers: Sequence[str], capacity: int) -> None:
        self.agent = agent
        self.conversation_id = conversation_id
        self.tasks = {t.task_id: t for t in task_infos(cfp)}
        # what it cannot do at all (a capability it lacks, a kind it does not know) it
        # never bids on: a round among peers is not sorted by capabilities beforehand
        self.able = {t: _able(agent, kind, needs) for t, kind, needs in zip(
            cfp["task_ids"], cfp["kinds"], cfp["capabilities"], strict=True)}
        self.peers = sorted(set(peers) - {agent.agent_id})
        self.state = CbbaAgent(agent.agent_id, list(self.tasks), max(0, capacity),
                               self._marginal)
        self.rounds = 0
        self.converged = False
        self.gone: list[str] = []
        self.exchanged = 0
        #: what every member said its costs are (agent -> task -> cost) and how many
        #: tasks it takes, while all say their costs add up (else None: no exchanges)
        self.rows: dict[str, dict[str, float]] | None = None
        self.capacities = {agent.agent_id: max(0, capacity)}
        if agent.costs is None or not agent.costs.takes_bundle:
            tasks = [t for t in self.tasks.values() if self.able[t.task_id]]
            self.rows = {agent.agent_id: {t.task_id: c for t, c in zip(
                tasks, agent.bids(tasks), strict=True) if c is not None}}

    def _marginal(self, path: Sequence[str], task_id: str) -> tuple[float, int] | None:
        """The extra cost of ``task_id`` after ``path`` (appended: the agent's tasks run
        in the order it won them), or None where its cost function or a deadline refuses."""
        if not self.able[task_id]:
            return None
        [cost] = self.agent.bids([self.tasks[task_id]], [self.tasks[t] for t in path])
        return None if cost is None else (cost, len(path))

    def answer(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """The peer side of an exchange: take the caller's news, give back ours."""
        self._take(message)
        return self.message()

    def message(self) -> dict[str, Any]:
        """Our news: the bundle algorithm's, and the cost rows we know while they add up."""
        out: dict[str, Any] = {"cbba": self.state.message(time.time()).to_dict(),
                               "capacities": self.capacities}
        if self.rows is not None:
            out["rows"] = self.rows
        return out

    def _take(self, message: Mapping[str, Any]) -> tuple[bool, CbbaMessage]:
        news = CbbaMessage.from_dict(message["cbba"])
        changed = self.state.receive(news, time.time())
        for peer, cap in message.get("capacities", {}).items():
            self.capacities.setdefault(str(peer), int(cap))
        rows = message.get("rows")
        if rows is None:
            self.rows = None  # someone's costs depend on its bundle: no exchanges
        elif self.rows is not None:
            for peer, row in rows.items():
                self.rows.setdefault(str(peer), {str(t): float(c) for t, c in row.items()})
        return changed, news

    async def run(self, exchange: Exchange, *, max_rounds: int = 500, quiet_rounds: int = 2,
                  pause_s: float = 0.0, give_up_s: float = 3.0) -> dict[str, Any]:
        """Build, gossip and resolve until quiet and agreed (or ``max_rounds``); a peer
        without an answer for ``give_up_s`` is left out of the round."""
        quiet = 0
        silent: dict[str, float] = {}  # peer -> since when it has not answered
        while self.rounds < max_rounds:
            self.rounds += 1
            changed = self.state.build_bundle()
            mine = self.message()
            replies = await asyncio.gather(*(_call(exchange, p, mine) for p in self.peers))
            agreed, waiting = True, False
            for peer, reply in zip(list(self.peers), replies, strict=True):
                if isinstance(reply, Mapping):
                    silent.pop(peer, None)
                else:
                    silent.setdefault(peer, time.monotonic())
                if reply == DEAD or time.monotonic() - silent.get(peer, math.inf) > give_up_s:
                    # dead, or silent round after round (stopped, cut off): this round goes
                    # on without it; a slow agent loses only this round, never its life
                    logger.info("cbba %s: %s is %s; its claims are reset", self.conversation_id,
                                peer, "gone" if reply == DEAD else "not answering")
                    self.state.forget(peer)
                    self.peers.remove(peer)
                    self.gone.append(peer)
                    changed = True
                elif not isinstance(reply, Mapping):
                    waiting = True  # not joined yet (or unreachable for now)
                else:
                    took, message = self._take(reply)
                    changed = took or changed
                    agreed = agreed and {t: w for t, (w, _) in message.winners.items()} \
                        == self.state.assignment()
            quiet = quiet + 1 if not changed and agreed and not waiting else 0
            if quiet >= quiet_rounds:
                self.converged = True
                break
            # let peers' exchanges in between our rounds; while one has not answered, do not
            # spin: it may not have joined yet
            await asyncio.sleep(max(pause_s, 0.02 if waiting else 0.0))
        return self.outcome()

    def outcome(self) -> dict[str, Any]:
        """What the agent won (its bundle, in the order won, and its bids) and what it
        knows of the rest."""
        won, bids = self.state.assignment(), self.state.bids()
        if self.converged and self.rows is not None:
            won, bids = self._exchanged(won, bids)
        mine = [t for t in self.state.bundle if won.get(t) == self.agent.agent_id]
        mine += sorted(t for t, a in won.items() if a == self.agent.agent_id and t not in mine)
        return {"agent_id": self.agent.agent_id, "bundle": mine,
                "bids": {t: bids[t] for t in mine}, "assignment": won,
                "rounds": self.rounds, "converged": self.converged,
                "exchanged": self.exchanged, "gone": list(self.gone)}

    def _exchanged(self, won: dict[str, str], bids: dict[str, float]
                   ) -> tuple[dict[str, str], dict[str, float]]:
        """The agreed allocation after the exchanges every member computes alike."""
        assert self.rows is not None
        agents = sorted(a for a in self.rows if a not in self.gone)
        if any(a not in agents for a in won.values()):
            return won, bids  # a winner's costs never reached us: keep the agreement
        tasks = sorted(self.tasks)
        costs = np.full((len(agents), len(tasks)), np.inf)
        for i, a in enumerate(agents):
            for j, t in enumerate(tasks):
                costs[i, j] = self.rows[a].get(t, np.inf)
        row, col = {a: i for i, a in enumerate(agents)}, {t: j for j, t in enumerate(tasks)}
        pairs, self.exchanged = improve({col[t]: row[a] for t, a in won.items()}, costs,
                                        [self.capacities.get(a, 0) for a in agents])
        after = {tasks[j]: agents[i] for j, i in pairs.items()}
        return after, {t: float(costs[row[a], col[t]]) for t, a in after.items()}


async def _call(exchange: Exchange, peer: str, message: dict[str, Any]
                ) -> dict[str, Any] | str | None:
    reply = exchange(peer, message)
    return await reply if reply is not None else None


def _able(agent: Agent, kind: str, needs: Sequence[str]) -> bool:
    return set(needs) <= agent.capabilities and bool(resolvable([kind]))
