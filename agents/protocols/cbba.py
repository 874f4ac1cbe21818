"""The consensus-based bundle algorithm (CBBA), written with costs: the lowest bid wins.

Choi, Brunet and How (2009), "Consensus-Based Decentralized Auctions for Robust Task
Allocation", IEEE T-RO 25(4).  Each :class:`CbbaAgent` alternates, with no auctioneer:

1. **Bundle construction** (:meth:`CbbaAgent.build_bundle`): add the task it can do most
   cheaply given its path (bid: the *extra* cost ``marginal(path, task)``, e.g. the
   added travel of inserting a delivery) while the bid beats the winner it knows and
   capacity lasts.
2. **Conflict resolution** (:meth:`CbbaAgent.receive`): merge a neighbour's winners and
   bids with the paper's update / reset / leave table (Table 1), where time stamps (of
   the latest information from each agent) say whose news of a third agent is fresher.
   A bundle task outbid is released with every task added after it (their entries
   reset where this agent still holds them): their bids assumed the lost task.

Convergence needs "diminishing marginal gain": in cost terms a task added later must
never bid less than those before it.  Route insertion violates that, so the announced
bid is ``max(marginal, last bid in the bundle)``: the bid warping of Johnson, Ponda,
Choi and How (2012) for non-submodular scores; the path follows the true insertions.
Ties: lower bid, then lower agent id (inside one agent's choice: lower task id).
``None`` or an infinite marginal means "refuses".  With additive costs CBBA gives the
sequential greedy assignment.  :func:`run_cbba` runs synchronous rounds over a
neighbour graph; the runtime gossips :class:`CbbaMessage` (``to_dict()``: msgpack/JSON).

Example:
    >>> pos = {"a": (0.0, 0.0), "b": (10.0, 0.0)}
    >>> pts = {"t1": (1.0, 0.0), "t2": (9.0, 0.0), "t3": (2.0, 0.0)}
    >>> agents = {n: CbbaAgent(n, list(pts), 2, route_marginal(pos[n], pts)) for n in pos}
    >>> res = run_cbba(agents, {"a": ["b"], "b": ["a"]})
    >>> res.converged, res.assignment == {"t1": "a", "t2": "b", "t3": "a"}, res.paths["a"]
    (True, True, ['t1', 't3'])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.errors import AllocationError

__all__ = ["CbbaAgent", "CbbaMessage", "CbbaResult", "Marginal", "route_marginal", "run_cbba"]

Marginal = Callable[[Sequence[str], str], tuple[float, int] | None]
"""``marginal(path, task_id)`` -> (extra cost of inserting the task, insertion index) or None."""

_INF = math.inf
_UPDATE, _RESET, _LEAVE = 1, 2, 0


@dataclass(frozen=True)
class CbbaMessage:
    """What an agent tells its neighbours: the winners it knows and how fresh its news is.

    Attributes:
        sender: the agent sending.
        winners: task -> (winning agent, its bid) as the sender knows it (no entry: none).
        stamps: agent -> time of the sender's latest information from that agent.

    Example:
        >>> m = CbbaMessage("a", {"t": ("b", 2.5)}, {"a": 3.0, "b": 2.0})
        >>> CbbaMessage.from_dict(m.to_dict()) == m
        True
    """

    sender: str
    winners: dict[str, tuple[str, float]]
    stamps: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, dicts, str and float: safe for msgpack and JSON."""
        return {
            "sender": self.sender,
            "winners": {t: [a, float(b)] for t, (a, b) in self.winners.items()},
            "stamps": {a: float(s) for a, s in self.stamps.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CbbaMessage:
        """Inverse of :meth:`to_dict`; a malformed message raises AllocationError."""
        try:
            if not isinstance(sender := d["sender"], str):
                raise TypeError(f"sender must be a string, got {sender!r}")
            winners = {str(t): (str(w[0]), float(w[1])) for t, w in d["winners"].items()}
            stamps = {str(a): float(s) for a, s in d["stamps"].items()}
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise AllocationError(f"malformed CBBA message {d!r}: {exc!r}") from exc
        return cls(sender, winners, stamps)


class CbbaAgent:
    """One agent's CBBA state: bundle, path, known winners and bids, time stamps.

    Args:
        agent_id: this agent's id (ties go to the lower id).
        task_ids: the tasks on offer; messages about other tasks are ignored.
        capacity: the most tasks this agent takes (the bundle length L_t).
        marginal: ``marginal(path, task_id)`` -> (extra cost, insertion index) or None.
            It must depend only on the path while a run lasts: results are cached per
            path; call :meth:`refresh` when the agent's own state changes.

    Example:
        >>> a = CbbaAgent("a", ["t1", "t2"], 1, lambda path, t: (1.0, len(path)))
        >>> a.build_bundle(), a.bundle, a.assignment()
        (True, ['t1'], {'t1': 'a'})
        >>> a.receive(CbbaMessage("b", {"t1": ("b", 0.5)}, {"b": 1.0}), now=1.0)
        True
        >>> a.bundle, a.assignment()
        ([], {'t1': 'b'})
    """

    def __init__(self, agent_id: str, task_ids: Sequence[str], capacity: int,
                 marginal: Marginal) -> None:
        if capacity < 0:
            raise AllocationError(f"agent {agent_id!r}: capacity must be >= 0, got {capacity}")
        if len(set(task_ids)) != len(task_ids):
            raise AllocationError(f"agent {agent_id!r}: duplicate task ids in {task_ids!r}")
        self.agent_id = agent_id
        self.task_ids: tuple[str, ...] = tuple(sorted(task_ids))
        self._known = frozenset(task_ids)
        self.capacity = capacity
        self._marginal = marginal
        self.bundle: list[str] = []
        self.path: list[str] = []
        self._win: dict[str, tuple[str, float]] = {}
        self._stamps: dict[str, float] = {}
        self._dead: set[str] = set()
        self._cache: dict[str, tuple[float, int] | None] = {}
        self.clock = -_INF

    def build_bundle(self) -> bool:
        """Phase 1: add tasks greedily while a bid can win; True if the bundle changed."""
        changed = self._release()
        me = self.agent_id
        while len(self.bundle) < self.capacity:
            floor = self._win[self.bundle[-1]][1] if self.bundle else -_INF
            taken = set(self.bundle)
            best: tuple[float, str, float, int] | None = None
            for t in self.task_ids:
                if t in taken:
                    continue
                r = self._cost(t)
                if r is None:
                    continue
                extra, pos = r
                bid = max(extra, floor)  # bid warping: never below the bundle's last bid
                cur = self._win.get(t)
                if cur is not None and cur[0] != me and (cur[1], cur[0]) < (bid, me):
                    continue
                if best is None or (extra, t) < (best[0], best[1]):
                    best = (extra, t, bid, pos)
            if best is None:
                break
            _, t, bid, pos = best
            self.bundle.append(t)
            self.path.insert(pos, t)
            self._win[t] = (me, bid)
            self._cache.clear()
            changed = True
        return changed

    def _cost(self, task: str) -> tuple[float, int] | None:
        if task not in self._cache:
            r = self._marginal(tuple(self.path), task)
            r = r if r is not None and math.isfinite(r[0]) else None
            if r is not None and not 0 <= r[1] <= len(self.path):
                raise AllocationError(f"agent {self.agent_id!r}: marginal gave insertion "
                                      f"index {r[1]} for a path of {len(self.path)}")
            self._cache[task] = r
        return self._cache[task]

    def refresh(self) -> None:
        """Forget cached marginal costs (the agent's own state, e.g. its position, changed)."""
        self._cache.clear()

    def message(self, now: float) -> CbbaMessage:
        """A snapshot of what this agent knows, stamped ``now`` for itself."""
        self.clock = max(self.clock, now)
        stamps = dict(self._stamps)
        stamps[self.agent_id] = now
        return CbbaMessage(self.agent_id, dict(self._win), stamps)

    def receive(self, msg: CbbaMessage, now: float) -> bool:
        """Phase 2: resolve conflicts with a neighbour's message (Table 1 of the paper).

        Returns:
            True if a winner, a bid or the bundle changed (time stamps alone do not count).
        """
        k = msg.sender
        if k == self.agent_id or k in self._dead:
            return False
        self.clock = max(self.clock, now)
        changed = False
        if msg.winners != self._win:
            theirs, mine = msg.winners, self._win
            get = mine.get  # entries are shared tuples, so most compare by identity
            diff = {t for t, v in theirs.items() if (w := get(t)) is not v and w != v}
            diff = (diff & self._known) | (mine.keys() - theirs.keys())
            for j in sorted(diff):  # equal entries never change (Table 1)
                zk, yk = theirs.get(j, (None, _INF))
                if zk in self._dead:
                    zk, yk = None, _INF
                zi, yi = self._win.get(j, (None, _INF))
                if (zk, yk) == (zi, yi):
                    continue
                action = self._rule(k, zk, yk, zi, yi, msg.stamps)
                if action == _UPDATE and zk is not None:
                    mine[j] = theirs[j]
                    changed = True
                elif action != _LEAVE and zi is not None:  # reset, or update to "none"
                    del mine[j]
                    changed = True
        known = self._stamps.get
        newer = {m: s for m, s in msg.stamps.items() if s > known(m, -_INF)}
        newer.pop(self.agent_id, None)
        self._stamps.update((m, s) for m, s in newer.items() if m not in self._dead)
        self._stamps[k] = max(known(k, -_INF), now)
        return self._release() or changed

    def _rule(self, k: str, zk: str | None, yk: float, zi: str | None, yi: float,
              s_k: Mapping[str, float]) -> int:
        """The action of Table 1 for one task: sender ``k`` says (zk, yk), we hold (zi, yi)."""
        i = self.agent_id

        def fresher(m: str) -> bool:  # k heard from m more recently than we did
            return s_k.get(m, -_INF) > self._stamps.get(m, -_INF)

        def beats() -> bool:  # the sender's claim wins on (bid, agent id)
            return zi is None or (yk, zk or "") < (yi, zi)

        if zk == k:  # the sender claims the task for itself
            if zi == i:
                return _UPDATE if beats() else _LEAVE
            return _UPDATE if zi in (k, None) or fresher(zi) or beats() else _LEAVE
        if zk == i or zk is None:  # the sender says: we win it / nobody does
            if zi == i or zi is None:
                return _LEAVE
            return _RESET if zi == k or fresher(zi) else _LEAVE  # (update to none = reset)
        m = zk  # a third agent
        if zi == i:
            return _UPDATE if fresher(m) and beats() else _LEAVE
        if zi == k:
            return _UPDATE if fresher(m) else _RESET
        if zi == m or zi is None:
            return _UPDATE if fresher(m) else _LEAVE
        n = zi  # a fourth agent
        if fresher(m) and (fresher(n) or beats()):
            return _UPDATE
        if fresher(n) and s_k.get(m, -_INF) < self._stamps.get(m, -_INF):
            return _RESET
        return _LEAVE

    def _release(self) -> bool:
        """Drop the first task of the bundle no longer won and everything added after it."""
        me = self.agent_id
        n = next((n for n, t in enumerate(self.bundle) if self._win.get(t, ("",))[0] != me),
                 None)
        if n is None:
            return False
        for t in self.bundle[n + 1:]:
            if self._win.get(t, ("",))[0] == me:
                del self._win[t]
        kept = set(self.bundle[:n])
        del self.bundle[n:]
        self.path = [t for t in self.path if t in kept]
        self._cache.clear()
        return True

    def forget(self, agent_id: str) -> None:
        """``agent_id`` died: reset its claims and ignore it (and news about it) from now on."""
        if agent_id == self.agent_id:
            raise AllocationError(f"agent {agent_id!r} cannot forget itself")
        self._dead.add(agent_id)
        self._stamps.pop(agent_id, None)
        for t in [t for t, (a, _) in self._win.items() if a == agent_id]:
            del self._win[t]

    def assignment(self) -> dict[str, str]:
        """Task -> winner, as this agent knows it (tasks with no known winner absent)."""
        return {t: a for t, (a, _) in self._win.items()}

    def bids(self) -> dict[str, float]:
        """Task -> winning bid, as this agent knows it."""
        return {t: b for t, (_, b) in self._win.items()}


@dataclass
class CbbaResult:
    """The outcome of :func:`run_cbba`.

    Attributes:
        assignment: task -> agent, conflict-free; tasks nobody won are absent.
        paths: agent -> its tasks in path order.
        rounds: synchronous rounds run (the last, quiet one included).
        converged: a full round changed nothing and all agents agree on the winners.
        messages: messages delivered.
    """

    assignment: dict[str, str]
    paths: dict[str, list[str]]
    rounds: int
    converged: bool
    messages: int


def run_cbba(agents: Mapping[str, CbbaAgent], neighbours: Mapping[str, Sequence[str]],
             max_rounds: int = 1000) -> CbbaResult:
    """Run CBBA in synchronous rounds: build bundles, send to neighbours, resolve conflicts.

    ``neighbours[a]`` are the agents ``a`` sends to (list both directions for a
    two-way link); unknown names (e.g. dead agents) are skipped.  Stops converged when
    a round changes nothing and every agent knows the same winners; stops unconverged
    after ``max_rounds``, or after ``len(agents)`` quiet rounds that still disagree (a
    disconnected graph).  Agents keep their state, so a run can be resumed after
    removing a dead agent and calling :meth:`CbbaAgent.forget` on the others.

    Example:
        >>> agents = {n: CbbaAgent(n, ["t"], 1, lambda p, t, c=c: (c, 0))
        ...           for n, c in [("a", 2.0), ("b", 1.0), ("c", 3.0)]}
        >>> res = run_cbba(agents, {"a": ["b"], "b": ["a", "c"], "c": ["b"]})
        >>> res.assignment, res.converged
        ({'t': 'b'}, True)
    """
    for name, agent in agents.items():
        if agent.agent_id != name:
            raise AllocationError(f"agent registered as {name!r} has id {agent.agent_id!r}")
    order = sorted(agents)
    inbox: dict[str, list[str]] = {n: [] for n in order}
    for sender in order:
        for n in sorted(set(neighbours.get(sender, ()))):
            if n in agents and n != sender:
                inbox[n].append(sender)
    start = max((agents[n].clock for n in order), default=0.0)
    start = 0.0 if start == -_INF else start
    rounds = messages = quiet = 0
    converged = False
    while rounds < max_rounds:
        rounds += 1
        now = start + rounds
        changed = False
        for n in order:
            changed = agents[n].build_bundle() or changed
        sent = {n: agents[n].message(now) for n in order}
        for n in order:
            for s in inbox[n]:
                changed = agents[n].receive(sent[s], now) or changed
                messages += 1
        if changed:
            quiet = 0
            continue
        quiet += 1
        first = agents[order[0]].assignment() if order else {}
        if all(agents[n].assignment() == first for n in order):
            converged = True
            break
        if quiet >= len(order):
            break
    won = _conflict_free(agents)
    paths = {n: [t for t in agents[n].path if won.get(t) == n] for n in order}
    return CbbaResult(won, paths, rounds, converged, messages)


def _conflict_free(agents: Mapping[str, CbbaAgent]) -> dict[str, str]:
    """Task -> agent from the bundles; a task claimed twice goes to the better (bid, id)."""
    best: dict[str, tuple[float, str]] = {}
    for n in sorted(agents):
        own = agents[n].bids()
        for t in agents[n].bundle:
            claim = (own[t], n)
            if t not in best or claim < best[t]:
                best[t] = claim
    return {t: best[t][1] for t in sorted(best)}


def route_marginal(start: tuple[float, float],
                   points: Mapping[str, tuple[float, float]]) -> Marginal:
    """Cheapest-insertion extra travel for an open path in the plane starting at ``start``.

    The returned ``marginal(path, task)`` tries every insertion index and gives the
    smallest added Euclidean length (no return to ``start``); ties go to the earlier
    index.  Tasks missing from ``points`` are refused (None).

    Example:
        >>> m = route_marginal((0.0, 0.0), {"a": (2.0, 0.0), "b": (1.0, 0.0)})
        >>> m([], "a"), m(["a"], "b")
        ((2.0, 0), (0.0, 0))
    """

    def marginal(path: Sequence[str], task: str) -> tuple[float, int] | None:
        if task not in points:
            return None
        p, prev, best = points[task], start, (_INF, 0)
        for idx, nxt in enumerate(points[t] for t in path):
            extra = math.dist(prev, p) + math.dist(p, nxt) - math.dist(prev, nxt)
            best, prev = (extra, idx) if extra < best[0] else best, nxt
        return (math.dist(prev, p), len(path)) if math.dist(prev, p) < best[0] else best

    return marginal
