"""Waiting, in a coroutine, for a condition an environment exposes but signals no event for."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest


async def until(predicate: Callable[[], bool], what: str = "condition",
                timeout: float = 5.0) -> None:
    """Return as soon as ``predicate()`` holds; fail the test naming ``what`` at ``timeout``."""
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        pytest.fail(f"not within {timeout} s: {what}")
