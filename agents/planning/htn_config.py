"""HTN domains declared as data (a ``planning.domains`` entry of config.yaml, say).

The mapping has ``operators`` (name to options, or a list of options with a
``name``) and ``methods`` (a list tried in order, or task name to such a list).
Preconditions are ``{key: value}`` equalities on the state, effects are
``{key: value}`` updates, and ``"{x}"`` anywhere in them or in subtask
arguments stands for the task's argument ``x``.  Every problem is reported at
once, with its path, as a :class:`~agents.errors.ConfigError`.

Example:
    >>> d = domain_from_config({
    ...     "operators": {"fetch": {"kind": "http_get", "retries": 2},
    ...                   "load": {"effects": {"loaded": "{table}"}}},
    ...     "methods": [{"name": "etl", "task": "ingest", "parallel": False,
    ...                  "precondition": {"online": True},
    ...                  "subtasks": ["fetch", {"task": "load", "args": {"table": "{table}"}}]}],
    ... })
    >>> d.methods["ingest"][0].expand({"online": True}, {"table": "users"})
    [Task(name='fetch', args={}), Task(name='load', args={'table': 'users'})]
    >>> domain_from_config({"methods": [{"task": "t", "subtasks": ["nope"]}]})
    Traceback (most recent call last):
    ...
    messaging.errors.ConfigError: invalid configuration in HTN domain 'config':
      methods[0].subtasks[0]: 'nope' is neither an operator nor a compound task
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.errors import ConfigError
from agents.planning.dag import Resources
from agents.planning.errors import PlanError
from agents.planning.htn_domain import Domain, Method, Operator, Task

__all__ = ["domain_from_config"]

_OPERATOR_KEYS = {"name", "kind", "precondition", "effects", "resources", "retries", "timeout_s"}
_METHOD_KEYS = {"name", "task", "precondition", "subtasks", "parallel"}
_RESOURCE_KEYS = {"num_cpus", "num_gpus", "memory"}


def domain_from_config(config: Mapping[str, Any], *, name: str = "config") -> Domain:
    """Build a :class:`~agents.planning.htn_domain.Domain` from plain data (checked first)."""
    problems: list[tuple[str, str]] = []
    domain = Domain(str(config.get("name", name)))
    for key in set(config) - {"name", "operators", "methods"}:
        problems.append((key, "unknown key (expected name, operators, methods)"))
    for path, spec in _entries(config.get("operators") or {}, "operators", problems):
        op = _operator(path, spec, problems)
        if op is not None:
            domain.register_operator(op)
    methods = config.get("methods") or []
    if isinstance(methods, Mapping):
        flat = [(f"methods.{task}[{i}]", {"task": task, **m} if isinstance(m, Mapping) else m)
                for task, ms in methods.items() for i, m in enumerate(ms or [])]
    elif isinstance(methods, list):
        flat = [(f"methods[{i}]", m) for i, m in enumerate(methods)]
    else:
        flat = []
        problems.append(("methods", "must be a list of methods, or a mapping task -> methods"))
    parsed = [(path, _method(path, spec, i, problems)) for i, (path, spec) in enumerate(flat)]
    for path, method in parsed:
        if method is None:
            continue
        try:
            domain.register_method(method)
        except PlanError as exc:
            problems.append((path, str(exc)))
    for path, method in parsed:
        if method is not None and not callable(method.subtasks):
            for j, sub in enumerate(method.subtasks):
                task = sub.name if isinstance(sub, Task) else str(sub)
                if not (domain.is_primitive(task) or domain.is_compound(task)):
                    problems.append((f"{path}.subtasks[{j}]",
                                     f"{task!r} is neither an operator nor a compound task"))
    if problems:
        raise ConfigError(f"HTN domain {domain.name!r}", problems)
    return domain


def _entries(section: Any, where: str, problems: list[tuple[str, str]]) -> list[tuple[str, Any]]:
    if isinstance(section, Mapping):
        return [(f"{where}.{k}", {"name": k, **(v or {})}) if isinstance(v, Mapping | None)
                else (f"{where}.{k}", v) for k, v in section.items()]
    if isinstance(section, list):
        return [(f"{where}[{i}]", v) for i, v in enumerate(section)]
    problems.append((where, "must be a mapping name -> options, or a list"))
    return []


def _check(path: str, spec: Any, allowed: set[str], problems: list[tuple[str, str]]) -> bool:
    if not isinstance(spec, Mapping):
        problems.append((path, f"must be a mapping, got {type(spec).__name__}"))
        return False
    for key in sorted(set(spec) - allowed):
        problems.append((f"{path}.{key}", f"unknown key (expected one of {sorted(allowed)})"))
    for key in ("precondition", "effects"):
        if spec.get(key) is not None and not isinstance(spec[key], Mapping):
            problems.append((f"{path}.{key}", "must be a mapping of key: value"))
    return True


def _operator(path: str, spec: Any, problems: list[tuple[str, str]]) -> Operator | None:
    if not _check(path, spec, _OPERATOR_KEYS, problems):
        return None
    res = spec.get("resources") or {}
    if not isinstance(res, Mapping) or set(res) - _RESOURCE_KEYS:
        problems.append((f"{path}.resources", f"expected a mapping with {sorted(_RESOURCE_KEYS)}"))
        res = {}
    try:
        return Operator(str(spec["name"]), spec.get("kind"), spec.get("precondition"),
                        spec.get("effects"), Resources(**res), int(spec.get("retries", 0)),
                        spec.get("timeout_s"))
    except (KeyError, TypeError, ValueError) as exc:
        problems.append((path, f"bad operator: {exc}"))
        return None


def _method(path: str, spec: Any, index: int, problems: list[tuple[str, str]]) -> Method | None:
    if not _check(path, spec, _METHOD_KEYS, problems):
        return None
    if not isinstance(spec.get("task"), str):
        problems.append((f"{path}.task", "required: the compound task this method decomposes"))
        return None
    subtasks: list[Task] = []
    raw = spec.get("subtasks", [])
    if not isinstance(raw, list):
        problems.append((f"{path}.subtasks", "must be a list"))
        raw = []
    for j, sub in enumerate(raw):
        if isinstance(sub, str):
            subtasks.append(Task(sub))
        elif isinstance(sub, Mapping) and isinstance(sub.get("task"), str) \
                and isinstance(sub.get("args", {}), Mapping) and set(sub) <= {"task", "args"}:
            subtasks.append(Task(sub["task"], dict(sub.get("args", {}))))
        else:
            problems.append((f"{path}.subtasks[{j}]",
                             "expected a task name or {task: name, args: {...}}"))
    parallel = spec.get("parallel", False)
    if not isinstance(parallel, bool):
        problems.append((f"{path}.parallel", "must be true or false"))
    name = str(spec.get("name") or f"{spec['task']}_{index}")
    return Method(name, spec["task"], subtasks, spec.get("precondition"), bool(parallel))
