"""Pacing work by the screen's frames."""

from __future__ import annotations

import asyncio
import contextlib

from textual.widget import Widget

# Waiting for a frame is pacing only: a widget being removed never answers.
FRAME_TIMEOUT_S = 0.5


async def next_frame(widget: Widget, timeout: float = FRAME_TIMEOUT_S) -> None:
    """Wait until the screen has laid out and painted what was changed so far."""
    painted = asyncio.Event()
    if widget.call_after_refresh(painted.set):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(painted.wait(), timeout)
