"""The import surface is pinned, and importing raymas never starts Ray or loads torch."""

from __future__ import annotations

import subprocess
import sys

import agents
import agents.protocols


def test_public_surface() -> None:
    assert {"Agent", "AgentGoal", "Behavior", "TaskAllocation", "SupervisorClient",
            "Coordinator", "RaymasError"} <= set(agents.__all__)
    for pkg in (agents, agents.protocols):
        for name in pkg.__all__:
            assert getattr(pkg, name) is not None


def test_import_is_light_and_cli_help_works() -> None:
    code = (
        "import sys, agents, agents.supervisor.actor, cluster, cluster.cli, messaging, swarm, "
        "learning, interfaces\n"
        # the learning shells import their frameworks when a model, search or trainer runs
        "import learning.models, learning.models.store, learning.production\n"
        "import learning.automl, learning.automl.space, learning.automl.search\n"
        "import learning.automl.task, learning.rllib, learning.rllib.config\n"
        "import learning.rllib.trainer, learning.rllib.policy, learning.rllib.task\n"
        "import learning.pg, learning.pg.core, learning.pg.task\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'sklearn', 'ray.rllib', 'ray.tune')\n"
        "         if m in sys.modules]\n"
        "import ray; assert not ray.is_initialized(), 'ray started on import'\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run([sys.executable, "-m", "cluster.cli", "--help"], check=True,
                         capture_output=True, text=True).stdout
    assert "run" in out and "status" in out and "agents" in out


def test_cli_reports_config_errors_without_trace(tmp_path: object) -> None:
    import pathlib

    bad = pathlib.Path(str(tmp_path)) / "c.yaml"
    bad.write_text("agents:\n  - id: a\n    num_cpu: 1\n")
    proc = subprocess.run([sys.executable, "-m", "cluster.cli", "run", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "agents[0].num_cpu" in proc.stderr and "Traceback" not in proc.stderr


def test_rllib_leaves_tensorflow_eager_for_keras_models() -> None:
    """RLlib imported first would switch TensorFlow to graph mode for good (see
    learning/rllib/_tf_guard.py); a TensorFlow model must still train afterwards."""
    code = (
        "import logging, learning, numpy as np\n"
        "import ray.rllib.algorithms.ppo\n"
        "import tensorflow as tf\n"
        "assert tf.executing_eagerly()\n"
        "from learning.models import create_model, TrainingConfig\n"
        "m = create_model('neural_network', 'tensorflow', {'hidden_layers': [4]})\n"
        "X = np.random.default_rng(0).random((40, 3)); y = (X[:, 0] > 0.5).astype(int)\n"
        "m.fit(X, y, TrainingConfig(epochs=1))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "for test purposes" not in proc.stderr


def test_an_agent_or_host_process_loads_no_numpy_scipy_or_senses() -> None:
    """Every agent actor and host pays its imports at start: the shells load numpy, scipy
    (allocation solvers), the senses (environments, roles) and cryptography (message keys)
    only where they are used."""
    code = (
        "import sys, agents.agent.actor, agents.hosting.host\n"
        "loaded = [m for m in ('numpy', 'scipy', 'agents.agent.senses', 'agents.agent.bundles',"
        " 'agents.protocols', 'cryptography', 'messaging.crypto') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
