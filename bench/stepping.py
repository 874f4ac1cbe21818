"""Stepping figures: hosted-agent steps/s on Mesa's Boltzmann wealth model beside Mesa itself.

    python bench/stepping.py [--quick]

* ``hosted_steps_per_s_wealth_10000_agents``: the Boltzmann wealth model (every agent
  with wealth > 0 gives one unit to a random other agent each step) for 10,000 agents,
  run by :class:`~agents.hosting.stepping.Stepper` (the give is a message, the receiver
  adds its inbox next step), beside the same model written for Mesa
  (``model.agents.shuffle_do("step")``), same n, same steps, same run (the baseline;
  without Mesa the line has no baseline).  ``unpaused_gc_steps_per_s`` is ours with the
  garbage collector left running during the step.
* ``flocking_steps_per_s_10000_agents``: 10,000 boid agents
  (:mod:`swarm.flock_agents`) stepped in process, with the order parameter before the
  first step and after the last.

The Mesa model picks the receiver from a list it keeps (``random.choice(model.agents)``,
as Mesa's tutorial writes it, builds a list of all agents for every pick: O(n) a give).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: this folder's http.py would shadow the stdlib's
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import numpy as np

from agents.hosting.stepping import StepContext, Stepper
from bench._common import emit, log, start

__all__ = ["WealthAgent", "gini", "mesa_wealth_model", "run_mesa_wealth", "stepping_figures",
           "wealth_stepper"]

B = "stepping"


def gini(wealth: Sequence[float] | np.ndarray) -> float:
    """The Gini coefficient: 0 when all hold the same, towards 1 when one holds all.

    Example:
        >>> gini([1, 1, 1, 1]), gini([0, 0, 0, 4])
        (0.0, 0.75)
    """
    x = np.sort(np.asarray(wealth, dtype=float))
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return 0.0
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * total))


def _other(rnd: Any, index: int, n: int) -> int:
    """A uniformly random index in ``range(n)`` other than ``index``."""
    j = rnd.randrange(n - 1)
    return j + 1 if j >= index else j


# -- the wealth model on the Stepper: a give is a message ---------------------------------

class WealthAgent:
    """Gives one coin to a random other agent while it has any; adds what its inbox brings.

    ``ctx.model`` is the list of every agent's id (its own at ``index``).
    """

    __slots__ = ("index", "wealth")

    def __init__(self, index: int, wealth: int = 1) -> None:
        self.index = index
        self.wealth = wealth

    def step(self, ctx: StepContext) -> None:
        for msg in ctx.inbox:  # each message brings its coins
            self.wealth += msg[2]
        if self.wealth > 0:
            ids = ctx.model
            ctx.send(ids[_other(ctx.random, self.index, len(ids))], 1)
            self.wealth -= 1


def wealth_stepper(n_agents: int, *, seed: int = 0, pause_gc: bool = True) -> Stepper:
    """A :class:`Stepper` of ``n_agents`` :class:`WealthAgent` with one coin each."""
    ids = [f"w{i}" for i in range(n_agents)]
    stepper = Stepper(seed=seed, model=ids, pause_gc=pause_gc)
    for i, agent_id in enumerate(ids):
        stepper.add(agent_id, WealthAgent(i))
    return stepper


def stepper_wealth(stepper: Stepper) -> list[int]:
    """Each agent's wealth, counting the coins on their way to it."""
    return [a.wealth + sum(m[2] for m in stepper.mail_for(i))  # type: ignore[attr-defined]
            for i, a in stepper.agents.items()]


# -- the same model in Mesa -----------------------------------------------------------------

def mesa_wealth_model(n_agents: int, *, seed: int = 0) -> Any:
    """Mesa's Boltzmann wealth model (Mesa 3): ``step`` is ``agents.shuffle_do("step")``."""
    import mesa

    class MoneyAgent(mesa.Agent):  # type: ignore[misc]
        def __init__(self, model: Any, index: int) -> None:
            super().__init__(model)
            self.index = index
            self.wealth = 1

        def step(self) -> None:
            if self.wealth > 0:
                people = self.model.people
                people[_other(self.model.random, self.index, len(people))].wealth += 1
                self.wealth -= 1

    class MoneyModel(mesa.Model):  # type: ignore[misc]
        def __init__(self, n: int, seed: int) -> None:
            super().__init__(seed=seed)
            self.people = [MoneyAgent(self, i) for i in range(n)]

        def step(self) -> None:
            self.agents.shuffle_do("step")

    return MoneyModel(n_agents, seed)


def run_mesa_wealth(model: Any, steps: int) -> float:
    """Step a Mesa model ``steps`` times; the seconds it took."""
    t = time.perf_counter()
    for _ in range(steps):
        model.step()
    return time.perf_counter() - t


# -- figures --------------------------------------------------------------------------------

def wealth_figure(n_agents: int, steps: int) -> None:
    ours = wealth_stepper(n_agents)
    ours.step()  # warm-up, as for Mesa below
    stats = ours.run(steps)
    unpaused = wealth_stepper(n_agents, pause_gc=False)
    unpaused.step()
    raw = unpaused.run(steps)
    extra: dict[str, Any] = {
        "agents": n_agents, "steps": steps, "messages_per_s": round(stats.delivered
                                                                    / stats.seconds),
        "gini": round(gini(stepper_wealth(ours)), 3),
        "unpaused_gc_steps_per_s": round(raw.steps_per_s, 3)}
    try:
        import mesa
    except ImportError:
        log("mesa is not installed (pip install mesa): the wealth figure has no baseline")
        emit(B, f"hosted_steps_per_s_wealth_{n_agents}_agents", stats.steps_per_s, "steps/s",
             **extra)
        return
    model = mesa_wealth_model(n_agents)
    run_mesa_wealth(model, 1)
    mesa_rate = steps / run_mesa_wealth(model, steps)
    extra["baseline_gini"] = round(gini([a.wealth for a in model.people]), 3)
    emit(B, f"hosted_steps_per_s_wealth_{n_agents}_agents", stats.steps_per_s, "steps/s",
         baseline=mesa_rate, baseline_name=f"mesa {mesa.__version__}",
         target=round(mesa_rate, 3), better="higher", **extra)


def flocking_figure(n_agents: int, steps: int) -> None:
    from swarm.flock_agents import flock_of, flocking_options

    stepper = flock_of(n_agents, flocking_options(n_agents), seed=0)
    stats = stepper.run(steps)
    order = stepper.data["order"]
    emit(B, f"flocking_steps_per_s_{n_agents}_agents", stats.steps_per_s, "steps/s",
         agents=n_agents, steps=steps, order_first=round(order[0], 3),
         order_last=round(order[-1], 3), ms_per_step=round(1e3 / stats.steps_per_s, 2))


def stepping_figures(n_agents: int = 10_000, steps: int = 100, flock_steps: int = 300) -> None:
    """Emit the wealth figure (ours beside Mesa) and the flocking figure."""
    log(f"wealth model: {n_agents} agents x {steps} steps, ours then Mesa")
    wealth_figure(n_agents, steps)
    log(f"flocking: {n_agents} boid agents x {flock_steps} steps")
    flocking_figure(n_agents, flock_steps)


if __name__ == "__main__":
    quick = start(__doc__ or "")
    stepping_figures(steps=30 if quick else 100, flock_steps=100 if quick else 300)
