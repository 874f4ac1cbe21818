"""The one benchmark output format (see ../shared/DESIGN.md): a JSON line per figure."""

from __future__ import annotations

import json
import sys
from typing import Any

_FIGURES = sys.stdout


def figures_only_on_stdout() -> None:
    """Keep stdout for the JSON lines: anything else printed (Ray's log lines) goes to stderr."""
    sys.stdout = sys.stderr


_ONLY: list[str] = []


def start(description: str, parts: tuple[str, ...] = ()) -> bool:
    """Parse ``--quick`` (and ``--only`` when the bench has ``parts``) and keep stdout for
    figures; returns whether the run is quick."""
    import argparse

    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a reduced run (under 2 min)")
    if parts:
        parser.add_argument("--only", default="", help=f"comma-separated, of {', '.join(parts)}")
    args = parser.parse_args()
    if parts and args.only:
        wanted = [p.strip() for p in args.only.split(",") if p.strip()]
        unknown = sorted(set(wanted) - set(parts))
        if unknown:
            parser.error(f"--only: unknown part(s) {unknown}; known: {', '.join(parts)}")
        _ONLY[:] = wanted
    figures_only_on_stdout()
    return bool(args.quick)


def selected_parts() -> list[str]:
    """The parts ``--only`` asked for; empty means all."""
    return list(_ONLY)


def emit(bench: str, metric: str, value: float, unit: str, *, baseline: float | None = None,
         baseline_name: str | None = None, target: float | None = None,
         better: str | None = None, **extra: Any) -> dict[str, Any]:
    """Print one figure as a JSON line on stdout and return it."""
    row: dict[str, Any] = {"bench": bench, "metric": metric, "value": round(value, 3),
                           "unit": unit}
    if baseline is not None:
        row.update(baseline=round(baseline, 3), baseline_name=baseline_name,
                   ratio=round(value / baseline, 3) if baseline else None)
    if target is not None:
        row.update(target=target, better=better)
    row.update(extra)
    print(json.dumps(row), file=_FIGURES, flush=True)
    return row


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)
