"""The ``raymas`` command line.  Imports stay inside the commands: ``--help`` is instant."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="raymas", description="A multi-agent system on Ray.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the Supervisor and agents, run the configured goals")
    run.add_argument("config", nargs="?", default="config.yaml", help="config file")
    run.add_argument("--json", action="store_true", help="print the report as one JSON object")
    run.add_argument("--keep", action="store_true",
                     help="leave the Supervisor and agents running (on a cluster)")
    run.add_argument("--address", help="Ray address to join ('auto': the local ray start "
                                       "cluster); default: config, RAY_ADDRESS, else embedded")
    for name, text in (("status", "the system at a glance: nodes and their resources, "
                                  "agents and tasks by state, bridges, the ledger"),
                       ("agents", "list the registered agents")):
        s = sub.add_parser(name, help=text)
        s.add_argument("config", nargs="?", default="config.yaml")
        s.add_argument("--address", help="Ray address (default: config, RAY_ADDRESS, 'auto')")
        s.add_argument("--json", action="store_true",
                       help="print one JSON object" if name == "status" else None)
    _swarm_parser(sub)
    _jobs_parser(sub)
    tr = sub.add_parser("trace", help="one task's trail: the ledger's transitions and every "
                                      "log line of its correlation id, in time order")
    tr.add_argument("config", nargs="?", default="config.yaml")
    tr.add_argument("task_id")
    tr.add_argument("--address", help="Ray address to read logs through (default: config, "
                                      "RAY_ADDRESS, 'auto'); --no-logs: the ledger only")
    tr.add_argument("--no-logs", action="store_true", help="the ledger's trail only, no Ray")
    tr.add_argument("--json", action="store_true", help="one JSON object")
    sv = sub.add_parser("serve", help="deploy the HTTP API on Ray Serve and stay up")
    sv.add_argument("config", nargs="?", default="config.yaml")
    sv.add_argument("--address", help="Ray address to join ('auto': the local ray start "
                                      "cluster); default: config, RAY_ADDRESS, else embedded")
    sv.add_argument("--host", help="bind address (default: serve.host, 127.0.0.1)")
    sv.add_argument("--port", type=int, help="port (default: serve.port, 8000)")
    sv.add_argument("--detach", action="store_true",
                    help="on a cluster: deploy, leave it running and exit")
    sv.add_argument("--json", action="store_true", help="print where it serves as JSON")
    tk = sub.add_parser("token", help="print an API token signed with the configured key")
    tk.add_argument("config", nargs="?", default="config.yaml")
    tk.add_argument("--subject", required=True, help="who the token is for")
    tk.add_argument("--role", required=True, choices=["admin", "operator", "agent", "viewer"])
    tk.add_argument("--ttl", help="lifetime: 90, 30s, 15m, 1h, 2d (default: auth.default_ttl_s)")
    au = sub.add_parser("audit", help="the audit log")
    au_sub = au.add_subparsers(dest="audit_command", required=True)
    av = au_sub.add_parser("verify", help="check the audit log's hash chain")
    av.add_argument("config", nargs="?", default="config.yaml")
    av.add_argument("--url", help="audit database URL (default: serve.audit_url, else the "
                                  "ledger's)")
    return p


def _jobs_parser(sub: Any) -> None:
    sm = sub.add_parser("submit", help="run a Python script as a Ray job (Jobs API), "
                                       "stream its logs, exit with its status")
    sm.add_argument("script", help="the script, relative to the working directory")
    sm.add_argument("script_args", nargs=argparse.REMAINDER,
                    help="arguments for the script: everything after SCRIPT (so the "
                         "command's own options come before it)")
    jb = sub.add_parser("jobs", help="list the cluster's Ray jobs")
    for p in (sm, jb):
        p.add_argument("--address", help="Jobs API URL (default: RAY_API_SERVER_ADDRESS, an "
                                         "http RAY_ADDRESS, else http://127.0.0.1:8265)")
        p.add_argument("--token-file", help="Ray's auth token (sets RAY_AUTH_MODE=token)")
        p.add_argument("--json", action="store_true", help="JSON for scripts")
    sm.add_argument("--working-dir", default=".", help="uploaded with the job (default: .)")
    sm.add_argument("--no-wait", action="store_true", help="submit and exit")


def _swarm_parser(sub: Any) -> None:
    sw = sub.add_parser("swarm", help="run a swarm optimiser (PSO, ABC, ACO on a TSPLIB file)")
    algos = sw.add_subparsers(dest="algorithm", required=True)
    for name, text in (("pso", "particle swarm on a benchmark function"),
                       ("abc", "artificial bee colony on a benchmark function"),
                       ("aco", "ant colony on a TSPLIB instance")):
        a = algos.add_parser(name, help=text)
        if name == "aco":
            a.add_argument("tsp", help="TSPLIB file (.tsp)")
            a.add_argument("--optimum", type=float, help="known optimal length: gap and stop")
            a.add_argument("--ants", type=int, help="ants per iteration")
            a.add_argument("--time-limit", type=float, help="seconds (default 60)")
        else:
            a.add_argument("--function", default="rastrigin",
                           help="sphere, rastrigin, rosenbrock, ackley or griewank")
            a.add_argument("--dim", type=int, default=30, help="dimensions (default 30)")
            a.add_argument("--backend", choices=["auto", "inprocess", "ray"], default="auto",
                           help="fitness evaluation (ray: Ray tasks on a local or RAY_ADDRESS "
                                "Ray)")
            if name == "pso":
                a.add_argument("--particles", type=int, help="swarm size (default 40)")
            else:
                a.add_argument("--sources", type=int, help="food sources (default 25)")
        a.add_argument("--iterations", type=int,
                       help="iterations (default 1000; ACO: until stagnation or time limit)")
        a.add_argument("--seed", type=int, help="random seed (reproducible runs)")
        a.add_argument("--plot", metavar="PNG", help="write a convergence plot (and the tour)")
        a.add_argument("--json", action="store_true", help="print the result as one JSON object")


def _load(path: str) -> Any:
    from pathlib import Path

    from cluster.config import load_config, parse_config

    return load_config(path) if Path(path).exists() or path != "config.yaml" else \
        parse_config({"agents": [{"id": "agent"}]}, source="(defaults)")


def _cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.table import Table

    from cluster.runner import run

    cfg = _load(args.config)
    if args.address:
        cfg.cluster.address = args.address
    err = Console(stderr=True)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  disable=args.json) as bar:
        job = bar.add_task("tasks", total=None)
        report = run(cfg, keep=args.keep,
                     on_progress=lambda done, total: bar.update(job, completed=done, total=total))
    if args.json:
        print(json.dumps(report, default=str))
        return 0 if report["ok"] else 1
    out = Console()
    if report["goals"]:
        table = Table(title="goals")
        for col in ("goal", "tasks", "done", "failed", "seconds"):
            table.add_column(col)
        for g in report["goals"]:
            table.add_row(*(str(g[c]) for c in ("goal", "tasks", "done", "failed", "seconds")))
        out.print(table)
    if "scenario" in report:
        out.print(_scenario_table(report["scenario"]))
    agents = Table(title="who did what")
    for col in ("agent", "type", "node", "tasks done", "senses"):
        agents.add_column(col)
    for a in report["agents"]:
        envs = (a.get("report") or {}).get("environments") or []
        agents.add_row(a["agent_id"], a["agent_type"], (a["node_id"] or "")[:8],
                       str(a["tasks_done"]), ", ".join(
                           f"{e['environment']} ({e['kind']}): {e['state']}, "
                           f"{e['published']} events" for e in envs))
    out.print(agents)
    for f in report["failures"]:
        out.print(f"[red]failed[/red] {f['task_id']} after {f['attempts']} attempt(s): "
                  f"{f['error']}")
    t = report["timings"]
    done = f"{report['done']}/{report['tasks']} tasks done"
    if "scenario" in report and not report["tasks"]:
        sc = report["scenario"]
        done = (f"{sc['plans'] - sc['plans_unfinished'] - sc['plans_failed']}/{sc['plans']} "
                "response plans done")
    out.print(f"{done}; spawn {t.get('spawn_s')}s, run {t.get('run_s')}s; "
              f"report: {report['report_path']}")
    return 0 if report["ok"] else 1


def _scenario_table(sc: dict[str, Any]) -> Any:
    """The monitoring scenario's scores: detections against the ground truth, delays."""
    from rich.table import Table

    table = Table(title="monitoring scenario")
    table.add_column("figure")
    table.add_column("value")
    delay, latency = sc["detection_delay_s"], sc["reading_to_alert_s"]
    for name, value in (
            ("readings", sc["readings"]), ("anomalies injected", sc["injected"]),
            ("incidents (scored source)", sc["incidents"]),
            ("detected / missed / false", f"{sc['true_positives']} / {sc['missed']} / "
                                          f"{sc['false_positives']}"),
            ("precision", sc["precision"]), ("recall", sc["recall"]),
            ("detection delay p50 / p95 s", f"{delay['p50']} / {delay['p95']}"),
            ("reading to alert p50 / p95 s", f"{latency['p50']} / {latency['p95']}"),
            ("response plans (unfinished, failed)",
             f"{sc['plans']} ({sc['plans_unfinished']}, {sc['plans_failed']})")):
        table.add_row(name, str(value))
    return table


