"""``raymas submit`` and ``raymas jobs``: scripts run as Ray jobs, through Ray's Jobs API.

A thin shell over :class:`ray.job_submission.JobSubmissionClient`: the working
directory is uploaded (Ray leaves out what ``.gitignore`` names), the job's
logs are streamed while it runs, and the command exits with the job's status
(0 succeeded, 1 failed or stopped).  Ray's token authentication is the
client's own: ``RAY_AUTH_MODE=token`` with the token in ``RAY_AUTH_TOKEN``,
the file ``RAY_AUTH_TOKEN_PATH`` names, or ``~/.ray/auth_token``;
``--token-file`` sets the last two for this command.  A cluster that asks for
a token the command does not have is named in the error, with what to set.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from messaging.errors import RaymasError

__all__ = ["JobsError", "jobs_address", "list_jobs", "submit_job"]

#: where ``ray start --head`` serves the dashboard and Jobs API by default
DEFAULT_ADDRESS = "http://127.0.0.1:8265"
_TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


class JobsError(RaymasError):
    """The Jobs API could not be reached or refused the request."""


def jobs_address(address: str | None, env: dict[str, str] | None = None) -> str:
    """The Jobs API's URL: ``--address``, else ``RAY_API_SERVER_ADDRESS``, else an
    ``http(s)://`` ``RAY_ADDRESS``, else the local head's default (port 8265).

    >>> jobs_address(None, {"RAY_ADDRESS": "auto"})
    'http://127.0.0.1:8265'
    >>> jobs_address("10.0.0.5:8265", {})
    'http://10.0.0.5:8265'
    """
    env = dict(os.environ) if env is None else env
    chosen = address or env.get("RAY_API_SERVER_ADDRESS")
    if not chosen and env.get("RAY_ADDRESS", "").startswith(("http://", "https://")):
        chosen = env["RAY_ADDRESS"]
    chosen = chosen or DEFAULT_ADDRESS
    return chosen if "://" in chosen else f"http://{chosen}"


def _use_token_file(path: str | None) -> None:
    if path is None:
        return
    token = Path(path)
    if not token.is_file():
        raise JobsError(f"--token-file {path}: no such file")
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(token.absolute())
    os.environ.pop("RAY_AUTH_TOKEN", None)


def _client(address: str) -> Any:
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except Exception as exc:
        text = str(exc)
        if "uthentication" in text or "401" in text or "403" in text:
            raise JobsError(
                f"the Ray cluster at {address} asks for its auth token: set RAY_AUTH_MODE=token "
                "and RAY_AUTH_TOKEN_PATH (or RAY_AUTH_TOKEN, or ~/.ray/auth_token), or pass "
                f"--token-file ({text.splitlines()[0] if text else type(exc).__name__})"
            ) from exc
        raise JobsError(f"no Ray Jobs API at {address}: {text or type(exc).__name__}") from exc


def submit_job(script: str, script_args: Sequence[str] = (), *, address: str | None = None,
               working_dir: str | None = ".", wait: bool = True, token_file: str | None = None,
               env_vars: dict[str, str] | None = None, as_json: bool = False,
               python: str = "python") -> int:
    """Submit ``python SCRIPT ARGS`` as a job; with ``wait``, stream its logs and return
    0 when it succeeded, 1 when it failed or was stopped."""
    _use_token_file(token_file)
    url = jobs_address(address)
    if working_dir is not None and not Path(working_dir).is_dir():
        raise JobsError(f"--working-dir {working_dir}: not a directory")
    client = _client(url)
    runtime_env: dict[str, Any] = {}
    if working_dir is not None:
        runtime_env["working_dir"] = working_dir
    if env_vars:
        runtime_env["env_vars"] = dict(env_vars)
    entrypoint = shlex.join([python, script, *script_args])
    job_id = client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env or None,
                               metadata={"submitted_by": "raymas submit"})
    print(json.dumps({"job_id": job_id, "address": url}) if as_json else
          f"raymas: job {job_id} submitted to {url}", file=sys.stderr)
    if not wait:
        return 0
    asyncio.run(_stream_logs(client, job_id))
    status = _final_status(client, job_id)
    info = client.get_job_info(job_id)
    if as_json:
        print(json.dumps({"job_id": job_id, "status": status, "message": info.message}))
    else:
        print(f"raymas: job {job_id} {status.lower()}"
              + (f": {info.message}" if status != "SUCCEEDED" and info.message else ""),
              file=sys.stderr)
    return 0 if status == "SUCCEEDED" else 1


async def _stream_logs(client: Any, job_id: str) -> None:
    async for lines in client.tail_job_logs(job_id):
        sys.stdout.write(lines)
        sys.stdout.flush()


def _final_status(client: Any, job_id: str, timeout_s: float = 60.0) -> str:
    """The job's end state; the log stream closes when the job ends, the status follows."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = str(client.get_job_status(job_id).value)
        if status in _TERMINAL or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def list_jobs(*, address: str | None = None, token_file: str | None = None,
              as_json: bool = False) -> int:
    """Print the cluster's jobs, newest first: a table, or JSON for scripts."""
    _use_token_file(token_file)
    url = jobs_address(address)
    jobs = sorted(_client(url).list_jobs(), key=lambda j: j.start_time or 0, reverse=True)
    rows = [{"job_id": j.submission_id or j.job_id, "status": str(j.status.value),
             "entrypoint": j.entrypoint, "start_time": j.start_time, "end_time": j.end_time,
             "message": j.message} for j in jobs]
    if as_json:
        print(json.dumps(rows))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"jobs at {url}")
    for col in ("job", "status", "started", "seconds", "entrypoint"):
        table.add_column(col)
    for r in rows:
        start, end = r["start_time"], r["end_time"]
        table.add_row(str(r["job_id"]), r["status"],
                      time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(start / 1000))
                      if start else "",
                      f"{(end - start) / 1000:.1f}" if start and end else "", r["entrypoint"])
    Console().print(table)
    return 0
