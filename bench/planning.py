"""Planning and plan-execution figures: GOAP on blocks world, HTN decomposition, DAG overhead.

    python bench/planning.py [--quick]

- ``goap_blocks_<n>_ms``: forward A* (goal-count heuristic) on random
  blocks-world instances of ``n`` blocks, median over seeds; the baseline is
  uniform-cost search (the zero heuristic) on the same instances, where it
  ends in reasonable time.  Every plan is replayed and checked valid, and its
  cost equal to the baseline's (optimal).
- ``goap_regress_blocks_<n>_ms``: the same by regression (backward A*), with
  regression under the zero heuristic as baseline where feasible.
- ``htn_plan_<n>_primitives_ms``: decomposing a recursive ETL domain into a
  DAG of ``n`` primitive tasks (each shard's method list starts with one whose
  precondition fails, so every shard backtracks once).
- ``dag_overhead_ratio_vs_ray``: wall time of 10,000 ``noop`` tasks as a layered
  DAG (every task waits for two of the previous layer) through
  :func:`agents.execution.run.run_graph` versus the same graph submitted as plain Ray
  tasks with the same ObjectRef dependencies (and, like the executor's nodes,
  no crash retries), alternating; the median of the per-run ratios.  Also with
  a progress callback, and as microseconds per task.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.pop(0)  # this folder: its http.py would shadow the standard library's http
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ray

from agents.execution.run import run_graph
from agents.planning import Domain, Method, Operator, TaskGraph, TaskNode, plan_htn
from agents.planning.domains import blocks
from agents.planning.goap import SearchResult, search
from bench._common import emit, log, start

B = "planning"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def goap(n: int, seeds: int, regress: bool, baseline_upto: int) -> None:
    acts = blocks.actions(blocks.block_names(n))
    times: list[float] = []
    base: list[float] = []
    found: list[SearchResult] = []
    optimal = True
    for seed in range(seeds):
        start_state, goal = blocks.random_instance(n, seed)
        took, res = timed(lambda s=start_state, g=goal: search(s, g, acts, regress=regress))
        if not blocks.valid(res.actions, start_state, goal):
            raise SystemExit(f"blocks {n} seed {seed}: invalid plan")
        times.append(took)
        found.append(res)
        if n <= baseline_upto:
            b_took, b_res = timed(lambda s=start_state, g=goal: search(
                s, g, acts, regress=regress, heuristic="zero"))
            base.append(b_took)
            optimal = optimal and b_res.cost == res.cost
    name = f"goap_regress_blocks_{n}_ms" if regress else f"goap_blocks_{n}_ms"
    extra: dict[str, Any] = {
        "seeds": seeds, "plan_cost_median": statistics.median(r.cost for r in found),
        "expanded_median": statistics.median(r.expanded for r in found)}
    if base:
        extra.update(baseline=round(statistics.median(base) * 1e3, 3),
                     baseline_name="uniform-cost search (zero heuristic)",
                     ratio=round(statistics.median(times) / statistics.median(base), 3),
                     optimal=optimal)
    log(f"{name}: {statistics.median(times) * 1e3:.1f} ms")
    emit(B, name, statistics.median(times) * 1e3, "ms", **extra)


def etl_domain() -> Domain:
    d = Domain("etl")
    for op in ("fetch", "clean", "transform", "load", "report"):
        d.register_operator(Operator(op, kind="noop"))
    d.register_method(Method("cached", "shard", ["load"], precondition={"cache": "warm"}))
    d.register_method(Method("full", "shard", [("fetch", {"shard": "{lo}"}), "clean",
                                               "transform", "load"]))

    @d.method("process", name="split", parallel=True)
    def split(state: Any, args: Any) -> list[Any] | None:
        lo, hi = args["lo"], args["hi"]
        if hi - lo < 2:
            return None
        mid = (lo + hi) // 2
        return [("process", {"lo": lo, "hi": mid}), ("process", {"lo": mid, "hi": hi})]

    d.register_method(Method("leaf", "process", [("shard", {"lo": "{lo}"})]))
    d.register_method(Method("etl", "etl", [("process", {"lo": 0, "hi": "{shards}"}), "report"]))
    return d


def htn(shards: int, runs: int) -> None:
    d = etl_domain()
    times = []
    for _ in range(runs):
        took, graph = timed(lambda: plan_htn(d, {"cache": "cold"}, [("etl", {"shards": shards})]))
        times.append(took)
    n = len(graph)
    if n != 4 * shards + 1:
        raise SystemExit(f"htn: {n} primitives, expected {4 * shards + 1}")
    ms = statistics.median(times) * 1e3
    log(f"htn {n} primitives: {ms:.0f} ms")
    emit(B, f"htn_plan_{n}_primitives_ms", ms, "ms", runs=runs,
         us_per_primitive=round(ms * 1e3 / n, 2),
         compound_tasks=len(graph.meta["htn"]["compounds"]), levels=len(graph.levels()))


def layered(width: int, depth: int) -> TaskGraph:
    nodes = [TaskNode(f"n{k}.{j}", "noop",
                      depends_on=() if k == 0 else (f"n{k - 1}.{j}", f"n{k - 1}.{(j + 1) % width}"))
             for k in range(depth) for j in range(width)]
    return TaskGraph(nodes)


@ray.remote(max_retries=0)  # as the executor submits nodes that have retries=0
def plain_noop(*_: Any) -> None:
    return None


def plain_ray(graph: TaskGraph) -> float:
    """The same graph as plain Ray tasks: same order, same ObjectRef dependencies."""
    gc.collect()
    t = time.perf_counter()
    refs: dict[str, Any] = {}
    nodes = graph.nodes
    for nid in graph.topological_order():
        refs[nid] = plain_noop.remote(*[refs[d] for d in nodes[nid].depends_on])
    every = list(refs.values())
    ray.wait(every, num_returns=len(every), fetch_local=False)
    return time.perf_counter() - t


def through_executor(graph: TaskGraph, progress: bool) -> float:
    """``run_graph`` as a user calls it: validation included, the sinks fetched."""
    seen: list[int] = []
    gc.collect()
    t = time.perf_counter()
    run = run_graph(graph, on_progress=(lambda d, f, n, ids: seen.append(d)) if progress
                    else None)
    took = time.perf_counter() - t
    if not run.report().ok:
        raise SystemExit(f"executor run not ok: {run.report().counts()}")
    return took


def dag_overhead(width: int, depth: int, runs: int) -> None:
    """Runs alternate which side goes first; the ratio is the median of the per-run ratios.

    On a busy 2-core machine the load drifts between runs; comparing each
    executor run with the plain run next to it cancels most of that drift.
    """
    graph = layered(width, depth)
    n = len(graph)
    through_executor(layered(50, 10), False)  # start the workers, import the task module
    plain_ray(layered(50, 10))
    plain: list[float] = []
    ours: list[float] = []
    ours_progress: list[float] = []
    for r in range(runs):
        if r % 2:
            ours.append(through_executor(graph, False))
            ours_progress.append(through_executor(graph, True))
            plain.append(plain_ray(graph))
        else:
            plain.append(plain_ray(graph))
            ours_progress.append(through_executor(graph, True))
            ours.append(through_executor(graph, False))
        log(f"run {r}: plain {plain[-1]:.2f}s, run_graph {ours[-1]:.2f}s, "
            f"with progress {ours_progress[-1]:.2f}s")
    ratios = [o / p for o, p in zip(ours, plain, strict=True)]
    ratios_progress = [o / p for o, p in zip(ours_progress, plain, strict=True)]
    p, o, op = (statistics.median(x) for x in (plain, ours, ours_progress))
    shape = {"tasks": n, "layers": depth, "width": width, "runs": runs}
    emit(B, "dag_overhead_ratio_vs_ray", statistics.median(ratios), "ratio", target=1.25,
         better="lower", seconds=round(o, 3), plain_ray_seconds=round(p, 3),
         ratio_min=round(min(ratios), 3), ratio_max=round(max(ratios), 3), **shape)
    emit(B, "dag_overhead_ratio_vs_ray_with_progress", statistics.median(ratios_progress),
         "ratio", target=1.25, better="lower", seconds=round(op, 3),
         plain_ray_seconds=round(p, 3), ratio_min=round(min(ratios_progress), 3),
         ratio_max=round(max(ratios_progress), 3), interval_s=0.2, **shape)
    emit(B, "dag_us_per_task", o / n * 1e6, "us", baseline=p / n * 1e6,
         baseline_name="plain ray tasks, same graph", **shape)
    emit(B, "dag_overhead_us_per_task", (o - p) / n * 1e6, "us", **shape)


def main() -> None:
    quick = start(__doc__ or "")
    seeds = 3 if quick else 7
    for n in range(4, 9):
        goap(n, seeds, regress=False, baseline_upto=7 if quick else 8)
    for n in range(4, 9):
        goap(n, seeds, regress=True, baseline_upto=5 if quick else 6)
    htn(500 if quick else 2500, 3)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    dag_overhead(100, 100, 3 if quick else 7)
    ray.shutdown()


if __name__ == "__main__":
    main()
