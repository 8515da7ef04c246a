"""What the chat screen's title and status bar say."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.screen import Screen

from chatroute.accounting import percent_used
from chatroute.catalog.prices import as_of_label
from chatroute.tui.data import Backend, conv_title, short_model


def budget_status_text(budget: dict[str, Any], chosen: str | None = None) -> str:
    """The status bar's budget warning (shown from 80%): `⚠ budget 85% used`, `⛔ budget reached`.
    `chosen`: the next turn's override, else the conversation's pin, which no cap stops."""
    if budget.get("level") == "over":
        if chosen:
            return f"⛔ budget reached: {short_model(chosen)}, your choice, is paid without asking"
        return "⛔ budget reached: new turns ask first"
    return f"⚠ budget {percent_used(float(budget.get('fraction') or 0.0))}% used: stepping down to cheaper models"


def subtitle(backend: Backend, conversation_id: str | None, preset: str) -> str:
    """The header's second line: the conversation, its pin and cache switch, the router preset."""
    parts = []
    if conversation_id:
        conv = backend.conversation(conversation_id)
        parts.append(conv_title(conv) if conv is not None else "Untitled")
        pin = backend.pin_of(conversation_id)
        if pin:
            parts.append(f"pinned: {short_model(pin)}")
        if backend.cache_off_in_config():
            parts.append("cache off (config)")
        elif not backend.cache_enabled(conversation_id):
            parts.append("cache off")
    else:
        parts.append("new conversation")
    parts.append(f"preset: {preset}")
    return " · ".join(parts)


def status_line(backend: Backend, conversation_id: str | None, next_override: str | None,
                budget: dict[str, Any] | None) -> Text:
    """The line above the composer: the next turn's override, a budget warning, the prices' age."""
    status = []
    if next_override:
        status.append(f"next turn: {short_model(next_override)} (override)")
    # The budget before the prices' age: on a narrow terminal the line's end is cut, and the
    # budget changes what the next turn does.
    if budget is not None and budget.get("level") in ("warn", "over"):
        chosen = next_override or (backend.pin_of(conversation_id) if budget.get("level") == "over" else None)
        status.append(budget_status_text(budget, chosen))
    dates = backend.price_dates()
    if dates:
        status.append(as_of_label(*dates))
    elif backend.model_ids():  # with no models (yet) there are no prices to date
        status.append("prices: unknown age")
    return Text(" · ".join(status), no_wrap=True, overflow="ellipsis")


def lock_wait_notice(screen: Screen[Any]) -> Callable[[str | None], None]:
    """The store's on_wait callback for this screen. The store calls it from the worker thread
    that waits, so the notice is handed to the app's thread."""

    def show(line: str | None) -> None:
        if line:
            screen.notify(f"{line}. Esc stops waiting; your prompt is kept.", title="Database busy",
                          severity="warning", timeout=30, markup=False)

    def on_wait(line: str | None) -> None:
        try:
            screen.app.call_from_thread(show, line)
        except RuntimeError:  # already on the app's thread
            show(line)

    return on_wait
