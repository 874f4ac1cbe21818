"""Goals an agent pursues on its own: a pure core that plans (GOAP) and replans
from what it observes, and the loop that looks, decides and acts."""

from agents.pursuit.core import Decision, GoalPursuit, PursuitAction
from agents.pursuit.loop import Pursuer, pursuit_from_spec

__all__ = ["Decision", "GoalPursuit", "Pursuer", "PursuitAction", "pursuit_from_spec"]
