"""The subpackages pg/, rllib/ and automl/: every exported name resolves, and lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ["learning.pg", "learning.rllib", "learning.automl"]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_is_the_one_its_module_defines(name: str) -> None:
    package = importlib.import_module(name)
    where = package._WHERE
    assert sorted(package.__all__) == sorted(where)
    for attr in package.__all__:
        module = importlib.import_module(f"{name}.{where[attr]}")
        assert attr in module.__all__, (name, attr)
        assert getattr(package, attr) is getattr(module, attr)
    with pytest.raises(AttributeError, match=f"module '{name}' has no attribute 'nope'"):
        _ = package.nope


def test_packages_and_their_light_names_load_no_framework() -> None:
    code = ("import sys, learning.pg, learning.rllib, learning.automl\n"
            "learning.pg.advantages, learning.pg.Trajectory, learning.automl.parse_space\n"
            "learning.rllib.RLConfig, learning.rllib.RLPolicy\n"
            "heavy = [m for m in ('torch', 'tensorflow', 'sklearn', 'ray.rllib', 'ray.tune')\n"
            "         if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_learning_exports_the_production_names_lazily() -> None:
    import learning
    import learning.models
    import learning.production

    assert learning.ProductionMLIntegration is learning.production.ProductionMLIntegration
    for name in ("ModelType", "MLFramework", "TrainingConfig"):
        assert getattr(learning, name) is getattr(learning.models, name)
        assert name in learning.__all__ and name in dir(learning)
    with pytest.raises(AttributeError, match="module 'learning' has no attribute 'nope'"):
        _ = learning.nope
    code = ("import sys\n"
            "from learning import MLFramework, ModelType, ProductionMLIntegration, TrainingConfig\n"
            "ml = ProductionMLIntegration()\n"
            "heavy = [m for m in ('torch', 'tensorflow', 'sklearn', 'ray.rllib', 'ray.tune')\n"
            "         if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
