"""``raymas swarm``: --json output, --plot PNGs, errors, and a --help that stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cluster.cli import main

DATA = Path(__file__).resolve().parents[2] / "data" / "tsplib"  # copied from ../shared/data
PNG = b"\x89PNG\r\n\x1a\n"


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["swarm", *argv, "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out  # one JSON object, nothing else on stdout
    return dict(json.loads(out[0]))


def test_pso_json(capsys: pytest.CaptureFixture[str]) -> None:
    row = run_json(capsys, "pso", "--function", "sphere", "--dim", "5", "--particles", "20",
                   "--iterations", "100", "--seed", "1", "--backend", "inprocess")
    assert {"best_fitness", "best_position", "evaluations", "seconds"} <= set(row)
    assert row["best_fitness"] < 1e-4 and len(row["best_position"]) == 5
    assert row["evaluations"] == 2000 and row["backend"] == "inprocess"
    again = run_json(capsys, "pso", "--function", "sphere", "--dim", "5", "--particles", "20",
                     "--iterations", "100", "--seed", "1", "--backend", "inprocess")
    assert again["best_position"] == row["best_position"]


def test_abc_json_and_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    png = tmp_path / "abc.png"
    row = run_json(capsys, "abc", "--function", "rastrigin", "--dim", "3", "--iterations", "30",
                   "--seed", "2", "--plot", str(png))
    assert row["algorithm"] == "abc" and len(row["best_position"]) == 3
    assert png.read_bytes()[:8] == PNG


def test_aco_json_and_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    png = tmp_path / "tour.png"
    row = run_json(capsys, "aco", str(DATA / "eil51.tsp"), "--seed", "3", "--iterations", "5",
                   "--optimum", "426", "--plot", str(png))
    assert {"best_length", "tour", "evaluations", "seconds", "gap_pct"} <= set(row)
    assert sorted(row["tour"]) == list(range(51)) and row["best_length"] >= 426
    assert png.read_bytes()[:8] == PNG and png.stat().st_size > 10_000


def test_human_output_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["swarm", "pso", "--function", "ackley", "--dim", "2", "--iterations", "20",
                 "--seed", "0"]) == 0
    assert "best fitness" in capsys.readouterr().out
    assert main(["swarm", "pso", "--function", "rastrign", "--iterations", "5"]) == 2
    assert "did you mean 'rastrigin'" in capsys.readouterr().err
    assert main(["swarm", "aco", "/nonexistent/x.tsp"]) == 2


def test_help_does_not_import_heavy_modules() -> None:
    code = ("import sys\nfrom cluster.cli import main\n"
            "for argv in (['--help'], ['swarm', '--help'], ['swarm', 'pso', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print([m for m in ('ray', 'numpy', 'matplotlib') if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert out.strip().endswith("[]"), out