def _cmd_inspect(args: argparse.Namespace) -> int:
    from agents.supervisor.client import SupervisorClient
    from cluster.connect import join_cluster

    cfg = _load(args.config)
    address = args.address or cfg.cluster.address or "auto"
    error = join_cluster(address, cfg.cluster.namespace)
    if error is not None:
        print(error, file=sys.stderr)
        return 1
    try:
        client = SupervisorClient(name=cfg.supervisor.name, namespace=cfg.cluster.namespace)
    except ValueError:
        print(f"raymas: no Supervisor {cfg.supervisor.name!r} is running at {address}",
              file=sys.stderr)
        return 1
    data: Any = client.list_agents()  # `raymas agents`; status has its own command
    print(json.dumps(data, indent=None if args.json else 2, default=str))
    return 0


def _cmd_trace(args: argparse.Namespace) -> int:
    from cluster.trace_command import collect_trace, render_trace

    cfg = _load(args.config)
    if not args.no_logs:
        from cluster.connect import join_cluster

        error = join_cluster(args.address or cfg.cluster.address or "auto",
                             cfg.cluster.namespace)
        if error is not None:
            print(error, file=sys.stderr)
            return 1
    try:
        trail = collect_trace(args.task_id, cfg.ledger.url, logs=not args.no_logs)
    except LookupError as exc:
        print(f"raymas: {exc.args[0]}", file=sys.stderr)
        return 1
    print(json.dumps(trail, default=str) if args.json else render_trace(trail))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # "module:function" names in a config (task kinds, cost functions, roles) resolve from
    # the directory raymas runs in, as with ``python -m``; Ray's workers get the
    # driver's path, so they resolve them too
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from messaging.errors import RaymasError

    try:
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "submit":
            from cluster.jobs_command import submit_job

            return submit_job(args.script, args.script_args, address=args.address,
                              working_dir=args.working_dir, wait=not args.no_wait,
                              token_file=args.token_file, as_json=args.json)
        if args.command == "jobs":
            from cluster.jobs_command import list_jobs

            return list_jobs(address=args.address, token_file=args.token_file,
                             as_json=args.json)
        if args.command == "serve":
            from cluster.serve_command import run_serve

            cfg = _load(args.config)
            if args.address:
                cfg.cluster.address = args.address
            return run_serve(cfg, host=args.host, port=args.port, as_json=args.json,
                             detach=args.detach)
        if args.command == "token":
            from cluster.token_command import token_command

            print(token_command(_load(args.config).serve.auth, args.subject, args.role,
                                args.ttl))
            return 0
        if args.command == "audit":
            from cluster.audit_command import audit_verify

            cfg = _load(args.config)
            code, message = audit_verify(args.url or cfg.audit_url())
            print(message, file=sys.stdout if code == 0 else sys.stderr)
            return code
        if args.command == "swarm":
            from cluster.swarm_command import run_swarm

            return run_swarm(args)
        if args.command == "trace":
            return _cmd_trace(args)
        if args.command == "status":
            from cluster.status_command import status_command

            return status_command(_load(args.config), args.address, as_json=args.json)
        return _cmd_inspect(args)
    except RaymasError as exc:
        print(f"raymas: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
