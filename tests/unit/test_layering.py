"""No package imports one above it (see docs/architecture.md, "Layering").

Every ``import`` and ``from ... import`` in a package's modules — at module
level, inside functions and under ``TYPE_CHECKING`` alike — may name only the
packages below it.  Code from above is found by name at run time (task kinds,
bandits), which is not an import and is not counted here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"messaging", "agents", "swarm", "learning", "interfaces", "cluster"}
#: what each package may import, besides itself
BELOW = {
    "messaging": set(),
    "agents": {"messaging"},
    "swarm": {"agents", "messaging"},
    "learning": {"agents", "messaging"},
    "interfaces": {"agents", "messaging"},
    "cluster": {"agents", "messaging", "swarm", "learning", "interfaces"},
}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & PACKAGES


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_a_package_imports_only_the_packages_below_it(package: str) -> None:
    wrong = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_packages(path) - BELOW[package] - {package}
        if bad:
            wrong[str(path.relative_to(ROOT))] = sorted(bad)
    assert not wrong, f"imports that run upward: {wrong}"


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from cluster.config import load_config\n")
    assert imported_packages(module) == {"cluster"}
