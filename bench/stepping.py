"""Stepping figures: hosted-agent steps/s on Mesa's Boltzmann wealth model beside Mesa itself.

    python bench/stepping.py [--quick]

* ``hosted_steps_per_s_wealth_10000_agents``: the Boltzmann wealth model (every agent
  with wealth > 0 gives one unit to a random other agent each step) for 10,000 agents,
  run by :class:`~agents.hosting.stepping.Stepper` (the give is a message, the receiver
  adds its inbox next step), beside the same model written for Mesa
  (``model.agents.shuffle_do("step")``), same n, same steps, same run (the baseline;
  without Mesa the line has no baseline).  Each side runs in a fresh interpreter, in
  alternating rounds (the median is reported); a round's rate is its best ten steps in
  CPU seconds (``mean_steps_per_s``: all its steps).
  ``unpaused_gc_steps_per_s`` is ours with the garbage collector left running during
  the step.
* ``step_messages_per_s_10000_agents_x10``: 10,000 agents each sending 10 messages to
  random others every step: messages/s of whole steps (their steps, the sends, the
  exchange), and ``exchange_only_messages_per_s``; target 1,000,000 in-host messages/s.
* ``flocking_steps_per_s_10000_agents``: 10,000 boid agents
  (:mod:`swarm.flock_agents`) stepped in process, with the order parameter before the
  first step and after the last.

The Mesa model picks the receiver from a list it keeps (``random.choice(model.agents)``,
as Mesa's tutorial writes it, builds a list of all agents for every pick: O(n) a give).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: this folder's http.py would shadow the stdlib's
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import numpy as np

from agents.hosting.stepping import StepContext, Stepper
from bench._common import emit, log, start

__all__ = ["Sender", "WealthAgent", "exchange_rate", "gini", "mesa_wealth_model",
           "run_mesa_wealth", "stepper_wealth", "stepping_figures", "wealth_rate",
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

    class MoneyAgent(mesa.Agent):
        def __init__(self, model: Any, index: int) -> None:
            super().__init__(model)
            self.index = index
            self.wealth = 1

        def step(self) -> None:
            if self.wealth > 0:
                people = self.model.people
                people[_other(self.model.random, self.index, len(people))].wealth += 1
                self.wealth -= 1

    class MoneyModel(mesa.Model):
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

def wealth_rate(side: str, n_agents: int, steps: int, pause_gc: bool = True) -> dict[str, float]:
    """Build the wealth model on ``side`` (``"ours"`` or ``"mesa"``), step it three times to
    warm up, then ``steps`` steps in chunks of ten, each timed in CPU seconds
    (``time.process_time``; both sides are one thread).  Other jobs on a shared machine
    only ever add time, so the rate is the best chunk's; ``mean_steps_per_s`` is over all
    the steps.  Also messages/s (ours) and the Gini at the end."""
    chunk, times, delivered = 10, [], 0
    model = mesa_wealth_model(n_agents) if side == "mesa" else None
    stepper = None if model is not None else wealth_stepper(n_agents, pause_gc=pause_gc)

    def advance(steps: int) -> int:
        if stepper is None:
            run_mesa_wealth(model, steps)
            return 0
        return stepper.run(steps).delivered

    advance(3)  # warm-up
    for _ in range(max(1, steps // chunk)):
        start_cpu = time.process_time()
        delivered += advance(chunk)
        times.append(time.process_time() - start_cpu)
    rates = {"steps_per_s": chunk / min(times),
             "mean_steps_per_s": chunk * len(times) / sum(times)}
    if model is not None:
        return {**rates, "gini": gini([a.wealth for a in model.people])}
    assert stepper is not None
    return {**rates, "messages_per_s": delivered / sum(times),
            "gini": gini(stepper_wealth(stepper))}


def apart(fn: Callable[..., dict[str, float]], *args: Any) -> dict[str, float]:
    """``fn(*args)`` in a fresh interpreter, so no model runs in a heap another one has
    filled (in one process, whichever runs second pays for the first one's objects)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


class Sender:
    """Sends ``payload`` to each of ``to`` every step (the exchange figure's agent)."""

    __slots__ = ("to",)

    def __init__(self, to: list[str]) -> None:
        self.to = to

    def step(self, ctx: StepContext) -> None:
        send = ctx.send
        for recipient in self.to:
            send(recipient, 1)


def exchange_rate(n_agents: int, fanout: int, steps: int) -> dict[str, float]:
    """Messages/s of whole steps in which every agent sends ``fanout`` messages to random
    others (their steps, the sends and the exchange), and of the exchange alone."""
    import gc
    import random as stdlib_random

    rnd = stdlib_random.Random(0)
    ids = [f"x{i}" for i in range(n_agents)]
    stepper = Stepper(seed=0)
    for agent_id in ids:
        stepper.add(agent_id, Sender([ids[rnd.randrange(n_agents)] for _ in range(fanout)]))
    stepper.run(2)
    start_cpu = time.process_time()
    stats = stepper.run(steps)
    whole = stats.delivered / (time.process_time() - start_cpu)
    exchanged, seconds = 0, 0.0
    for _ in range(steps):  # the exchange alone: the same mail, sent outside a step
        for agent_id in ids:
            stepper._ctx.agent_id = agent_id
            stepper.agents[agent_id].step(stepper._ctx)
        gc.disable()  # as in a step
        start_cpu = time.process_time()
        exchanged += stepper._exchange().delivered
        seconds += time.process_time() - start_cpu
        gc.enable()
    return {"messages_per_s": whole, "exchange_only_messages_per_s": exchanged / seconds}


def wealth_figure(n_agents: int, steps: int, rounds: int) -> None:
    try:
        import mesa
        version: str | None = mesa.__version__
    except ImportError:
        log("mesa is not installed (pip install mesa): the wealth figure has no baseline")
        version = None
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    for r in range(rounds):  # alternating, each in its own interpreter
        ours.append(apart(wealth_rate, "ours", n_agents, steps))
        if version:
            theirs.append(apart(wealth_rate, "mesa", n_agents, steps))
        log(f"  round {r + 1}: ours {ours[-1]['steps_per_s']:.1f} steps/s "
            f"(mean {ours[-1]['mean_steps_per_s']:.1f})"
            + (f", mesa {theirs[-1]['steps_per_s']:.1f} (mean "
               f"{theirs[-1]['mean_steps_per_s']:.1f})" if theirs else ""))
    unpaused = apart(wealth_rate, "ours", n_agents, steps, False)

    def median(rows: list[dict[str, float]], key: str) -> float:
        return float(np.median([row[key] for row in rows]))

    extra: dict[str, Any] = {
        "agents": n_agents, "steps": steps, "rounds": rounds,
        "messages_per_s": round(median(ours, "messages_per_s")),
        "gini": round(median(ours, "gini"), 3),
        "mean_steps_per_s": round(median(ours, "mean_steps_per_s"), 3),
        "unpaused_gc_steps_per_s": round(unpaused["steps_per_s"], 3)}
    metric = f"hosted_steps_per_s_wealth_{n_agents}_agents"
    value = median(ours, "steps_per_s")
    if not theirs:
        emit(B, metric, value, "steps/s", **extra)
        return
    mesa_rate = median(theirs, "steps_per_s")
    extra["baseline_gini"] = round(median(theirs, "gini"), 3)
    extra["baseline_mean_steps_per_s"] = round(median(theirs, "mean_steps_per_s"), 3)
    emit(B, metric, value, "steps/s", baseline=mesa_rate, baseline_name=f"mesa {version}",
         target=round(mesa_rate, 3), better="higher", **extra)


def exchange_figure(n_agents: int, fanout: int, steps: int) -> None:
    rates = apart(exchange_rate, n_agents, fanout, steps)
    emit(B, f"step_messages_per_s_{n_agents}_agents_x{fanout}", rates["messages_per_s"],
         "msg/s", target=1_000_000, better="higher", agents=n_agents, fanout=fanout,
         steps=steps, exchange_only_messages_per_s=round(rates["exchange_only_messages_per_s"]))


def flocking_figure(n_agents: int, steps: int) -> None:
    from swarm.flock_agents import flock_of

    stepper = flock_of(n_agents, seed=0)
    stats = stepper.run(steps)
    order = stepper.data["order"]
    to_08 = next((t for t, value in enumerate(order) if value > 0.8), None)
    emit(B, f"flocking_steps_per_s_{n_agents}_agents", stats.steps_per_s, "steps/s",
         agents=n_agents, steps=steps, order_first=round(order[0], 3),
         order_last=round(order[-1], 3), steps_to_order_0_8=to_08,
         ms_per_step=round(1e3 / stats.steps_per_s, 2))


def stepping_figures(n_agents: int = 10_000, steps: int = 100, flock_steps: int = 200,
                     rounds: int = 3) -> None:
    """Emit the message figure, the wealth figure (ours beside Mesa: ``rounds`` alternating
    runs of ``steps`` steps, medians) and the flocking figure (``flock_steps`` steps)."""
    log(f"messages: {n_agents} agents sending 10 each a step")
    exchange_figure(n_agents, 10, 10)
    log(f"wealth model: {n_agents} agents x {steps} steps, {rounds} rounds")
    wealth_figure(n_agents, steps, rounds)
    log(f"flocking: {n_agents} boid agents x {flock_steps} steps")
    flocking_figure(n_agents, flock_steps)


if __name__ == "__main__":
    quick = start(__doc__ or "")
    if quick:
        stepping_figures(steps=50, flock_steps=60, rounds=1)
    else:
        stepping_figures()
