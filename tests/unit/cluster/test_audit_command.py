"""``raymas audit verify``: exit code and one line naming the first bad record."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agents.errors import ConfigError
from agents.supervisor.audit import AuditLog
from cluster.audit_command import audit_verify


def test_an_intact_log_exits_0_and_a_tampered_one_1(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    url = f"sqlite:///{path}"
    log = AuditLog(url)
    for i in range(5):
        log.append("award", f"t{i}", "awarded")
    log.close()
    assert audit_verify(url) == (0, "audit log intact: 5 records verified")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE raymas_audit SET target = 'elsewhere' WHERE seq = 3")
    code, message = audit_verify(url)
    assert code == 1 and "\n" not in message
    assert message == ("audit log broken: record 3: hash does not match its contents "
                       "(2 records verified before it)")


def test_a_bad_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        audit_verify("mysql://nope")
