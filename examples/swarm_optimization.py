"""Minimise a 3-D sphere with particle swarm optimisation (NumPy, in this process).

    python examples/swarm_optimization.py
"""

import asyncio

from swarm import OptimizationType, SwarmAlgorithm, SwarmIntelligenceFramework, SwarmObjective


async def main() -> None:
    swarm = SwarmIntelligenceFramework(algorithm=SwarmAlgorithm.PARTICLE_SWARM, seed=1)
    objective = SwarmObjective(optimization_type=OptimizationType.MINIMIZE,
                               fitness_function=lambda x: sum(v * v for v in x),
                               dimensions=3, bounds=[(-10, 10)] * 3)
    result = await swarm.optimize(objective=objective, max_iterations=200)
    print(f"{result['algorithm']}: best fitness {result['best_fitness']:.3e} "
          f"after {result['iterations']} iterations ({result['evaluations']} evaluations, "
          f"{result['backend']})")
    print("best position", [round(v, 4) for v in result["best_position"]])


if __name__ == "__main__":
    asyncio.run(main())
