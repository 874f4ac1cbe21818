"""The examples in docstrings run, so the documentation cannot drift from the code."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "agents.agent.core", "agents.supervisor.ledger", "agents.supervisor.settings",
    "agents.supervisor.sinks", "agents.supervisor.audit", "agents.supervisor.keys",
    "cluster.api.settings", "cluster.api.roles", "cluster.api.app",
    "agents.supervisor.book", "agents.specs", "agents.agent.kinds",
    "agents.protocols.auction", "agents.protocols.consensus", "agents.protocols.contract_net",
    "agents.protocols.load_balance", "agents.protocols.assignment", "agents.protocols.ssi",
    "agents.protocols.cbba", "agents.protocols.claims", "agents.agent.costs",
    "agents.agent.bundles", "cluster.config", "agents.agent.resources",
    "agents.hosting.placement", "agents.hosting.handle", "agents.supervisor.rounds",
    "agents.hosting.stepping", "swarm.flock_agents", "agents.supervisor.pools",
    "agents.supervisor.pool_shell",
    "messaging.batcher", "messaging.crypto", "messaging.envelope", "messaging.gossip",
    "messaging.mailbox", "messaging.topics", "messaging.wire",
    "swarm.aco", "swarm.aco_path", "swarm.bee", "swarm.boids", "swarm.errors", "swarm.evaluate",
    "swarm.objectives", "swarm.problem", "swarm.pso", "swarm.result", "swarm.tour_search",
    "swarm.tsplib", "swarm.framework", "swarm.ray_eval", "swarm.task",
    "agents.planning", "agents.planning.pair_costs", "agents.planning.dag",
    "agents.planning.domains",
    "agents.planning.domains.blocks", "agents.planning.errors", "agents.planning.frontier",
    "agents.planning.goap", "agents.planning.htn", "agents.planning.htn_config",
    "agents.planning.htn_domain", "agents.planning.repair", "agents.execution.attempts",
    "agents.execution.report", "agents.agent.bidding", "learning.task",
    "learning.bandits", "learning.envs", "learning.errors", "learning.history", "learning.market",
    "learning.replay", "learning.schedules", "learning.tabular", "learning.transfer",
    "learning.models", "learning.models.base", "learning.models.config", "learning.models.data",
    "learning.models.errors", "learning.models.factory", "learning.models.metrics",
    "learning.models.neural", "learning.models.sklearn_model", "learning.models.store",
    "learning.production",
    "learning.pg.reinforce", "learning.automl.search", "learning.automl.space",
    "learning.rllib._tf_guard", "learning.pg.core",
    "interfaces", "interfaces.base", "interfaces.memory", "interfaces.host", "interfaces.http",
    "interfaces.websocket", "agents.pursuit.core", "agents.pursuit.loop",
    "agents.roles.detector", "agents.roles.incidents", "agents.roles.simulator",
    "agents.agent.context", "agents.behaviours", "agents.behaviours.base",
    "agents.behaviours.runner", "agents.behaviours.fsm", "agents.behaviours.template",
    "cluster.scenario", "cluster.status_command", "interfaces.file_rules", "interfaces.thresholds",
    "interfaces.mqtt", "interfaces.coap",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
