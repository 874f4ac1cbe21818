"""``raymas trace TASK_ID``: one task's trail, from the ledger and from every node's logs.

The ledger gives the task as submitted (with its correlation id), each state
change (when, which agent) and the result.  The logs give what every process
said about that correlation id: with ``logging.format: json`` each raymas log
line is a JSON object (Ray's JSON format) with ``correlation_id``, ``task`` and
``agent`` fields, in the worker and job-driver log files Ray keeps on each
node; Ray's state API (``list_logs``/``get_log``) reads them from every node.
The trail is printed in time order, one line per event (``--json``: one object).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["collect_trace", "lines_of", "log_events", "render_trace"]

logger = logging.getLogger(__name__)

#: the log files a raymas process writes: actors and tasks (worker-*), job scripts
_LOG_GLOBS = ("worker-*", "job-driver-*")


def log_events(lines: Iterable[str], correlation_id: str, where: str) -> Iterator[dict[str, Any]]:
    """The JSON log lines in ``lines`` that name ``correlation_id`` (others are passed over).

    >>> line = '{"asctime": "t", "levelname": "INFO", "message": "m", "correlation_id": "c1"}'
    >>> [e["message"] for e in log_events([line, "plain text", "{}"], "c1", "f")]
    ['m']
    """
    for line in lines:
        if correlation_id not in line:
            continue
        try:
            record = json.loads(line[line.index("{"):])
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("correlation_id") == correlation_id:
            record["file"] = where
            yield record


def lines_of(chunks: Iterable[str]) -> Iterator[str]:
    """Whole lines from text that arrives in chunks (Ray's ``get_log`` streams pieces).

    >>> list(lines_of(["a\\nb", "c\\nd"]))
    ['a', 'bc', 'd']
    """
    rest = ""
    for chunk in chunks:
        rest += chunk
        *whole, rest = rest.split("\n")
        yield from whole
    if rest:
        yield rest


def _node_logs(correlation_id: str, address: str | None) -> list[dict[str, Any]]:
    import ray
    from ray.util.state import get_log, list_logs

    events: list[dict[str, Any]] = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        node_id = node["NodeID"]
        for glob in _LOG_GLOBS:
            try:
                files = list_logs(address=address, node_id=node_id, glob_filter=glob)
            except Exception as exc:  # a node going away mid-read: say so, read the rest
                logger.warning("listing logs on node %s failed: %s", node_id[:8], exc)
                continue
            for names in files.values():
                for name in names:
                    try:
                        chunks = get_log(address=address, node_id=node_id, filename=name)
                        events.extend(log_events(lines_of(chunks), correlation_id, name))
                    except Exception as exc:
                        logger.warning("reading %s on node %s failed: %s", name,
                                       node_id[:8], exc)
    return events


def collect_trace(task_id: str, ledger_url: str, *, logs: bool = True,
                  address: str | None = None) -> dict[str, Any]:
    """The task's trail as a dict: spec, correlation id, transitions, result, log events.

    ``logs`` needs this process connected to the cluster (``ray.init``).
    """
    import pickle

    from agents.supervisor.ledger import Ledger

    ledger = Ledger.open(ledger_url)
    try:
        spec = ledger.spec(task_id)
        if spec is None:
            raise LookupError(f"no task {task_id!r} in the ledger at {ledger_url}")
        trail = ledger.trail(task_id)
        stored = ledger.result(task_id)
    finally:
        ledger.close()
    cid = spec.get("correlation_id")
    result: dict[str, Any] | None = None
    if stored is not None:
        try:
            value = pickle.loads(stored.value) if stored.value else None
        except Exception:  # the class is not importable here: show that it exists
            value = f"<{len(stored.value or b'')} bytes>"
        result = {"ok": stored.ok, "value": value, "error": stored.error,
                  "agent_id": stored.agent_id}
    events = [{"time": ts, "source": "ledger", "state": state, "agent": agent,
               "message": f"{state}" + (f" ({detail})" if detail else "")}
              for ts, state, agent, detail in trail]
    found: list[dict[str, Any]] = _node_logs(cid, address) if logs and cid else []
    for rec in found:
        events.append({"time": _log_time(rec), "source": "log", "process": rec.get("process"),
                       "node": (rec.get("node_id") or "")[:8],
                       "actor": rec.get("actor_name") or rec.get("actor_id"),
                       "logger": rec.get("name"), "agent": rec.get("agent"),
                       "message": rec.get("message"), "file": rec.get("file")})
    events.sort(key=lambda e: e["time"] or 0.0)
    processes = sorted({f"{e['node']}:{e['process']}" for e in events if e["source"] == "log"})
    return {"task_id": task_id, "correlation_id": cid, "state": trail[-1][1] if trail else None,
            "result": result, "processes": processes, "events": events}


def _log_time(record: dict[str, Any]) -> float | None:
    ns = record.get("timestamp_ns")
    if isinstance(ns, int | float):
        return float(ns) / 1e9
    text = record.get("asctime")
    if isinstance(text, str):
        try:
            return time.mktime(time.strptime(text.split(",")[0], "%Y-%m-%d %H:%M:%S"))
        except ValueError:
            return None
    return None


def render_trace(trace: dict[str, Any]) -> str:
    """Plain text: a header, then one line per event in time order."""
    head = (f"task {trace['task_id']}  correlation id {trace['correlation_id']}  "
            f"state {trace['state']}  processes {len(trace['processes'])}")
    lines = [head]
    for e in trace["events"]:
        stamp = time.strftime("%H:%M:%S", time.localtime(e["time"])) if e["time"] else "?"
        where = "ledger" if e["source"] == "ledger" else \
            f"{e['node']}:{e['process']} {e.get('actor') or e.get('logger') or ''}".strip()
        lines.append(f"{stamp}  {where:<40}  {e['message']}")
    if trace["result"] is not None:
        lines.append(f"result: {trace['result']}")
    return "\n".join(lines)
