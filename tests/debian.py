"""Programs a test needs from Debian's packages (Chromium, Prometheus), installed by the tests.

Nothing is downloaded from outside the OS package manager.  When a program is
missing, ``apt-get`` installs its packages (as root, ``apt-get update`` once per
session); when that cannot be done the test is skipped, or fails when
``RAYMAS_REQUIRE_SERVICES=1`` (CI), like the other real-service tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import pytest

__all__ = ["ensure_programs", "unavailable"]

_install_lock = threading.Lock()
_apt_updated = False


def unavailable(message: str) -> NoReturn:
    """Skip the test, or fail it where real services are required (CI)."""
    if os.environ.get("RAYMAS_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _present(programs: Sequence[Path]) -> bool:
    return all(os.access(p, os.X_OK) for p in programs)


def _apt(*args: str, timeout: float) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", *args], check=True, env=env, timeout=timeout,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def ensure_programs(programs: Sequence[Path], packages: Sequence[str]) -> None:
    """Make sure ``programs`` exist, installing Debian's ``packages`` when any is missing."""
    global _apt_updated
    with _install_lock:
        if _present(programs):
            return
        names = " ".join(packages)
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            unavailable(f"{names}: missing, and apt-get cannot install them (not root or no "
                        "apt-get)")
        try:
            if not _apt_updated:
                _apt("update", timeout=300)
                _apt_updated = True
            _apt("install", "-y", "--no-install-recommends", *packages, timeout=900)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            output = getattr(exc, "output", b"") or b""
            tail = output.decode(errors="replace")[-800:]
            unavailable(f"could not install {names}: {exc}\n{tail}")
        if not _present(programs):
            unavailable(f"{', '.join(map(str, programs))} still missing after apt-get install")
