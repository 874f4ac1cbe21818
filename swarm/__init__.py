"""Swarm intelligence as pure NumPy cores: PSO, ant colonies, bee colonies and boids.

Nothing here imports Ray: fitness goes through an :class:`~swarm.evaluate.Evaluator`
(any callable from an ``(n, dim)`` array of positions to ``n`` values), so a
parallel backend plugs in without touching the algorithms.  Every run takes a
seed or an ``np.random.Generator`` and is reproducible.
"""

from __future__ import annotations

import logging

from swarm.aco import ACOOptions, AntColony, IterationStats, TourResult
from swarm.aco_path import AntPathFinder, PathOptions, PathResult
from swarm.bee import ABC, ABCOptions, Allocation, allocate_workers
from swarm.boids import BoidsOptions, Flock, order_parameter
from swarm.errors import SwarmError, TSPLIBError, UnknownNameError
from swarm.evaluate import Evaluator, SerialEvaluator, VectorisedEvaluator
from swarm.framework import (
    OptimizationType,
    SwarmAlgorithm,
    SwarmIntelligenceFramework,
    SwarmObjective,
    TSPObjective,
)
from swarm.objectives import (
    BENCHMARKS,
    Benchmark,
    ackley,
    get_benchmark,
    griewank,
    rastrigin,
    rosenbrock,
    sphere,
)
from swarm.plot import PlotUnavailable, plot_result
from swarm.problem import Problem, Space
from swarm.pso import PSO, PSOOptions
from swarm.ray_eval import AutoEvaluator, ObjectiveError, RayEvaluator, make_evaluator
from swarm.result import Stats, SwarmResult
from swarm.tour_search import improve, nearest_neighbour_tour, neighbour_lists, tour_lengths
from swarm.tsplib import TSPInstance, load_tour, load_tsplib, parse_tour, parse_tsplib

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ABC",
    "BENCHMARKS",
    "PSO",
    "ABCOptions",
    "ACOOptions",
    "Allocation",
    "AntColony",
    "AntPathFinder",
    "AutoEvaluator",
    "Benchmark",
    "BoidsOptions",
    "Evaluator",
    "Flock",
    "IterationStats",
    "ObjectiveError",
    "OptimizationType",
    "PSOOptions",
    "PathOptions",
    "PathResult",
    "PlotUnavailable",
    "Problem",
    "RayEvaluator",
    "SerialEvaluator",
    "Space",
    "Stats",
    "SwarmAlgorithm",
    "SwarmError",
    "SwarmIntelligenceFramework",
    "SwarmObjective",
    "SwarmResult",
    "TSPInstance",
    "TSPLIBError",
    "TSPObjective",
    "TourResult",
    "UnknownNameError",
    "VectorisedEvaluator",
    "ackley",
    "allocate_workers",
    "get_benchmark",
    "griewank",
    "improve",
    "load_tour",
    "load_tsplib",
    "make_evaluator",
    "nearest_neighbour_tour",
    "neighbour_lists",
    "order_parameter",
    "parse_tour",
    "parse_tsplib",
    "plot_result",
    "rastrigin",
    "rosenbrock",
    "sphere",
    "tour_lengths",
]
