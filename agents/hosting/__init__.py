"""Agents hosted many per actor (``hosting: shared``): the hosts, their bus, their handles.

Light to import: the host actor (:mod:`agents.hosting.host`) and its bus
(:mod:`agents.hosting.host_bus`) are imported where they run.
"""

from agents.hosting.handle import HostedAgentHandle, find_agent, host_actor_name, host_of
from agents.hosting.placement import HostPlan, plan_hosts

__all__ = ["HostPlan", "HostedAgentHandle", "find_agent", "host_actor_name", "host_of",
           "plan_hosts"]
