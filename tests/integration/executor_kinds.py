"""Task kinds for the executor tests, named as ``"tests.integration.executor_kinds:<fn>"``.

Ray workers import this module by that name (the driver's working directory is
on their path), which also exercises the ``module:function`` kinds.  Side
effects go to files under a test's ``tmp_path``, so the test can see what ran
in which worker process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["crash_once", "fail_times", "gpu_ids", "record", "slow", "worker_pid"]

K = "tests.integration.executor_kinds:"


def _total(value: float, inputs: Mapping[str, Any] | None) -> float:
    return value + sum((inputs or {}).values())


def crash_once(marker: str, value: float = 0, inputs: Mapping[str, Any] | None = None,
               **_: Any) -> float:
    """Kill the worker process on the first attempt (leaving ``marker``); then add inputs."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        os._exit(1)
    return _total(value, inputs)


def fail_times(counter: str, times: int, value: float = 0,
               inputs: Mapping[str, Any] | None = None, **_: Any) -> float:
    """Raise on the first ``times`` attempts (counted as lines in ``counter``), then succeed."""
    path = Path(counter)
    with path.open("a") as f:
        f.write(f"{time.monotonic()}\n")
    attempts = len(path.read_text().splitlines())
    if attempts <= times:
        raise ConnectionError(f"attempt {attempts} refused")
    return _total(value, inputs)


def slow(seconds: float, started: str | None = None, value: float = 0, **_: Any) -> float:
    """Run for ``seconds`` in short steps (so an interrupt lands at once), noting the start."""
    if started is not None:
        Path(started).mkdir(parents=True, exist_ok=True)
        (Path(started) / str(os.getpid())).touch()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.02)
    return value


def record(log_dir: str, name: str, value: float = 0,
           inputs: Mapping[str, Any] | None = None, **_: Any) -> float:
    """Leave a file named ``name`` in ``log_dir`` (proof that it ran); then add inputs."""
    (Path(log_dir) / name).touch()
    return _total(value, inputs)


def worker_pid(**_: Any) -> int:
    return os.getpid()


def gpu_ids(**_: Any) -> list[Any]:
    import ray

    return list(ray.get_gpu_ids())
