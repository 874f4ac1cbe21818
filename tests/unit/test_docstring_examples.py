"""The examples in docstrings run, so the documentation cannot drift from the code."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "agents.agent", "agents.ledger", "agents.model", "agents.registry",
    "agents.protocols.auction", "agents.protocols.consensus", "agents.protocols.contract_net",
    "agents.protocols.load_balance", "cluster.config", "cluster.resources",
    "messaging.batcher", "messaging.crypto", "messaging.envelope", "messaging.gossip",
    "messaging.mailbox", "messaging.topics",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
