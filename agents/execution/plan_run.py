"""One execution of a task graph on Ray: :class:`PlanRun` (see :mod:`agents.execution.run`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType
from typing import Any, Literal

import ray
from ray.exceptions import TaskCancelledError

from agents.errors import RaymasError, TaskFailedError
from agents.execution.ray_node import STATUS, NodeSender, as_error, resolvable_kinds
from agents.execution.ray_node import check_resources as check_cluster_resources
from agents.execution.report import NodeReport, NodeState, PlanReport
from agents.planning import PlanError, TaskGraph

__all__ = ["Fetch", "PlanRun", "ProgressFn"]

#: ``on_progress(done, not_done, total, finished_ids)``: ``done`` counts nodes done
#: (given ones included), ``not_done`` those failed, skipped or cancelled.
ProgressFn = Callable[[int, int, int, list[str]], Any]
#: Which results to fetch: ``"sinks"``, ``"all"``, ``"none"`` or node ids.
Fetch = Literal["sinks", "all", "none"] | Collection[str] | None

_PENDING, _DONE, _FAILED = NodeState.PENDING, NodeState.DONE, NodeState.FAILED
_SKIPPED, _CANCELLED = NodeState.SKIPPED, NodeState.CANCELLED


class PlanRun:
    """One execution of a task graph: submit it, watch it, cancel it, read its results.

    Creating a run validates the graph; :meth:`submit` starts it.  Per-node state
    lives in lists indexed by topological position, so tracking 10,000 nodes
    costs little more than Ray's own bookkeeping.  The run holds every node's
    result ref (:attr:`refs`), so results stay in the object store while the
    run is referenced: drop it to free them.
    """

    def __init__(self, graph: TaskGraph, *, known_kinds: Collection[str] | None = None,
                 done: Mapping[str, Any] | None = None, backoff_s: float = 0.1,
                 max_backoff_s: float = 30.0, check_resources: bool = True) -> None:
        if backoff_s < 0 or max_backoff_s < 0:
            raise PlanError(f"back-off must be >= 0, got backoff_s={backoff_s}, "
                            f"max_backoff_s={max_backoff_s}")
        graph.validate(resolvable_kinds(graph) if known_kinds is None else known_kinds)
        if check_resources:
            check_cluster_resources(graph.nodes.values())
        self.graph = graph
        self._order = graph.topological_order()
        self._pos = {nid: i for i, nid in enumerate(self._order)}
        self._given = {k: v for k, v in (done or {}).items() if k in graph}
        n = len(self._order)
        self._state = [_DONE if nid in self._given else _PENDING for nid in self._order]
        self._attempts: list[int | None] = [None] * n
        self._seconds: list[float | None] = [None] * n
        self._text: list[str | None] = [None] * n
        self._root: dict[int, str] = {}  # skipped or cancelled node -> the node that caused it
        self._errors: dict[int, RaymasError] = {}
        self._status: dict[ray.ObjectRef, int] = {}
        self._values: dict[str, ray.ObjectRef] = {}
        self._pending: list[ray.ObjectRef] = []
        self._fetched: dict[str, Any] = {}
        self._done_count, self._bad_count = len(self._given), 0
        self._backoff = (backoff_s, max_backoff_s)
        self._lock = threading.Lock()
        self._wait_lock = threading.Lock()
        self._cancel = self._submitted = False
        self._started: float | None = None
        self._ended: float | None = None
        self._levels: list[list[str]] | None = None

    def __repr__(self) -> str:
        return (f"PlanRun({len(self._order)} nodes, {self._done_count} done, "
                f"{self._bad_count} not done, {len(self._pending)} pending)")

    # -- running -------------------------------------------------------------

    def submit(self) -> PlanRun:
        """Submit every node not given in ``done``, in topological order; returns ``self``."""
        with self._lock:
            if self._started is not None:
                raise PlanError("this plan run was submitted already")
            self._started = time.perf_counter()
        nodes, given, values, status, pending = (self.graph.nodes, self._given, self._values,
                                                 self._status, self._pending)
        send = NodeSender(*self._backoff)
        sent = 0
        try:
            for g, value in given.items():  # put once, for the dependents that will run
                if any(d not in given for d in self.graph.dependents(g)):
                    values[g] = ray.put(value)
            for i, nid in enumerate(self._order):
                sent = i
                if self._cancel:
                    break
                if nid not in given:
                    node = nodes[nid]
                    s, v = send(node, [values[d] for d in node.depends_on])
                    values[nid] = v
                    status[s] = i
                    pending.append(s)
            else:
                sent = len(self._order)
        except BaseException:
            self._cancel = True  # take back what was sent, then report the error
            raise
        finally:
            with self._lock:
                self._submitted = True
                cancelled = self._cancel
                for i in range(sent, len(self._order)):
                    if self._state[i] is _PENDING:
                        self._set(i, _CANCELLED, "cancelled before it was submitted")
                if not pending:
                    self._ended = time.perf_counter()
            if cancelled:
                self._cancel_submitted(False)
        return self

    def wait(self, timeout_s: float | None = None, *, on_progress: ProgressFn | None = None,
             interval_s: float = 0.2) -> bool:
        """Block until every node settled (True) or ``timeout_s`` passed (False).

        With ``on_progress`` the run reports every ``interval_s`` that something
        finished; without it, it waits in one call.  An exception raised by
        ``on_progress`` cancels the plan and propagates.
        """
        if not self._submitted:
            raise PlanError("submit the plan run before waiting on it")
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._wait_lock:
            while self._pending:
                step = interval_s if on_progress is not None else None
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    step = left if step is None else min(step, left)
                ready, rest = ray.wait(self._pending, num_returns=len(self._pending),
                                       timeout=step, fetch_local=False)
                if not ready:
                    continue
                finished = self._settle(ready, rest)
                if on_progress is not None and finished:
                    try:
                        on_progress(self._done_count, self._bad_count, len(self._order),
                                    finished)
                    except BaseException:
                        self.cancel()
                        raise
        return True

    def cancel(self, *, force: bool = False, grace_s: float = 5.0) -> None:
        """Cancel every unfinished node (``ray.cancel(..., recursive=True)``).

        Queued tasks are dropped; running ones get a ``KeyboardInterrupt`` (or
        their worker is killed with ``force``).  A node still running
        ``grace_s`` later (the interrupt was lost, or it sits in a call that
        never sees it) has its worker killed, as a TERM is followed by a KILL.
        The nodes settle as ``cancelled``; :meth:`wait` returns once they have.
        """
        with self._lock:
            self._cancel = True
            if not self._submitted:
                return  # submit() stops and cancels what it sent
        self._cancel_submitted(force)
        if not force:
            timer = threading.Timer(grace_s, self._cancel_submitted, args=(True,))
            timer.daemon = True
            timer.start()

    # -- results -------------------------------------------------------------

    @property
    def refs(self) -> Mapping[str, ray.ObjectRef]:
        """The result ObjectRef of every submitted node (and of given ones that others use)."""
        return MappingProxyType(self._values)

    @property
    def results(self) -> Mapping[str, Any]:
        """The results fetched so far (by :meth:`fetch`; the sinks after :func:`run_graph`)."""
        return MappingProxyType(self._fetched)

    def result(self, node_id: str) -> Any:
        """One node's result, waiting for it; raises the node's error if it did not succeed."""
        i = self._index(node_id)
        if node_id in self._given:
            return self._given[node_id]
        if node_id in self._fetched:
            return self._fetched[node_id]
        state = self._state[i]
        if state is _FAILED:
            raise self._errors[i]
        if state is not _DONE and state is not _PENDING:
            raise TaskFailedError(node_id, self._text[i] or str(state))
        try:
            return ray.get(self._values[node_id])
        except (ray.exceptions.RayError, RaymasError) as exc:
            raise as_error(node_id, exc) from exc

    def fetch(self, which: Fetch = "sinks") -> dict[str, Any]:
        """Get the results of the done nodes among ``which`` in one ``ray.get``.

        ``which`` is ``"sinks"`` (nodes nothing depends on), ``"all"``, ``"none"``
        or a collection of node ids.
        """
        if which is None or which == "none":
            ids: list[str] = []
        elif which == "sinks":
            ids = [n for n in self.graph if not self.graph.dependents(n)]
        elif which == "all":
            ids = list(self.graph)
        else:
            ids = list(which)
            for n in ids:
                self._index(n)
        out = {n: self._given[n] for n in ids if n in self._given}
        todo = [n for n in ids if n not in out and n not in self._fetched
                and self._state[self._pos[n]] is _DONE]
        self._fetched.update(zip(todo, ray.get([self._values[n] for n in todo]), strict=True))
        out.update((n, self._fetched[n]) for n in ids if n in self._fetched)
        return out

    def check(self) -> None:
        """Raise the first failed node's error (graph order), if any node did not finish done.

        Raises:
            PlanError: the run has not finished (see :meth:`wait`).
            TaskFailedError: a node failed (its own error), or was skipped or cancelled.
        """
        if self._pending or not self._submitted:
            raise PlanError(f"the plan run has not finished: {len(self._pending)} nodes pending")
        for nid in self.graph:
            i = self._pos[nid]
            if self._state[i] is _FAILED:
                raise self._errors[i]
        for nid in self.graph:
            i = self._pos[nid]
            if self._state[i] is not _DONE:
                raise TaskFailedError(nid, self._text[i] or str(self._state[i]))

    def progress(self) -> tuple[int, int, int]:
        """``(done, not done, total)``: not done counts failed, skipped and cancelled nodes."""
        return self._done_count, self._bad_count, len(self._order)

    def report(self) -> PlanReport:
        """Every node's state, attempts, seconds and error; wall time; the graph's levels."""
        if self._levels is None:
            self._levels = self.graph.levels()
        nodes = []
        for nid, node in self.graph.nodes.items():
            i = self._pos[nid]
            nodes.append(NodeReport(nid, node.kind, self._state[i], self._attempts[i],
                                    self._seconds[i], self._text[i], nid in self._given))
        wall = None if self._ended is None or self._started is None else (
            self._ended - self._started)
        return PlanReport(nodes, wall, self._levels)

    # -- internals -----------------------------------------------------------

    def _index(self, node_id: str) -> int:
        try:
            return self._pos[node_id]
        except KeyError:
            raise PlanError(f"no node {node_id!r} in this plan", "invalid", (node_id,)) from None

    def _set(self, i: int, state: NodeState, text: str | None = None) -> None:
        self._state[i] = state
        self._text[i] = text
        if state is _DONE:
            self._done_count += 1
        else:
            self._bad_count += 1

    def _settle(self, ready: list[ray.ObjectRef], rest: list[ray.ObjectRef]) -> list[str]:
        """Record the outcome of the ``ready`` status objects, dependencies first."""
        status, unpack = self._status, STATUS.unpack
        ready.sort(key=status.__getitem__)
        try:
            outcomes: list[Any] = ray.get(ready)
        except Exception:  # some node failed: look at each one
            outcomes = []
            for ref in ready:
                try:
                    outcomes.append(ray.get(ref))
                except Exception as exc:  # the failure is recorded by _failed
                    outcomes.append(exc)
        finished: list[str] = []
        keep: list[ray.ObjectRef] = []
        for ref, out in zip(ready, outcomes, strict=True):
            i = status[ref]
            if isinstance(out, BaseException):
                if not self._failed(i, out):
                    keep.append(ref)  # a dependency is not settled yet
                    continue
            else:
                self._attempts[i], self._seconds[i] = unpack(out)
                self._set(i, _DONE)
            finished.append(self._order[i])
        with self._lock:
            self._pending = rest + keep if keep else rest
            if not self._pending:
                self._ended = time.perf_counter()
        return finished

    def _failed(self, i: int, exc: BaseException) -> bool:
        """Classify node ``i``'s error; False while one of its dependencies is unsettled."""
        node = self.graph.nodes[self._order[i]]
        for dep in node.depends_on:
            j = self._pos[dep]
            state = self._state[j]
            if state is _PENDING:
                return False
            if state is not _DONE:
                root = self._root.get(j, dep)
                self._root[i] = root
                if state is _CANCELLED:
                    self._set(i, _CANCELLED, f"cancelled: dependency {root!r} was cancelled")
                else:
                    self._set(i, _SKIPPED, f"skipped: dependency {root!r} failed")
                return True
        if isinstance(exc, TaskCancelledError) or self._cancel:
            # after a cancel, whatever the interrupted node raised on its way out (or its
            # killed worker) is the cancel's doing
            self._set(i, _CANCELLED, "cancelled")
            return True
        err = as_error(node.id, exc)
        self._errors[i] = err
        self._attempts[i] = getattr(err, "attempts", None)
        self._set(i, _FAILED, str(err))
        return True

    def _cancel_submitted(self, force: bool) -> None:
        state, status = self._state, self._status
        for ref in [r for r, i in list(status.items()) if state[i] is _PENDING]:
            ray.cancel(ref, force=force, recursive=True)
