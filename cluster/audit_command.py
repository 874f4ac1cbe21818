"""What ``raymas audit verify [config]`` does once parsed: walk the audit chain, say the verdict.

The parser lives in :mod:`cluster.cli`; the audit log is the one in the
ledger's database (:mod:`agents.supervisor.audit`).
"""

from __future__ import annotations

import os

from agents.supervisor.audit import AuditLog
from messaging.errors import ConfigError

__all__ = ["audit_verify"]


def audit_verify(url: str) -> tuple[int, str]:
    """Verify the audit log at ``url`` (the ledger URL).

    Returns:
        ``(0, message)`` when the whole chain holds, ``(1, message)`` when it
        does not; the one-line message names the first bad record and why.

    Raises:
        ConfigError: ``url`` is not a SQLite or PostgreSQL URL, or cannot be opened.
    """
    path = url.removeprefix("sqlite:///")
    if url.startswith("sqlite:///") and path != ":memory:" and not os.path.exists(path):
        raise ConfigError("raymas audit verify", [("url", f"no database at {path}")])
    log = AuditLog(url)
    try:
        report = log.verify()
    finally:
        log.close()
    if report.ok:
        return 0, f"audit log intact: {report.checked} records verified"
    return 1, f"audit log broken: {report.reason} ({report.checked} records verified before it)"
