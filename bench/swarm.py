"""Swarm figures: PSO quality and speed against pyswarms, ACO gaps on TSPLIB, Ray evaluation.

    python bench/swarm.py [--quick]

* ``pso_<function>_mean_best`` / ``pso_<function>_us_per_iter``: our global-best
  PSO (default options) and pyswarms' ``GlobalBestPSO`` (c1=0.5, c2=0.3, w=0.9),
  both 40 particles x the same iterations in 30 dimensions, over the same seeds,
  run here (pyswarms is the baseline; without it those lines are skipped).
* ``aco_<instance>_gap_pct`` (mean tour's gap to the optimum over the seeds) and
  ``aco_<instance>_mean_length`` (baseline: the known optimum), default options;
  each run stops at the optimum, 60 s (quick: 10 s) or 250 stale iterations.
* ``ray_eval_speedup``: 40 rows of a ~20 ms CPU-bound objective, serial in
  process versus :class:`~swarm.ray_eval.RayEvaluator` on a local 2-CPU Ray.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.pop(0)  # this folder: its http.py would shadow the standard library's http
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench._common import emit, log, start
from swarm import (
    BENCHMARKS,
    PSO,
    SerialEvaluator,
    SwarmIntelligenceFramework,
    TSPObjective,
    VectorisedEvaluator,
)

B = "swarm"
DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "tsplib"  # from ../shared/data
FUNCTIONS = ["sphere", "rastrigin", "rosenbrock", "ackley", "griewank"]
INSTANCES = {"eil51": 1.0, "berlin52": 1.0, "st70": 2.0}  # target gap in %


def pyswarms_run(name: str, dim: int, particles: int, iters: int, seed: int) -> tuple[float, float]:
    import pyswarms

    bench = BENCHMARKS[name]
    np.random.seed(seed)  # pyswarms draws from NumPy's global generator
    opt = pyswarms.single.GlobalBestPSO(
        n_particles=particles, dimensions=dim, options={"c1": 0.5, "c2": 0.3, "w": 0.9},
        bounds=(np.full(dim, bench.lower), np.full(dim, bench.upper)))
    t = time.perf_counter()
    cost, _ = opt.optimize(bench.fn, iters=iters, verbose=False)
    return float(cost), time.perf_counter() - t


def ours_run(name: str, dim: int, particles: int, iters: int, seed: int) -> tuple[float, float]:
    from swarm import PSOOptions

    bench = BENCHMARKS[name]
    pso = PSO(bench.problem(dim), VectorisedEvaluator(bench.fn), PSOOptions(n_particles=particles),
              rng=seed)
    res = pso.run(iters)
    return res.best_fitness, res.seconds


def bench_pso(quick: bool) -> None:
    try:
        import logging

        import pyswarms  # noqa: F401

        logging.getLogger("pyswarms").setLevel(logging.WARNING)
    except ImportError:
        log("pyswarms is not installed (pip install 'raymas[bench]'): PSO figures skipped")
        return
    dim, particles = 30, 40
    iters, seeds = (300, 5) if quick else (1000, 30)
    log(f"PSO: {len(FUNCTIONS)} functions x {seeds} seeds, {particles} particles x {iters} "
        f"iterations in {dim} dims")
    for name in FUNCTIONS:
        ours = [ours_run(name, dim, particles, iters, s) for s in range(seeds)]
        theirs = [pyswarms_run(name, dim, particles, iters, s) for s in range(seeds)]
        mean_o, mean_t = (statistics.fmean(r[0] for r in rs) for rs in (ours, theirs))
        common: dict[str, Any] = {"seeds": seeds, "iterations": iters, "particles": particles,
                                  "dim": dim}
        emit(B, f"pso_{name}_mean_best", mean_o, "fitness", baseline=mean_t,
             baseline_name="pyswarms GlobalBestPSO", target=round(mean_t, 6), better="lower",
             median=round(statistics.median(r[0] for r in ours), 6),
             baseline_median=round(statistics.median(r[0] for r in theirs), 6), **common)
        us_o, us_t = (1e6 * sum(r[1] for r in rs) / (seeds * iters) for rs in (ours, theirs))
        emit(B, f"pso_{name}_us_per_iter", us_o, "us", baseline=us_t,
             baseline_name="pyswarms GlobalBestPSO", target=round(us_t, 3), better="lower",
             **common)


def bench_aco(quick: bool) -> None:
    seeds, limit = (2, 10.0) if quick else (10, 60.0)
    optima = dict(line.split() for line in (DATA / "OPTIMA.txt").read_text().splitlines()
                  if line.strip())
    for name, target in INSTANCES.items():
        opt = float(optima[name])
        objective = TSPObjective(DATA / f"{name}.tsp", optimum=opt)
        runs = [SwarmIntelligenceFramework("aco", seed=s).optimize_sync(objective,
                                                                        time_limit=limit)
                for s in range(seeds)]
        lengths = [r["best_length"] for r in runs]
        mean_len, best_len = statistics.fmean(lengths), min(lengths)
        to_best = statistics.fmean(r["seconds_to_best"] for r in runs)
        log(f"ACO {name}: best {best_len:g}, mean {mean_len:g}, optimum {opt:g}, "
            f"{to_best:.2f} s to the best on average")
        extra: dict[str, Any] = {"seeds": seeds, "best_length": best_len, "mean_length": mean_len,
                                 "optimum": opt,
                                 "best_gap_pct": round(100 * (best_len - opt) / opt, 3),
                                 "mean_seconds_to_best": round(to_best, 3),
                                 "max_seconds": round(max(r["seconds"] for r in runs), 3),
                                 "time_limit_s": limit}
        emit(B, f"aco_{name}_gap_pct", 100 * (mean_len - opt) / opt, "%", target=target,
             better="lower", **extra)
        emit(B, f"aco_{name}_mean_length", mean_len, "length", baseline=opt,
             baseline_name="known optimum", target=round(opt * (1 + target / 100), 3),
             better="lower", seeds=seeds, mean_seconds_to_best=round(to_best, 3))


def spin(n: int) -> int:
    acc = 0
    for i in range(n):
        acc += i * i
    return acc


def calibrate(seconds: float) -> int:
    """Loop count for which :func:`spin` burns about ``seconds`` of CPU here."""
    n = 20_000
    while True:
        t = time.perf_counter()
        spin(n)
        took = time.perf_counter() - t
        if took > 0.01:
            return max(1, int(n * seconds / took))
        n *= 4


class BusyObjective:
    """About 20 ms of real CPU work per row (no sleeping), then the row's sum."""

    def __init__(self, loops: int) -> None:
        self.loops = loops

    def __call__(self, p: np.ndarray) -> float:
        spin(self.loops)
        return float(np.sum(p))


