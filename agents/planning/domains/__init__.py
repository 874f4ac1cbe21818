"""Classic planning domains, for tests and benchmarks: :mod:`.blocks`.

Example:
    >>> from agents.planning.domains import blocks
    >>> blocks.block_names(3)
    ['b0', 'b1', 'b2']
"""

from __future__ import annotations

from agents.planning.domains import blocks

__all__ = ["blocks"]
