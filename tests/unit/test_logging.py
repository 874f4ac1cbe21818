"""Libraries configure no logging output: only the CLI (cluster/cli.py) does.

Each top-level package logger carries a NullHandler, so a library used without
any logging set up prints no "No handlers could be found" noise, and importing
raymas leaves the root logger, which belongs to the application, as it was.
"""

from __future__ import annotations

import importlib
import json
import logging
import subprocess
import sys

import pytest

PACKAGES = ("agents", "cluster", "interfaces", "learning", "messaging", "swarm")


@pytest.mark.parametrize("name", PACKAGES)
def test_each_package_logger_has_a_null_handler(name: str) -> None:
    importlib.import_module(name)
    handlers = logging.getLogger(name).handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers), handlers
    assert all(isinstance(h, logging.NullHandler) for h in handlers), handlers


def test_importing_every_module_leaves_the_root_logger_alone() -> None:
    # in a fresh interpreter: pytest puts its own capture handlers on the root logger
    code = (
        "import importlib, json, logging, pkgutil, sys\n"
        "root = logging.getLogger()\n"
        "level = root.level\n"
        f"packages = {PACKAGES!r}\n"
        "modules = []\n"
        "for name in packages:\n"
        "    pkg = importlib.import_module(name)\n"
        "    modules.append(name)\n"
        "    for info in pkgutil.walk_packages(pkg.__path__, name + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "        modules.append(info.name)\n"
        "print(json.dumps({'modules': modules, 'root': [repr(h) for h in root.handlers],\n"
        "                  'level': [level, root.level],\n"
        "                  'packages': {n: [type(h).__name__ for h in\n"
        "                                   logging.getLogger(n).handlers] for n in packages}}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "cluster.cli" in seen["modules"] and len(seen["modules"]) > 50
    assert seen["root"] == [], f"importing raymas added root handlers: {seen['root']}"
    assert seen["level"][0] == seen["level"][1], "importing raymas changed the root level"
    assert seen["packages"] == {n: ["NullHandler"] for n in PACKAGES}
