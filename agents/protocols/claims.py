"""The bundle algorithm as a strategy: the agents decide, the Supervisor records it.

With ``cbba`` the agents of a round allocate the tasks among themselves by
gossip (:mod:`agents.protocols.cbba` in each agent, :mod:`agents.agent.bundles`
over the wire) and each answers with the tasks it won and its bids.  Those
*claims* come to :class:`CbbaStrategy` as proposals, at most one per agent and
task: it is a contract net over them, so each task goes to its claim (a task
still claimed twice, from a round cut short, to the better bid, then the lower
agent id) within the agents' free slots, and the rest stay pending with the
reason.

Example:
    >>> import numpy as np
    >>> from agents.protocols.base import AgentView, Proposal, TaskView
    >>> agents = {n: AgentView(n, frozenset(), 1) for n in "ab"}
    >>> claims = {"t1": [Proposal("t1", "b", 2.0)], "t2": [Proposal("t2", "a", 1.0)]}
    >>> out = CbbaStrategy().allocate([TaskView("t1"), TaskView("t2"), TaskView("t3")],
    ...                               agents, claims, np.random.default_rng(0))
    >>> out.awarded_to(), out.pending
    ({'t1': 'b', 't2': 'a'}, {'t3': 'no agent won it in the bundle round'})
"""

from __future__ import annotations

from agents.protocols.contract_net import ContractNet

__all__ = ["CbbaStrategy"]


class CbbaStrategy(ContractNet):
    """Award each task to the agent whose bundle holds it (the agents' agreement)."""

    name = "cbba"
    needs_proposals = False
    decentralised = True
    no_proposal = "no agent won it in the bundle round"
    proposers_gone = "the agents that won it are gone or at capacity"
