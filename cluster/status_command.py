"""What ``raymas status [config]`` does once parsed: the whole system at a glance.

An operator asks one question, "is it healthy and how busy is it?", and the
answer spans Ray (nodes and their resources), the Supervisor (agents, tasks,
the ledger) and the bridge actors (state, lag).  So the command is split in
two: :func:`collect_status` asks Ray and the Supervisor and returns one plain
dict (the ``--json`` output, for scripts), and :func:`render_status` draws
that dict as rich tables without touching Ray, so the drawing is tested with a
hand-made dict.  :func:`build_status` in between turns raw answers (what
``ray.nodes()``, ``status()``, ``list_agents()`` ... return) into that dict,
also without Ray.

Where the numbers come from, and why:

* nodes: ``ray.nodes()`` (every node the GCS knows, dead ones included) for
  id, IP, liveness and totals; usage is total minus
  ``ray._private.state.available_resources_per_node()``.  Both read the GCS
  directly, so they work on a cluster without the dashboard, where
  ``ray.util.state.list_nodes`` fails (it is an HTTP call to the dashboard) and
  ``ray.util.state`` has no per-node usage anyway.  "memory" is Ray's logical
  memory resource (what tasks and actors reserved), not the machine's RSS;
  the object store is what is actually stored.  Usage lags by Ray's resource
  report interval (well under a second).
* agents: the Supervisor's ``list_agents()``, each in exactly one state, in
  the order the Supervisor's metrics use (:func:`agent_state`).
* tasks: the ledger's counts by state, from the Supervisor's ``status()``.
* bridges: named actors in the namespace whose name starts with the prefix
  :func:`messaging.bridge.actor_name` gives, from
  ``ray.util.list_named_actors`` (the GCS: only live actors, no dashboard
  needed), each asked for its ``health()`` within a deadline.
* the ledger: the Supervisor's ``settings()`` (the URL it opened), with any
  password masked here.  The ledger holds one DB-API connection, not a pool.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table
from rich.text import Text

from agents.specs import TaskState
from agents.supervisor.ledger import mask_url

if TYPE_CHECKING:
    from cluster.config import RaymasConfig

__all__ = ["AGENT_STATES", "LEDGER_POOL", "STATUS_VERSION", "SupervisorUnavailable",
           "agent_state", "bridge_prefix", "build_status", "collect_status", "ledger_info",
           "mask_url", "node_summary", "render_status", "status_command"]

#: bumped when a key of the ``--json`` object changes meaning or goes away
STATUS_VERSION = 1
#: every agent is in exactly one; the order the Supervisor's metrics use
AGENT_STATES = ("alive", "suspect", "leaving", "dead")
#: the Ledger (agents/supervisor/ledger.py) holds one DB-API connection, no pool
LEDGER_POOL = "single connection"
#: query parameters that carry a secret in a libpq/psycopg URL
_HEAD_RESOURCE = "node:__internal_head__"


class SupervisorUnavailable(LookupError):
    """No Supervisor of that name in the namespace, or it did not answer in time."""


# -- pure: raw answers to the status dict ------------------------------------------------
def agent_state(entry: Mapping[str, Any]) -> str:
    """One state per agent entry of ``list_agents()``: dead, leaving, suspect or alive.

    Mutually exclusive so the counts add up to the number of agents (the
    Supervisor's ``status()["alive"]`` counts suspect agents as alive too).
    ``leaving`` is read when the entry carries it.
    """
    if not entry.get("alive"):
        return "dead"
    if entry.get("leaving"):
        return "leaving"
    return "suspect" if entry.get("suspect") else "alive"


def summarise_agents(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Agents by state, and by type then state, with the load of the ones not dead."""
    by_state = dict.fromkeys(AGENT_STATES, 0)
    by_type: dict[str, dict[str, int]] = {}
    for e in entries:
        state = agent_state(e)
        row = by_type.setdefault(str(e.get("agent_type", "?")), {
            **dict.fromkeys(AGENT_STATES, 0), "total": 0, "load": 0, "capacity": 0})
        row[state] += 1
        row["total"] += 1
        by_state[state] += 1
        if state != "dead":
            row["load"] += int(e.get("load") or 0)
            row["capacity"] += int(e.get("capacity") or 0)
    return {"total": sum(by_state.values()), "by_state": by_state,
            "by_type": dict(sorted(by_type.items()))}


def summarise_tasks(counts: Mapping[str, int], pending: int) -> dict[str, Any]:
    """Every task state in the ledger's order (zeros kept: a stable shape), then any other."""
    by_state = {s.value: int(counts.get(s.value, 0)) for s in TaskState}
    by_state.update({s: int(n) for s, n in counts.items() if s not in by_state})
    return {"total": sum(by_state.values()), "pending": int(pending), "by_state": by_state}




def ledger_info(url: str) -> dict[str, Any]:
    """The ledger's database kind, where it is, its URL (masked) and connection pool."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        kind, location = "sqlite", ("in memory (the Supervisor's process)"
                                    if path == ":memory:" else path)
    elif url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        kind, location = "postgresql", f"{host}{port}/{parts.path.lstrip('/')}"
    else:  # an older Supervisor's status() gives the URL past its '@' only
        kind, location = "unknown", mask_url(url)
    return {"kind": kind, "location": location, "url": mask_url(url), "pool": LEDGER_POOL}


def _usage(total: Mapping[str, Any], available: Mapping[str, Any] | None,
           key: str) -> dict[str, float | None]:
    t = float(total.get(key, 0.0))
    # Ray leaves a resource with nothing available out of the map: all of it is used
    used = None if available is None else max(t - float(available.get(key, 0.0)), 0.0)
    return {"used": used, "total": t}


def node_summary(node: Mapping[str, Any], available: Mapping[str, Any] | None
                 ) -> dict[str, Any]:
    """One entry of ``ray.nodes()`` with its available resources (None: unknown, dead)."""
    total = node.get("Resources") or {}
    alive = bool(node.get("Alive"))
    avail = available if alive else None
    return {"node_id": str(node.get("NodeID", "")), "ip": str(node.get("NodeManagerAddress", "")),
            "alive": alive, "head": _HEAD_RESOURCE in total,
            "cpu": _usage(total, avail, "CPU"), "gpu": _usage(total, avail, "GPU"),
            "memory": _usage(total, avail, "memory"),
            "object_store": _usage(total, avail, "object_store_memory")}


def bridge_summary(actor: str, health: Mapping[str, Any] | None, error: str | None,
                   prefix: str) -> dict[str, Any]:
    """A bridge's health reduced to what the table shows; the whole answer under ``health``.

    Keys are always present (None when the bridge does not report them, e.g.
    a bridge from before lag was measured), so scripts can rely on the shape.
    """
    h = dict(health or {})
    return {"bridge": str(h.get("bridge") or actor.removeprefix(prefix)), "actor": actor,
            "broker": h.get("broker"), "state": h.get("state") or "unresponsive",
            "lag_s_out": h.get("lag_s_out"), "lag_s_in": h.get("lag_s_in"),
            "backlog": h.get("backlog"),
            "out": h.get("out", 0) if health is not None else None,
            "in": h.get("in", 0) if health is not None else None,
            "reconnects": h.get("reconnects"), "last_error": h.get("last_error") or error,
            "health": h if health is not None else None}


def sensing_rows(agents: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]],
                                                                list[dict[str, Any]]]:
    """Each agent's environments and goals, from the self-reports its heartbeats carry.

    >>> envs, goals = sensing_rows([{"agent_id": "m", "report": {"environments": [
    ...     {"environment": "s", "kind": "mqtt", "state": "connected", "reconnects": 1,
    ...      "published": 9, "rejected": {"flood": 2}, "last_error": None}]}}])
    >>> envs[0]["rejected"], envs[0]["state"], goals
    (2, 'connected', [])
    """
    envs, goals = [], []
    for agent in agents:
        report = agent.get("report") or {}
        for e in report.get("environments") or []:
            envs.append({"agent": agent["agent_id"], "environment": e.get("environment"),
                         "kind": e.get("kind"), "state": e.get("state"),
                         "reconnects": e.get("reconnects"), "published": e.get("published"),
                         "rejected": sum((e.get("rejected") or {}).values()),
                         "last_error": e.get("last_error")})
        for g in report.get("goals") or []:
            goals.append({"agent": agent["agent_id"], "goal": g.get("goal"),
                          "status": g.get("status"), "progress": g.get("progress"),
                          "missed": g.get("missed"), "replans": g.get("replans"),
                          "last_error": g.get("last_error")})
    return envs, goals


def build_status(*, address: str, namespace: str, supervisor: str, status: Mapping[str, Any],
                 agents: Sequence[Mapping[str, Any]], settings: Mapping[str, Any] | None,
                 nodes: Sequence[Mapping[str, Any]],
                 available: Mapping[str, Mapping[str, Any]],
                 bridges: Sequence[tuple[str, Mapping[str, Any] | None, str | None]],
                 prefix: str) -> dict[str, Any]:
    """The ``--json`` object from raw answers; its keys are pinned by the unit tests.

    ``bridges`` is ``(actor name, health or None, error or None)`` per bridge;
    ``prefix`` is what bridge actor names start with (see :func:`bridge_prefix`).
    Nodes come head first, then live workers, then dead ones.
    """
    node_rows = [node_summary(n, available.get(str(n.get("NodeID")))) for n in nodes]
    node_rows.sort(key=lambda n: (not n["head"], not n["alive"], n["ip"], n["node_id"]))
    url = (settings or {}).get("ledger_url") or str(status.get("ledger", ""))
    environments, goals = sensing_rows(agents)
    return {
        "version": STATUS_VERSION, "address": address, "namespace": namespace,
        "supervisor": {"name": supervisor, "strategy": status.get("strategy"),
                       "load": int(status.get("load", 0)),
                       "capacity": int(status.get("capacity", 0)),
                       "stats": dict(status.get("stats") or {})},
        "nodes": node_rows,
        "agents": summarise_agents(agents),
        "tasks": summarise_tasks(status.get("tasks") or {}, int(status.get("pending", 0))),
        "bridges": sorted((bridge_summary(a, h, e, prefix) for a, h, e in bridges),
                          key=lambda b: b["bridge"]),
        "ledger": ledger_info(url),
        "environments": environments,
        "goals": goals,
    }


# -- gathering (needs a connected Ray) ------------------------------------------------
def bridge_prefix() -> str:
    """The name every bridge actor's name starts with (one definition, in messaging.bridge)."""
    from messaging.bridge import actor_name

    return actor_name("")


def _bridges(namespace: str, prefix: str, timeout_s: float
             ) -> list[tuple[str, Mapping[str, Any] | None, str | None]]:
    """Every live bridge actor in ``namespace`` and its ``health()``, asked all at once."""
    import ray

    names = sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                   if a["namespace"] == namespace and a["name"].startswith(prefix))
    asked: dict[str, Any] = {}
    out: list[tuple[str, Mapping[str, Any] | None, str | None]] = []
    for name in names:
        try:
            asked[name] = ray.get_actor(name, namespace=namespace).health.remote()
        except ValueError:  # gone between the listing and the lookup
            continue
    if asked:
        ray.wait(list(asked.values()), num_returns=len(asked), timeout=timeout_s)
    for name, ref in asked.items():
        try:
            out.append((name, dict(ray.get(ref, timeout=0)), None))
        except ray.exceptions.GetTimeoutError:
            out.append((name, None, f"no answer within {timeout_s:g}s"))
        except ray.exceptions.RayError as exc:
            out.append((name, None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"))
    return out


def _available_per_node() -> dict[str, dict[str, Any]]:
    """Available resources by node id (hex), from the GCS; empty if Ray no longer offers it."""
    try:
        from ray._private.state import available_resources_per_node

        return dict(available_resources_per_node())
    except (ImportError, AttributeError):  # a Ray that moved it: totals only, usage '-'
        return {}


def collect_status(supervisor: str, namespace: str, *, timeout_s: float = 30.0,
                   bridge_timeout_s: float = 5.0) -> dict[str, Any]:
    """Ask Ray, the Supervisor ``supervisor`` in ``namespace`` and the bridges; one dict.

    Needs a connected Ray.  The Supervisor's three answers are asked for at
    once and waited for at most ``timeout_s``; the bridges are asked meanwhile,
    and one that has not answered within ``bridge_timeout_s`` (restarting, or
    stuck) is listed as unresponsive rather than holding the whole view up.

    Raises:
        SupervisorUnavailable: no such Supervisor, or it did not answer in time.
    """
    import ray

    from agents.supervisor.client import SupervisorClient

    address = str(ray.get_runtime_context().gcs_address)
    try:
        handle = SupervisorClient(name=supervisor, namespace=namespace).handle
    except ValueError:
        raise SupervisorUnavailable(f"no Supervisor {supervisor!r} is running at {address} "
                                    f"(namespace {namespace!r})") from None
    refs = [handle.status.remote(), handle.list_agents.remote(), handle.settings.remote()]
    prefix = bridge_prefix()
    bridges = _bridges(namespace, prefix, bridge_timeout_s)
    try:
        status, agents, settings = ray.get(refs, timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        raise SupervisorUnavailable(f"the Supervisor {supervisor!r} at {address} did not "
                                    f"answer within {timeout_s:g}s") from None
    except ray.exceptions.RayError as exc:  # dead, restarting, or a call that failed
        raise SupervisorUnavailable(f"the Supervisor {supervisor!r} at {address} did not "
                                    f"answer: {str(exc).splitlines()[0]}") from None
    return build_status(address=address, namespace=namespace, supervisor=supervisor,
                        status=status, agents=agents, settings=settings, nodes=ray.nodes(),
                        available=_available_per_node(), bridges=bridges,
                        prefix=prefix)


# -- rendering (pure) ---------------------------------------------------------------------
def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def _bytes(n: float | None) -> str:
    if n is None:
        return "-"
    if abs(n) < 1024:
        return f"{n:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if abs(n) < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} TiB"


def _pair(u: Mapping[str, Any], fmt: Any = _num) -> str:
    return f"{fmt(u['used'])} / {fmt(u['total'])}"


def _text(value: Any, style: str = "") -> Text:
    """A cell as plain text: names and errors are never read as rich markup."""
    return Text("-" if value is None else str(value), style=style)


_STATE_STYLE = {"alive": "green", "connected": "green", "suspect": "yellow",
                "disconnected": "yellow", "failed": "red",
                "leaving": "yellow", "connecting": "yellow", "starting": "yellow",
                "reconnecting": "yellow", "dead": "red", "unresponsive": "red"}


def _nodes_table(nodes: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title="nodes", title_justify="left")
    for col in ("node", "ip", "state", "role", "CPU used/total", "GPU used/total",
                "memory reserved/total", "object store used/total"):
        table.add_column(col, justify="right" if "/" in col else "left")
    for n in nodes:
        state = "alive" if n["alive"] else "dead"
        table.add_row(_text(n["node_id"][:8]), _text(n["ip"]),
                      _text(state, _STATE_STYLE[state]), _text("head" if n["head"] else "worker"),
                      _text(_pair(n["cpu"])), _text(_pair(n["gpu"])),
                      _text(_pair(n["memory"], _bytes)), _text(_pair(n["object_store"], _bytes)))
    return table


def _agents_table(agents: Mapping[str, Any]) -> Table:
    table = Table(title=f"agents ({agents['total']})", title_justify="left")
    table.add_column("type")
    for col in (*AGENT_STATES, "total", "load/capacity"):
        table.add_column(col, justify="right")
    rows = list(agents["by_type"].items())
    for i, (agent_type, row) in enumerate(rows):
        table.add_row(_text(agent_type), *(_text(row[s]) for s in (*AGENT_STATES, "total")),
                      _text(f"{row['load']}/{row['capacity']}"), end_section=i == len(rows) - 1)
    load = sum(r["load"] for _, r in rows)
    capacity = sum(r["capacity"] for _, r in rows)
    table.add_row(_text("all", "bold"), *(_text(agents["by_state"][s]) for s in AGENT_STATES),
                  _text(agents["total"]), _text(f"{load}/{capacity}"))
    return table


def _tasks_table(tasks: Mapping[str, Any]) -> Table:
    table = Table(title=f"tasks ({tasks['total']})", title_justify="left")
    table.add_column("state")
    table.add_column("tasks", justify="right")
    items = list(tasks["by_state"].items())
    for i, (state, n) in enumerate(items):
        table.add_row(_text(state), _text(n), end_section=i == len(items) - 1)
    table.add_row(_text("all", "bold"), _text(tasks["total"]))
    return table


def _lag(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}s"


def _bridges_table(bridges: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title=f"bridges ({len(bridges)})", title_justify="left")
    for col in ("bridge", "broker", "state", "lag out", "lag in", "backlog", "out", "in",
                "reconnects", "last error"):
        table.add_column(col, justify="left" if col in ("bridge", "broker", "state",
                                                        "last error") else "right")
    for b in bridges:
        table.add_row(_text(b["bridge"]), _text(b["broker"]),
                      _text(b["state"], _STATE_STYLE.get(b["state"], "red")),
                      _text(_lag(b["lag_s_out"])), _text(_lag(b["lag_s_in"])),
                      _text(b["backlog"]), _text(b["out"]), _text(b["in"]),
                      _text(b["reconnects"]), _text(b["last_error"], "red"))
    return table


def _environments_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title=f"environments ({len(rows)})", title_justify="left")
    for col in ("agent", "environment", "kind", "state", "events", "rejected", "reconnects",
                "last error"):
        table.add_column(col, justify="right" if col in ("events", "rejected", "reconnects")
                         else "left")
    for r in rows:
        table.add_row(_text(r["agent"]), _text(r["environment"]), _text(r["kind"]),
                      _text(r["state"], _STATE_STYLE.get(str(r["state"]), "red")),
                      _text(r["published"]), _text(r["rejected"]), _text(r["reconnects"]),
                      _text(r["last_error"], "red"))
    return table


def _goals_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title=f"goals agents pursue ({len(rows)})", title_justify="left")
    for col in ("agent", "goal", "status", "progress", "deadline", "replans", "last error"):
        table.add_column(col)
    for r in rows:
        progress = r["progress"]
        table.add_row(_text(r["agent"]), _text(r["goal"]), _text(r["status"]),
                      _text(f"{100 * progress:.0f}%" if progress is not None else None),
                      _text("missed" if r["missed"] else "ok",
                            "red" if r["missed"] else ""),
                      _text(r["replans"]), _text(r["last_error"], "red"))
    return table


def _ledger_table(ledger: Mapping[str, Any]) -> Table:
    table = Table(title="ledger", title_justify="left")
    for col in ("database", "location", "connection pool"):
        table.add_column(col)
    table.add_row(_text(ledger["kind"]), _text(ledger["location"]), _text(ledger["pool"]))
    return table


def render_status(data: Mapping[str, Any], console: Console) -> None:
    """Draw the status dict (from :func:`collect_status`) on ``console``; no Ray."""
    sup = data["supervisor"]
    console.print(Text.assemble(
        ("raymas", "bold"), f" on Ray at {data['address']}, namespace {data['namespace']}\n",
        ("Supervisor", "bold"), f" {sup['name']} ({sup['strategy']}): load "
        f"{sup['load']}/{sup['capacity']}, {data['tasks']['pending']} task(s) waiting for an "
        "agent"))
    console.print(_nodes_table(data["nodes"]))
    console.print(_agents_table(data["agents"]))
    console.print(_tasks_table(data["tasks"]))
    if data["bridges"]:
        console.print(_bridges_table(data["bridges"]))
    else:
        console.print(Text("bridges: none running", style="dim"))
    if data.get("environments"):
        console.print(_environments_table(data["environments"]))
    if data.get("goals"):
        console.print(_goals_table(data["goals"]))
    console.print(_ledger_table(data["ledger"]))


# -- the command ------------------------------------------------------------------------
def status_command(cfg: RaymasConfig, address: str | None = None, *, as_json: bool = False,
                   console: Console | None = None) -> int:
    """Join Ray (unless this process already has), collect, print; the exit code.

    1 when there is no Ray at the address or no Supervisor answering there,
    with one line on stderr naming what is missing and where.
    """
    from cluster.connect import join_cluster

    target = address or cfg.cluster.address or "auto"
    error = join_cluster(target, cfg.cluster.namespace)
    if error is not None:
        print(error, file=sys.stderr)
        return 1
    try:
        data = collect_status(cfg.supervisor.name, cfg.cluster.namespace)
    except SupervisorUnavailable as exc:
        print(f"raymas: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(data, default=str))
    else:
        render_status(data, console or Console())
    return 0
