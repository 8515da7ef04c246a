"""Fixed scenes for snapshots and README screenshots (no clock, no random ids on screen)."""

from __future__ import annotations

from typing import cast

from textual.pilot import Pilot
from textual.widgets import Input

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.compare import CompareScreen
from chatroute.tui.widgets.composer import Composer
from tests.tui.fake_engine import Fail, FakeEngine, FakeStore, Reply, seed_conversation
from tests.tui.helpers import settle

ANSWER = """A **lifetime** names the region of code where a reference is valid.

```rust
fn longest<'a>(x: &'a str, y: &'a str) -> &'a str {
    if x.len() > y.len() { x } else { y }
}
```

- `'a` ties the output to *both* inputs
- the borrow checker rejects any use past the shorter one
"""


def make_app(theme: str = "chatroute-dark") -> tuple[ChatrouteApp, FakeEngine]:
    store = FakeStore()
    seed_conversation(store, "Trip to Lisbon", [("Best month to visit Lisbon?", "May or late September.")])
    seed_conversation(store, "SQL window functions", [("rank vs dense_rank?", "dense_rank leaves no gaps.")])
    engine = FakeEngine(store, theme=theme)
    engine.script += [
        Reply(text=ANSWER, model="anthropic/claude-3-5-haiku-20241022", cost_usd=0.00213, ttft_ms=410, total_ms=3200,
              tokens_per_s=92, reroutes=[("openai/gpt-4o-mini", "429", "anthropic/claude-3-5-haiku-20241022")]),
        Reply(text="Same answer as before: a lifetime is the region where a reference is valid.",
              cache_similarity=0.97, cache_source_turn="t000042"),
        Fail(error="openai/gpt-4o: 503 overloaded — all fallbacks failed"),
    ]
    return ChatrouteApp(engine), engine


async def _quiet(pilot: Pilot) -> None:
    await settle(pilot, pilot.app)
    for composer in pilot.app.screen.query(Composer):
        # Blink is turned off with the cursor shown only if the composer has focus by then
        # (focus moves on the next tick): wait for it, or the picture depends on timing.
        composer.focus()
        await pilot.pause()
        composer.cursor_blink = False
        # TextArea caches rendered lines under a key that leaves the cursor out once blink is
        # off, so a line drawn in the blink's dark phase (or before focus) would be reused
        # without its cursor: drop the cache so the cursor line is drawn from the state above.
        composer.notify_style_update()
        composer.refresh()
    await pilot.pause()


async def chat_scene(pilot: Pilot) -> None:
    app = pilot.app
    await settle(pilot, app)  # the snapshot harness may call us before the first screen is composed
    for prompt in ("Explain Rust lifetimes briefly", "what's a lifetime in rust", "@gpt-4o and in C++?"):
        app.screen.query_one(Composer).insert(prompt)
        await pilot.press("enter")
        await settle(pilot, app)
    app.clear_notifications()
    await _quiet(pilot)


async def why_scene(pilot: Pilot) -> None:
    await chat_scene(pilot)
    from chatroute.tui.widgets.message import AssistantMessage

    first = pilot.app.screen.query(AssistantMessage).first()
    # The chat's scrollbar thumb flickers between two sizes from run to run here (its virtual
    # height settles at a timing-dependent moment); the panel, not the thumb, is what this shows.
    pilot.app.screen.query_one("#chat").styles.scrollbar_size_vertical = 0
    first.focus()
    await pilot.press("w")
    await settle(pilot, pilot.app)  # the panel scrolls itself into view after a refresh: let it, then scroll
    pilot.app.screen.query_one("#chat").scroll_to_widget(first, top=True, animate=False)
    await settle(pilot, pilot.app)
    chat = pilot.app.screen.query_one("#chat")
    # Message heights settle over a few refreshes (Markdown blocks lay out after mounting), which
    # moves the scrollbar: wait until the chat's height holds still, then scroll once more.
    last, still = None, 0
    for _ in range(40):
        await pilot.pause(0.05)
        size = (chat.virtual_size, chat.max_scroll_y)
        still = still + 1 if size == last else 0
        if still >= 4:
            break
        last = size
    chat.scroll_to_widget(first, top=True, animate=False)
    await settle(pilot, pilot.app)


async def help_scene(pilot: Pilot) -> None:
    await _quiet(pilot)
    await pilot.press("f1")
    await pilot.pause()


async def compare_scene(pilot: Pilot) -> None:
    app = cast(ChatrouteApp, pilot.app)
    engine = cast(FakeEngine, app.engine)
    engine.compare_script = {
        "openai/gpt-4o-mini": Reply(text="**Lisbon** in May: warm, 22 °C, few crowds.", model="openai/gpt-4o-mini"),
        "openai/gpt-4o": Fail(error="openai/gpt-4o: 429 rate limited (retry after 30 s)"),
        "anthropic/claude-3-5-haiku-20241022": Reply(
            text="Late **September**: sea still warm, prices drop after the summer peak.",
            model="anthropic/claude-3-5-haiku-20241022", cost_usd=0.0031, ttft_ms=510, total_ms=1900,
            tokens_per_s=77),
    }
    await _quiet(pilot)
    app.push_screen(CompareScreen(app.backend, None, "When should I visit Lisbon?",
                                  models=["openai/gpt-4o-mini", "openai/gpt-4o",
                                          "anthropic/claude-3-5-haiku-20241022"]))
    await pilot.pause()
    cast(CompareScreen, app.screen).action_start()
    await settle(pilot, app)
    app.clear_notifications()
    await pilot.pause()


async def compare_picker_scene(pilot: Pilot) -> None:
    """F4 from the chat: the picker with the pool's cheapest and strongest pre-selected."""
    await _quiet(pilot)
    pilot.app.screen.query_one(Composer).insert("When should I visit Lisbon?")
    await pilot.press("f4")
    await pilot.pause()
    for composer in pilot.app.screen.query(Input):
        composer.cursor_blink = False
    await pilot.pause()


async def costs_scene(pilot: Pilot) -> None:
    await _quiet(pilot)
    await pilot.press("f5")
    await pilot.pause()


async def picker_scene(pilot: Pilot) -> None:
    await _quiet(pilot)
    await pilot.press("ctrl+o")
    await pilot.pause()


async def narrow_scene(pilot: Pilot) -> None:
    await chat_scene(pilot)
