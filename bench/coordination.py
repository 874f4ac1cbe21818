"""Allocation quality: every strategy's total cost and makespan against the optimum.

    python bench/coordination.py [--quick] [--only cores,ray]

Seeded random instances in the unit square: agents at their bases, tasks at
delivery points, the cost of a task to an agent the distance between them
(each delivery a trip from the agent's base, so costs add up and the exact
optimum is computable).  Sizes ``20x20`` (one task per agent), ``50x200``
(four per agent) and ``100x1000`` (ten per agent).

For each size and strategy, averaged over seeds:

- ``allocation_cost_ratio_<strategy>_<size>``: total cost over the optimum's,
  the optimum computed in the same run by ``scipy.optimize.linear_sum_assignment``
  on the cost matrix with each agent's row repeated once per slot (exact for
  additive costs), independently of the ``optimal`` strategy's own solver.
  The line also gives the makespan (the largest total cost one agent carries)
  beside the optimum's and the strategy's allocations/s.
- Strategies run as the pure cores the Supervisor and the agents run, on the
  bids agents would make (each agent bids its cost for every task):
  ``optimal``; ``ssi`` (sequential single-item auctions — on costs that add up
  every re-bid equals the first bid — then task exchanges, as the strategy
  does); ``cbba`` (the bundle algorithm over a complete neighbour graph in
  synchronous rounds, then the exchanges every member computes alike);
  ``ssi_without_exchanges`` and ``cbba_without_exchanges`` (the auctions
  alone: both are the greedy assignment here); ``contract_net``,
  ``first_price`` and ``vickrey`` (task by task, best bid wins); and for
  reference the load balancers ``least_loaded`` and ``power_of_two``, which
  ignore costs.
- ``allocation_cost_ratio_<strategy>_20x20_on_ray`` (part ``ray``): the same
  20 x 20 instances through a real Supervisor and 20 agent actors bidding with
  their cost function, and allocations/s from submit to every task run.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.pop(0)  # this folder: its http.py would shadow the standard library's http
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from scipy.optimize import linear_sum_assignment

from agents.protocols import AgentView, Proposal, TaskView, get_strategy
from agents.protocols.assignment import makespan
from agents.protocols.cbba import CbbaAgent, run_cbba
from agents.protocols.exchanges import improve
from agents.protocols.ssi import ssi
from bench._common import emit, log, selected_parts, start

B = "coordination"
PARTS = ("cores", "ray")
SIZES = {"20x20": (20, 20, 1), "50x200": (50, 200, 4), "100x1000": (100, 1000, 10)}
#: the issue's targets: (strategy, sizes) -> ratio to the optimum
TARGETS = {("optimal", None): 1.0, ("ssi", ("20x20", "50x200")): 1.10,
           ("cbba", ("20x20", "50x200")): 1.10, ("contract_net", None): 1.25}
PROPOSAL_STRATEGIES = ("optimal", "contract_net", "first_price", "vickrey",
                       "least_loaded", "power_of_two")


def instance(n_agents: int, n_tasks: int, seed: int) -> np.ndarray:
    """Cost matrix (agents x tasks): distances between random points in the unit square."""
    rng = np.random.default_rng(seed)
    bases, points = rng.random((n_agents, 2)), rng.random((n_tasks, 2))
    return np.asarray(np.linalg.norm(bases[:, None, :] - points[None, :, :], axis=2))


def optimum(costs: np.ndarray, cap: int) -> tuple[float, dict[int, int]]:
    """The exact optimum: one row per agent slot, Hungarian-style assignment."""
    rows = np.repeat(np.arange(costs.shape[0]), cap)
    r, c = linear_sum_assignment(costs[rows])
    return float(costs[rows][r, c].sum()), {int(t): int(rows[i]) for i, t in zip(r, c,
                                                                             strict=True)}


def names(costs: np.ndarray) -> tuple[list[str], list[str]]:
    return ([f"a{i:03d}" for i in range(costs.shape[0])],
            [f"t{j:04d}" for j in range(costs.shape[1])])


def by_proposals(name: str, costs: np.ndarray, cap: int, seed: int) -> dict[int, int]:
    agents, tasks = names(costs)
    views = {a: AgentView(a, frozenset({"x"}), cap) for a in agents}
    proposals = {t: [Proposal(t, a, float(costs[i, j])) for i, a in enumerate(agents)]
                 for j, t in enumerate(tasks)}
    tviews = [TaskView(t, ("x",), 1, float(j)) for j, t in enumerate(tasks)]
    out = get_strategy(name).allocate(tviews, views, proposals, np.random.default_rng(seed))
    return {tasks.index(a.task_id): agents.index(a.agent_id) for a in out.awards}


def by_ssi_plain(costs: np.ndarray, cap: int, seed: int) -> dict[int, int]:
    agents, tasks = names(costs)
    a_ix, t_ix = {a: i for i, a in enumerate(agents)}, {t: j for j, t in enumerate(tasks)}
    won = ssi(tasks, dict.fromkeys(agents, cap),
              lambda agent, held, task: float(costs[a_ix[agent], t_ix[task]]))
    return {t_ix[t]: a_ix[a] for t, a in won.items()}


def by_cbba(costs: np.ndarray, cap: int, seed: int, exchanges: bool = True
            ) -> dict[int, int]:
    agents, tasks = names(costs)
    t_ix = {t: j for j, t in enumerate(tasks)}

    def marginal(row: np.ndarray) -> Callable[[Any, str], tuple[float, int]]:
        return lambda path, task: (float(row[t_ix[task]]), len(path))

    members = {a: CbbaAgent(a, tasks, cap, marginal(costs[i])) for i, a in enumerate(agents)}
    everyone = {a: [b for b in agents if b != a] for a in agents}
    result = run_cbba(members, everyone)
    if not result.converged:
        log(f"cbba did not converge in {result.rounds} rounds")
    pairs = {t_ix[t]: agents.index(a) for t, a in result.assignment.items()}
    if exchanges:  # what every member computes alike once they agree (costs add up here)
        pairs, _ = improve(pairs, costs, [cap] * len(agents))
    return pairs


def proposal_runner(name: str) -> Callable[[np.ndarray, int, int], dict[int, int]]:
    return lambda costs, cap, seed: by_proposals(name, costs, cap, seed)


RUNNERS: dict[str, Callable[[np.ndarray, int, int], dict[int, int]]] = {
    "ssi": proposal_runner("ssi"), "ssi_without_exchanges": by_ssi_plain, "cbba": by_cbba,
    "cbba_without_exchanges": lambda costs, cap, seed: by_cbba(costs, cap, seed, False),
    **{n: proposal_runner(n) for n in PROPOSAL_STRATEGIES}}


def measure(size: str, seeds: int, strategies: list[str]) -> None:
    n_agents, n_tasks, cap = SIZES[size]
    rows: dict[str, dict[str, list[float]]] = {s: {"ratio": [], "makespan": [], "rate": [],
                                                   "assigned": []} for s in strategies}
    opt_spans, opt_costs = [], []
    for seed in range(seeds):
        costs = instance(n_agents, n_tasks, seed)
        best, best_pairs = optimum(costs, cap)
        opt_costs.append(best)
        opt_spans.append(makespan(costs, best_pairs))
        for name in strategies:
            t0 = time.perf_counter()
            pairs = RUNNERS[name](costs, cap, seed)
            took = time.perf_counter() - t0
            _check(name, pairs, costs.shape, cap)
            total = float(sum(costs[a, t] for t, a in pairs.items()))
            row = rows[name]
            row["ratio"].append(total / best if len(pairs) == n_tasks else float("inf"))
            row["makespan"].append(makespan(costs, pairs))
            row["rate"].append(len(pairs) / took)
            row["assigned"].append(len(pairs))
    for name in strategies:
        row = rows[name]
        target = next((v for (s, only), v in TARGETS.items()
                       if s == name and (only is None or size in only)), None)
        emit(B, f"allocation_cost_ratio_{name}_{size}", statistics.mean(row["ratio"]),
             "x optimum", baseline=1.0, baseline_name="optimum (linear_sum_assignment, "
             "same instances)", target=target, better="lower" if target else None,
             optimum_cost=round(statistics.mean(opt_costs), 3),
             makespan=round(statistics.mean(row["makespan"]), 3),
             optimum_makespan=round(statistics.mean(opt_spans), 3),
             allocations_per_s=round(statistics.mean(row["rate"]), 1),
             worst_ratio=round(max(row["ratio"]), 3), seeds=seeds,
             tasks_assigned=min(row["assigned"]), tasks=n_tasks)


def _check(name: str, pairs: Mapping[int, int], shape: tuple[int, int], cap: int) -> None:
    """Every allocation must be a real one: known tasks, capacities kept."""
    per_agent = np.bincount(np.fromiter(pairs.values(), dtype=int), minlength=shape[0])
    if (per_agent > cap).any() or any(not 0 <= t < shape[1] for t in pairs):
        raise AssertionError(f"{name}: an invalid allocation")


def on_ray(size: str, seeds: int, strategies: Sequence[str]) -> None:
    """The same instances through a real Supervisor and agent actors on Ray: agents at their
    bases bid with the cost function ``examples.fleet:travel``; each seed's tasks go in as
    one batch per strategy (``strategy`` on the task), from submit until every task ran."""
    import ray

    from agents import TaskAllocation
    from agents.supervisor.client import SupervisorClient, start_supervisor

    n_agents, n_tasks, cap = SIZES[size]
    ray.init(num_cpus=2, include_dashboard=False, namespace="raymas-bench",
             log_to_driver=False)
    try:
        sup = SupervisorClient(start_supervisor({
            "name": "bench-coordination", "namespace": "raymas-bench", "fresh": True,
            "ledger_url": "sqlite:///.raymas/bench-coordination.db", "cfp_fanout": 0,
            "agent_start_timeout_s": 300, "heartbeat_timeout_s": 30}))
        rows: dict[str, dict[str, list[float]]] = {s: {"ratio": [], "rate": []}
                                                   for s in strategies}
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            bases, points = rng.random((n_agents, 2)), rng.random((n_tasks, 2))
            costs = np.linalg.norm(bases[:, None, :] - points[None, :, :], axis=2)
            best, _ = optimum(costs, cap)
            agents, tasks = names(costs)
            sup.spawn([{"agent_id": f"{a}-{seed}", "max_tasks": cap,
                        "heartbeat_interval_s": 5.0, "cost": "examples.fleet:travel",
                        "state": {"position": [float(x) for x in bases[i]]}}
                       for i, a in enumerate(agents)])
            for name in strategies:
                batch = [TaskAllocation(f"{name}-{seed}-{t}", kind="noop", strategy=name,
                                        attributes={"location": [float(x) for x in points[j]]})
                         for j, t in enumerate(tasks)]
                t0 = time.perf_counter()
                done = sup.wait(sup.submit(batch), timeout_s=300)
                took = time.perf_counter() - t0
                won = {int(k.rsplit("-t", 1)[1]): agents.index(r["agent_id"].rsplit("-", 1)[0])
                       for k, r in done.items() if r["state"] == "done"}
                total = float(sum(costs[a, t] for t, a in won.items()))
                rows[name]["ratio"].append(total / best if len(won) == n_tasks else math.inf)
                rows[name]["rate"].append(len(won) / took)
            for a in agents:
                sup.deregister_agent(f"{a}-{seed}")
        for name in strategies:
            emit(B, f"allocation_cost_ratio_{name}_{size}_on_ray",
                 statistics.mean(rows[name]["ratio"]), "x optimum", baseline=1.0,
                 baseline_name="optimum (linear_sum_assignment, same instances)",
                 allocations_per_s=round(statistics.mean(rows[name]["rate"]), 1),
                 seeds=seeds, note="submit to every task run, one batch, agent actors")
    finally:
        ray.shutdown()


def main() -> None:
    quick = start(__doc__ or "", PARTS)
    only = selected_parts() or list(PARTS)
    everything = ["optimal", "ssi", "cbba", "ssi_without_exchanges", "cbba_without_exchanges",
                  *PROPOSAL_STRATEGIES[1:]]
    plan = ([("20x20", 3, everything), ("50x200", 2, everything)] if quick else
            [("20x20", 10, everything), ("50x200", 5, everything),
             ("100x1000", 2, everything)])
    if "cores" in only:
        for size, seeds, strategies in plan:
            log(f"{size}: {seeds} seeds, {', '.join(strategies)}")
            measure(size, seeds, strategies)
    if "ray" in only:
        log("20x20 through the Supervisor on Ray")
        on_ray("20x20", 1 if quick else 3, ["optimal", "ssi", "cbba", "contract_net"])


if __name__ == "__main__":
    main()
