"""Who may call what: one table from route name to the roles allowed, as data.

Every route of the app has a ``name`` and exactly one row here; the guard
middleware (:mod:`cluster.api.guard`) looks the matched route up, so no
handler carries its own decorator.  ``tests/unit/cluster/api/test_roles.py``
fails on a route without a row (or a row without a route), and the
integration tests walk every route with every role.

Roles, from most to least:

- ``admin``: everything, signing keys and tokens included;
- ``operator``: submit and cancel tasks and plans, spawn and stop agents, run
  swarms and training, coordinate, deploy models, and everything a viewer may;
- ``agent``: publish on the bus (results and observations go there), follow a topic,
  call deployed models and read the identity keys;
- ``viewer``: read-only.

Example:
    >>> allowed("submit_task", "operator"), allowed("submit_task", "viewer")
    (True, False)
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["PUBLIC", "ROUTE_ROLES", "allowed", "roles_for"]

ADMIN = frozenset({"admin"})
OPERATE = frozenset({"admin", "operator"})
READ = frozenset({"admin", "operator", "viewer"})
PUBLISH = frozenset({"admin", "operator", "agent"})
ANY = frozenset({"admin", "operator", "agent", "viewer"})

#: routes anyone may call, without a token
PUBLIC = frozenset({"healthz", "readyz", "ui", "ui_index", "ui_file", "openapi", "swagger_ui_html",
                    "swagger_ui_redirect", "redoc_html"})

ROUTE_ROLES = MappingProxyType({
    # identity
    "whoami": ANY,
    # agents
    "list_agents": READ,
    "describe_agent": READ,
    "spawn_agents": OPERATE,
    "stop_agent": OPERATE,
    # tasks
    "status": READ,
    "list_tasks": READ,
    "submit_task": OPERATE,
    "submit_tasks": OPERATE,
    "task_result": READ,
    "task_history": READ,
    "cancel_task": OPERATE,
    # plans
    "list_plans": READ,
    "submit_plan": OPERATE,
    "plan_status": READ,
    "plan_results": READ,
    "cancel_plan": OPERATE,
    "observe_plan": OPERATE,
    # coordination
    "allocate": OPERATE,
    "hold_vote": OPERATE,
    "auction_resource": OPERATE,
    "list_votes": READ,
    # runs
    "start_swarm_run": OPERATE,
    "start_learning_run": OPERATE,
    # models
    "list_models": READ,
    "deploy_model": OPERATE,
    "predict": READ | PUBLISH,
    # the bus
    "publish": PUBLISH,
    "stream": READ | PUBLISH,
    "dead_letters": READ,
    # administration
    "issue_token": ADMIN,
    "rotate_identity_key": ADMIN,
    "public_keys": READ | PUBLISH,
    "audit_records": ADMIN,
    "audit_verify": ADMIN,
})


def roles_for(route_name: str) -> frozenset[str]:
    """The roles that may call ``route_name``; a route missing from the table allows none."""
    return ROUTE_ROLES.get(route_name, frozenset())


def allowed(route_name: str, role: str) -> bool:
    return route_name in PUBLIC or role in roles_for(route_name)
