"""PNG plots of a run: the convergence curve, and for a TSP the best tour over the cities.

matplotlib is optional (the ``plot`` extra); it is imported, with the Agg
backend, only when a plot is drawn, and its absence is a :class:`PlotUnavailable`
with the install hint.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from swarm.errors import SwarmError

__all__ = ["PlotUnavailable", "plot_result"]


class PlotUnavailable(SwarmError):
    """matplotlib is not installed."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise PlotUnavailable("plotting needs matplotlib: pip install 'raymas[plot]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_result(result: dict[str, Any], path: str | Path, *, title: str = "",
                coords: np.ndarray | None = None, log_scale: bool | None = None) -> Path:
    """Write ``result``'s convergence curve (and, with ``coords``, its tour) to a PNG.

    Args:
        result: a dict from :class:`~swarm.framework.SwarmIntelligenceFramework`.
        path: where the PNG goes.
        coords: city coordinates (``n x 2``); draws ``result["tour"]`` beside the curve.
        log_scale: a log y axis (default: a positive curve spanning two decades).
    """
    plt = _pyplot()
    history = np.asarray(result["convergence_history"], dtype=float)
    tour: Sequence[int] | None = result.get("tour")
    with_tour = coords is not None and tour is not None
    fig, axes = plt.subplots(1, 2 if with_tour else 1, figsize=(11 if with_tour else 6, 4.5),
                             squeeze=False)
    ax = axes[0][0]
    ax.plot(np.arange(1, history.size + 1), history, color="tab:blue")
    ax.set_xlabel("iteration")
    ax.set_ylabel("best length" if with_tour else "best fitness")
    ax.set_title(title or "convergence")
    if log_scale is None:  # log when the curve spans two decades or more
        log_scale = bool(history.size and np.all(history > 0)
                         and history.max() >= 100 * history.min())
    if log_scale:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    if coords is not None and tour is not None:
        xy = np.asarray(coords, dtype=float)[:, :2]
        closed = np.asarray([*tour, tour[0]], dtype=np.intp)
        right = axes[0][1]
        right.plot(xy[closed, 0], xy[closed, 1], "-", color="tab:orange", linewidth=1)
        right.plot(xy[:, 0], xy[:, 1], "o", color="tab:blue", markersize=3)
        right.set_title(f"best tour: {result.get('best_length', float('nan')):g}")
        right.set_aspect("equal", adjustable="datalim")
        right.set_xticks([])
        right.set_yticks([])
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
