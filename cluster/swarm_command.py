"""What ``raymas swarm pso|abc|aco`` does once its arguments are parsed.

The parser lives in :mod:`cluster.cli` (so ``raymas --help`` imports neither
NumPy nor Ray); this module runs the search with a rich progress bar on stderr,
prints a summary or (``--json``) one JSON object on stdout, and draws the
optional PNG.  Ray is started only for ``--backend ray``: joined at
``RAY_ADDRESS`` when that is set, otherwise a local Ray with 2 CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from swarm.errors import SwarmError
from swarm.framework import SwarmIntelligenceFramework, SwarmObjective, TSPObjective
from swarm.objectives import get_benchmark

__all__ = ["run_swarm"]


def _objective(args: argparse.Namespace) -> tuple[Any, str]:
    if args.algorithm == "aco":
        objective = TSPObjective(args.tsp, args.optimum)
        return objective, f"ACO {objective.load().name} ({objective.load().dimension} cities)"
    bench = get_benchmark(args.function)
    if args.dim < 1:
        raise SwarmError(f"--dim must be >= 1, got {args.dim}")
    return SwarmObjective(fitness_function=bench.fn, dimensions=args.dim, vectorised=True,
                          bounds=(bench.lower, bench.upper)), (
        f"{args.algorithm.upper()} {bench.name} in {args.dim} dims")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    if args.algorithm == "pso" and args.particles is not None:
        return {"n_particles": args.particles}
    if args.algorithm == "abc" and args.sources is not None:
        return {"n_sources": args.sources}
    if args.algorithm == "aco" and args.ants is not None:
        return {"n_ants": args.ants}
    return {}


def _connect_ray() -> None:
    from cluster.config import ClusterSection
    from cluster.connect import connect

    connect(ClusterSection.model_validate(
        {"address": os.environ.get("RAY_ADDRESS") or None, "num_cpus": 2, "dashboard": False}))


def run_swarm(args: argparse.Namespace) -> int:
    """Run ``raymas swarm`` as parsed by :mod:`cluster.cli`; returns the exit status."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    objective, label = _objective(args)
    backend = getattr(args, "backend", "inprocess")
    if backend == "ray":
        _connect_ray()
    swarm = SwarmIntelligenceFramework(args.algorithm, backend=backend, seed=args.seed,
                                       options=_options(args))
    iterations = args.iterations
    if iterations is None and args.algorithm != "aco":
        iterations = 1000
    err = Console(stderr=True)
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  "best {task.fields[best]}", TimeElapsedColumn(), console=err,
                  disable=args.json) as bar:
        job = bar.add_task(label, total=iterations, best="-")

        def progress(stats: Any) -> None:
            best = getattr(stats, "best_length", None)
            best = stats.best_fitness if best is None else best
            bar.update(job, completed=stats.iteration, best=f"{best:.6g}")

        result = swarm.optimize_sync(objective, iterations, progress,
                                     time_limit=getattr(args, "time_limit", None))
    if args.plot:
        from swarm.plot import plot_result

        coords = objective.load().coords if isinstance(objective, TSPObjective) else None
        plot_result(result, args.plot, title=label, coords=coords)
    if args.json:
        common = ["evaluations", "seconds", "iterations", "stop_reason"]
        keys = (["best_length", "tour", *common, "seconds_to_best", "optimum", "gap_pct"]
                if args.algorithm == "aco" else
                ["best_fitness", "best_position", *common, "backend"])
        row = {"algorithm": args.algorithm, "seed": args.seed,
               **{k: result[k] for k in keys if k in result}}
        print(json.dumps(row))
        return 0
    out = Console()
    if args.algorithm == "aco":
        gap = f" (gap {result['gap_pct']:.2f} %)" if "gap_pct" in result else ""
        out.print(f"{label}: best length {result['best_length']:g}{gap} after "
                  f"{result['iterations']} iterations, {result['seconds']:.2f} s "
                  f"({result['stop_reason']})")
    else:
        out.print(f"{label}: best fitness {result['best_fitness']:.6g} after "
                  f"{result['evaluations']} evaluations, {result['seconds']:.2f} s "
                  f"(backend {result['backend']})")
    if args.plot:
        out.print(f"plot: {args.plot}")
    return 0