def bench_ray_eval(quick: bool) -> None:
    import ray

    from swarm import RayEvaluator

    rows, reps = (20, 2) if quick else (40, 5)
    fn = BusyObjective(calibrate(0.02))
    x = np.random.default_rng(0).random((rows, 10))
    serial = SerialEvaluator(fn)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        par = RayEvaluator(fn, chunks=2)
        par(x)  # start the workers before timing
        t_par, t_ser = [], []
        for _ in range(reps):
            t = time.perf_counter()
            got = par(x)
            t_par.append(time.perf_counter() - t)
            t = time.perf_counter()
            want = serial(x)
            t_ser.append(time.perf_counter() - t)
            if got.tolist() != want.tolist():
                raise SystemExit("Ray evaluation differs from serial evaluation")
    finally:
        ray.shutdown()
    ser, pa = statistics.median(t_ser), statistics.median(t_par)
    log(f"ray eval: {rows} rows, serial {ser * 1e3:.0f} ms, 2 Ray tasks {pa * 1e3:.0f} ms")
    emit(B, "ray_eval_speedup", ser / pa, "x", target=1.7, better="higher",
         serial_ms=round(ser * 1e3, 1), ray_ms=round(pa * 1e3, 1), rows=rows,
         ms_per_row=round(ser * 1e3 / rows, 2), cpus=2)


def main() -> None:
    quick = start(__doc__ or "")
    bench_pso(quick)
    if (DATA / "OPTIMA.txt").is_file():
        bench_aco(quick)
    else:
        log(f"no TSPLIB data at {DATA}: ACO figures skipped")
    bench_ray_eval(quick)


if __name__ == "__main__":
    main()
