"""The Textual UI. Only this package imports textual; the core never imports it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chatroute.engine_api import EngineAPI


def run_tui(engine: EngineAPI) -> None:
    """Entry used by the CLI: run the app on an open Engine (imports textual lazily)."""
    from chatroute.tui.app import run_tui as _run

    _run(engine)


__all__ = ["run_tui"]
