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
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agents.agent.costs import TaskInfo, task_infos
from agents.protocols.cbba import CbbaAgent, CbbaMessage

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
        self.peers = sorted(set(peers) - {agent.agent_id})
        self.state = CbbaAgent(agent.agent_id, list(self.tasks), max(0, capacity),
                               self._marginal)
        self.rounds = 0
        self.converged = False
        self.gone: list[str] = []

    def _marginal(self, path: Sequence[str], task_id: str) -> tuple[float, int] | None:
        """The extra cost of ``task_id`` after ``path`` (appended: the agent's tasks run
        in the order it won them), or None where its cost function or a deadline refuses."""
        task = self.tasks[task_id]
        bundle: list[TaskInfo] = [self.tasks[t] for t in path]
        [quote] = self.agent.quotes([task], bundle=bundle)
        if self.agent.refusal(task, quote) is not None:
            return None
        assert quote is not None
        return quote.cost, len(path)

    def answer(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """The peer side of an exchange: take the caller's news, give back ours."""
        self.state.receive(CbbaMessage.from_dict(message), time.time())
        return self.state.message(time.time()).to_dict()

    async def run(self, exchange: Exchange, *, max_rounds: int = 500, quiet_rounds: int = 2,
                  pause_s: float = 0.0) -> dict[str, Any]:
        """Build, gossip and resolve until quiet and agreed (or ``max_rounds``)."""
        quiet = 0
        while self.rounds < max_rounds:
            self.rounds += 1
            changed = self.state.build_bundle()
            mine = self.state.message(time.time()).to_dict()
            replies = await asyncio.gather(*(_call(exchange, p, mine) for p in self.peers))
            agreed, waiting = True, False
            for peer, reply in zip(list(self.peers), replies, strict=True):
                if reply == DEAD:
                    logger.info("cbba %s: %s is gone; its claims are reset",
                                self.conversation_id, peer)
                    self.state.forget(peer)
                    self.peers.remove(peer)
                    self.gone.append(peer)
                    changed = True
                elif not isinstance(reply, Mapping):
                    waiting = True  # not joined yet (or unreachable for now)
                else:
                    message = CbbaMessage.from_dict(reply)
                    changed = self.state.receive(message, time.time()) or changed
                    agreed = agreed and {t: w for t, (w, _) in message.winners.items()} \
                        == self.state.assignment()
            quiet = quiet + 1 if not changed and agreed and not waiting else 0
            if quiet >= quiet_rounds:
                self.converged = True
                break
            await asyncio.sleep(pause_s)  # let peers' exchanges in between our rounds
        return self.outcome()

    def outcome(self) -> dict[str, Any]:
        """What the agent won (bundle, path and bids) and what it knows of the rest."""
        bids = self.state.bids()
        return {"agent_id": self.agent.agent_id, "bundle": list(self.state.bundle),
                "path": list(self.state.path),
                "bids": {t: bids[t] for t in self.state.bundle},
                "assignment": self.state.assignment(), "rounds": self.rounds,
                "converged": self.converged, "gone": list(self.gone)}


async def _call(exchange: Exchange, peer: str, message: dict[str, Any]
                ) -> dict[str, Any] | str | None:
    reply = exchange(peer, message)
    return await reply if reply is not None else None
