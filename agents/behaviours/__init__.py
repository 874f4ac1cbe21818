"""Agent behaviours as SPADE users know them, in plain asyncio (no Ray).

* :mod:`~agents.behaviours.base` — :class:`Behaviour` and its kinds: one-shot,
  cyclic, periodic (drift-free) and timeout;
* :mod:`~agents.behaviours.fsm` — finite-state behaviours declared as data,
  their transitions checked when built and when taken;
* :mod:`~agents.behaviours.template` — which envelopes a behaviour receives;
* :mod:`~agents.behaviours.runner` — one task per behaviour, envelope dispatch,
  status.

(:class:`agents.specs.Behavior`, the condition/actions dataclass the plain
:class:`~agents.agent.Agent` runs, is a different, older thing.)

Example:
    >>> import asyncio
    >>> class Tick(PeriodicBehaviour):
    ...     async def run(self) -> None:
    ...         if self.runs == 3:
    ...             self.kill()
    >>> async def main():
    ...     async with BehaviourRunner("agent-1") as runner:
    ...         tick = runner.add(Tick(period_s=0.01))
    ...         await tick.join(timeout_s=5)
    ...     return runner.status()[0]
    >>> row = asyncio.run(main())
    >>> row["name"], row["state"], row["runs"]
    ('Tick', 'killed', 3)
"""

from __future__ import annotations

from agents.behaviours.base import (
    DEFAULT_INBOX_SIZE,
    Behaviour,
    BehaviourError,
    CyclicBehaviour,
    OneShotBehaviour,
    PeriodicBehaviour,
    TimeoutBehaviour,
    next_tick,
)
from agents.behaviours.fsm import (
    FSMBehaviour,
    FSMError,
    FSMTransitionError,
    State,
    StateAction,
    check_fsm,
)
from agents.behaviours.runner import BehaviourRunner, SendFn
from agents.behaviours.template import (
    AndTemplate,
    BaseTemplate,
    NotTemplate,
    OrTemplate,
    Template,
    TemplateError,
    XorTemplate,
)

__all__ = [
    "DEFAULT_INBOX_SIZE",
    "AndTemplate",
    "BaseTemplate",
    "Behaviour",
    "BehaviourError",
    "BehaviourRunner",
    "CyclicBehaviour",
    "FSMBehaviour",
    "FSMError",
    "FSMTransitionError",
    "NotTemplate",
    "OneShotBehaviour",
    "OrTemplate",
    "PeriodicBehaviour",
    "SendFn",
    "State",
    "StateAction",
    "Template",
    "TemplateError",
    "TimeoutBehaviour",
    "XorTemplate",
    "check_fsm",
    "next_tick",
]
