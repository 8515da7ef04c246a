"""Help, themes, compare and costs screens."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import SelectionList, Static

from chatroute.config import load_config
from chatroute.money import usd
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.data import badge_text
from chatroute.tui.screens.chat import ChatScreen
from chatroute.tui.screens.compare import CompareColumn, CompareScreen
from chatroute.tui.screens.costs import CostsScreen, baseline_sentence
from chatroute.tui.screens.help import HelpScreen, binding_sections
from chatroute.tui.themes import PACKAGED, load_themes
from tests.tui.fake_engine import Fail, FakeEngine, FakeStore, Reply, fake_turn_record, seed_conversation
from tests.tui.helpers import assistants, settle, until

SIZE = (120, 40)
REPO = Path(__file__).resolve().parents[2]


def _text(renderable: object, width: int = 200) -> str:
    console = Console(width=width, record=True)
    console.print(renderable)
    return console.export_text()


async def _help_text(pilot: Pilot) -> str:
    """F1, then the keys the help lists, as text."""
    await pilot.press("f1")
    await pilot.pause()
    assert isinstance(pilot.app.screen, HelpScreen)
    return _text(pilot.app.screen.query_one("#help-keys", Static).content)


async def test_help_lists_every_binding(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        text = await _help_text(pilot)
        for _section, bindings in binding_sections(ChatrouteApp):
            for b in bindings:
                assert b.description in text
        for needle in ("^n", "New chat", "Why this model", "Regenerate", "Pin for conversation", "Command palette"):
            assert needle in text
        assert text.count("Composer") == 1 and "@model prompt" in text  # one section (there were two)
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)


async def test_help_says_how_to_close_it_at_its_top(engine: FakeEngine) -> None:
    # The help never said how to leave it; a user who did not know Escape was stuck on it.
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        first = (await _help_text(pilot)).splitlines()[0]
        assert "chatroute — keys" in first and "esc, f1 or q closes this help" in first
        await pilot.press("q")
        assert isinstance(app.screen, ChatScreen)


async def test_palette_has_commands_for_actions(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE):
        titles = {c.title for c in app.get_system_commands(app.screen)}
    for title in ("New conversation", "Rename conversation", "Delete conversation", "Search history", "Choose model",
                  "Export conversation", "Compare models", "Costs", "Cycle router preset", "Preset: frugal",
                  "Preset: balanced", "Preset: best", "Theme: chatroute-dark", "Theme: chatroute-light", "Help",
                  "Toggle sidebar"):
        assert title in titles


async def test_palette_key_hints_come_from_the_bindings(engine: FakeEngine, monkeypatch) -> None:
    from textual.binding import Binding

    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE):
        help_of = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert help_of["New conversation"].endswith("(ctrl+n)")
        assert help_of["Cycle router preset"].endswith("(ctrl+r / f3)")
        assert help_of["Help"].endswith("(f1)")  # "?" types a character in the composer
        assert help_of["Go to cached answer's source"].endswith("(o)")  # its only key
        # Rebinding a key changes the palette with it: one place says which key does what.
        rebound = [Binding("ctrl+t", b.action, b.description) if isinstance(b, Binding) and b.action == "search" else b
                   for b in ChatScreen.BINDINGS]
        monkeypatch.setattr(ChatScreen, "BINDINGS", rebound)
        help_of = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert help_of["Search history"].endswith("(ctrl+t)")


def test_themes_load_and_top_level_copies_match() -> None:
    names = {t.name for t in load_themes()}
    assert {"chatroute-dark", "chatroute-light"} <= names
    for path in PACKAGED.glob("*.toml"):  # themes/ at the top of the repo mirrors the packaged files
        assert (REPO / "themes" / path.name).read_text() == path.read_text()


async def test_theme_from_config_and_fallback() -> None:
    app = ChatrouteApp(FakeEngine(theme="chatroute-light"))
    async with app.run_test(size=SIZE):
        assert app.theme == "chatroute-light"
    app = ChatrouteApp(FakeEngine(theme="no-such-theme"))
    async with app.run_test(size=SIZE):
        assert app.theme == "chatroute-dark"


@pytest.mark.parametrize(("env", "says"), [
    ("bogus", "Unknown theme 'bogus' in CHATROUTE_THEME; using chatroute-dark"),
    (None, "Unknown theme 'bogus' in config (ui.theme); using chatroute-dark"),
], ids=["environment", "config-file"])
async def test_an_unknown_theme_names_the_setting_it_came_from(chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                              env: str | None, says: str) -> None:
    (chatroute_home / "config.toml").write_text('[ui]\ntheme = "chatroute-light"\n' if env else
                                                '[ui]\ntheme = "bogus"\n')
    if env is not None:
        monkeypatch.setenv("CHATROUTE_THEME", env)
    app = ChatrouteApp(FakeEngine(theme=load_config().ui.theme))  # the theme as the real config resolves it
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: says in [str(n.message) for n in app._notifications], f"the notice {says!r}")
        assert app.theme == "chatroute-dark"


async def test_user_theme_dir(chatroute_home: Path) -> None:
    (chatroute_home / "themes").mkdir()
    (chatroute_home / "themes" / "mine.toml").write_text('name = "mine"\nprimary = "#ff0000"\ndark = true\n')
    (chatroute_home / "themes" / "broken.toml").write_text("this is not toml = = =")
    app = ChatrouteApp(FakeEngine(theme="mine"))
    async with app.run_test(size=SIZE):
        assert app.theme == "mine"


async def test_compare_with_a_failing_model_and_pick(store: FakeStore) -> None:
    engine = FakeEngine(store)
    engine.compare_script = {
        "openai/gpt-4o-mini": Reply(text="mini says hi " * 5, model="openai/gpt-4o-mini", delay=0.01),
        "openai/gpt-4o": Fail(error="openai/gpt-4o: 429 rate limited (retry after 30 s)", delay=0.05),
        "anthropic/claude-3-5-haiku-20241022": Reply(text="haiku says hi", model="anthropic/claude-3-5-haiku-20241022",
                                                     cost_usd=0.0031),
    }
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        app.screen.query_one(SelectionList).deselect_all()  # from the pre-selected cheapest and strongest
        await pilot.press("space", "down", "space", "down", "space")  # three models, keyboard only
        assert app.screen.query_one(SelectionList).selected == ["openai/gpt-4o-mini", "openai/gpt-4o",
                                                                  "anthropic/claude-3-5-haiku-20241022"]
        await pilot.press("tab")
        for ch in "hello":
            await pilot.press(ch)
        await pilot.press("enter")
        await settle(pilot, app)
        cols = list(app.screen.query(CompareColumn))
        assert [c.status for c in cols] == ["ok", "error", "ok"]
        assert "429 rate limited" in str(cols[1].query_one(".col-error", Static).render())
        assert str(cols[2].query_one("Badge").render()).startswith("$0.0031 · ")  # the heading names the model
        assert "claude-3-5-haiku-20241022" in str(cols[2].query_one(".col-head", Static).render())
        assert engine.compare_calls[0]["models"] == [c.model for c in cols]
        await pilot.press("2")  # the failed one cannot be picked
        await pilot.pause()
        assert engine.picks == [] and isinstance(app.screen, CompareScreen)
        await pilot.press("3")
        await settle(pilot, app)
        assert isinstance(app.screen, ChatScreen)
        assert engine.picks == [(cols[2].conversation_id, cols[2].message_id)]
        assert assistants(app)[-1].text == "haiku says hi"
        assert "‹3/3›" in str(assistants(app)[-1].query_one("Badge").render())
        # the conversation continues from the picked answer
        await pilot.press("a", "enter")
        await settle(pilot, app)
        parent = store.messages[store.history(app.screen.conversation_id)[-2].id].parent_id
        assert parent == cols[2].message_id


async def test_compare_needs_two_models(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4", "space", "ctrl+s")
        await pilot.pause()
        assert not app.screen.query(CompareColumn) and engine.compare_calls == []
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)


async def test_costs_screen_numbers(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CostsScreen)
        assert "$12.87" in _text(screen.query_one("#total-all", Static).content)
        assert "$0.21" in _text(screen.query_one("#total-today", Static).content)
        baseline = _text(screen.query_one("#baseline", Static).content)
        assert "would have cost $31.40" in baseline and "routing saved $16.90" in baseline
        assert "cache saved ≈$1.63" in baseline  # a hit's saving is always counted, not reported
        budget = _text(screen.query_one("#budget", Static).content)
        assert "$4.19 of $5.00 (84%) ⚠" in budget
        assert screen.query_one("#by-model").row_count == 4
        assert screen.query_one("#by-conversation").row_count == 3
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)


def test_baseline_sentence_says_when_routing_did_not_pay() -> None:
    text = baseline_sentence({"model": "openai/gpt-4o-mini", "cost_usd": 1.0, "actual_usd": 1.5,
                              "routing_saved_usd": -0.5, "cache_saved_usd": 0.1})
    assert text.startswith("Routing cost you $0.50 more than always using gpt-4o-mini")


_PICKS = {"model": "openai/gpt-4o", "cost_usd": 1.0, "actual_usd": 0.4, "routing_saved_usd": 0.6, "chosen_turns": 3}


@pytest.mark.parametrize(("split", "says"), [
    ({"routed_saved_usd": 0.2, "chosen_saved_usd": 0.4, "routed_turns": 5, "cache_saved_usd": 0.1},
     "routing saved $0.20, your own picks saved $0.40, the cache saved ≈$0.10."),
    ({"routed_saved_usd": 0.0, "chosen_saved_usd": 0.6, "routed_turns": 0, "cache_saved_usd": 0.0},
     "no turn was routed; your own picks saved $0.60, the cache saved $0.00."),
], ids=["some-routed", "none-routed"])
def test_baseline_sentence_tells_routing_apart_from_the_users_picks(split: dict[str, float], says: str) -> None:
    assert baseline_sentence({**_PICKS, **split}) == f"Always using gpt-4o would have cost $1.00; {says}"


def test_baseline_sentence_marks_what_rests_on_an_estimate() -> None:
    """As `chatroute costs` marks its cells: the baseline and each saving resting on a turn whose
    usage was estimated, and a cache saving always."""
    text = baseline_sentence({**_PICKS, "routed_saved_usd": 0.2, "chosen_saved_usd": 0.4, "routed_turns": 5,
                              "cache_saved_usd": 0.1, "estimated_baseline_turns": 2, "estimated_routed_turns": 1,
                              "estimated_chosen_turns": 0})
    assert text == ("Always using gpt-4o would have cost ≈$1.00; routing saved ≈$0.20, your own picks saved "
                    "$0.40, the cache saved ≈$0.10.")


def test_badge_formats() -> None:
    rec = fake_turn_record(id="t", conversation_id="c", message_id="m", model="openai/gpt-4o", provider="openai",
                           cost_usd=None, ttft_ms=1200, total_ms=999, tokens_per_s=None, usage_estimated=True,
                           input_tokens=15000, output_tokens=10)
    assert badge_text(rec) == "gpt-4o · n/a · ttft 1.2 s · 999 ms · – tok/s · ≈15.0k→≈10 tok"
    assert usd(0) == "$0.00" and usd(0.5) == "$0.50" and usd(2.345) == "$2.35"


def test_a_narrow_badge_gives_back_what_fits_once_the_why_is_gone() -> None:
    from chatroute.tui.widgets.badge import Badge

    b = Badge("gpt-4o-mini · why: quality 0.95 vs 0.98 at 1/25 of the cost · $0.0012 · ttft 250 ms · 1.4 s"
              " · 90 tok/s · 50→120 tok")
    b._parts = b.text.split(" · ")
    assert b.fitted(200) == b.text
    assert b.fitted(90) == "gpt-4o-mini · why: quality 0.95 vs 0.98 at 1/25 of the cost · $0.0012 · ttft 250 ms"
    # Too narrow for the why: the total and the tokens dropped before it come back.
    assert b.fitted(60) == "gpt-4o-mini · $0.0012 · ttft 250 ms · 1.4 s · 50→120 tok"
    assert b.fitted(30) == "gpt-4o-mini · $0.0012 · 1.4 s"  # the total time fits where ttft did not


async def test_streaming_does_not_block_parallel_columns(store: FakeStore) -> None:
    """A slow model keeps streaming while the fast ones are already done."""
    engine = FakeEngine(store)
    engine.compare_script = {"openai/gpt-4o-mini": Reply(text="s" * 200, delay=0.03),
                             "openai/gpt-4o": Reply(text="fast", model="openai/gpt-4o")}
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(CompareScreen(app.backend, None, "hi", models=["openai/gpt-4o-mini", "openai/gpt-4o"]))
        await pilot.pause()
        app.screen.action_start()
        for _ in range(100):
            await asyncio.sleep(0.02)
            cols = list(app.screen.query(CompareColumn))
            if len(cols) == 2 and cols[1].status == "ok":
                break
        assert cols[1].status == "ok" and cols[0].status == "streaming"
        await pilot.press("escape")  # mid-stream: the slow column is cancelled, the screen closes
        await settle(pilot, app)
        assert not isinstance(app.screen, CompareScreen)


async def test_cache_toggle_from_palette_action(store: FakeStore) -> None:
    seed_conversation(store, "One", [("x", "y")])
    app = ChatrouteApp(FakeEngine(store))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        [cmd] = [c for c in app.get_system_commands(app.screen) if c.title == "Toggle answer cache"]
        cmd.callback()
        await settle(pilot, app)
        assert store.list_conversations()[0].cache_enabled is False
        assert "cache off" in str(app.screen.sub_title)


def test_tiny_costs_are_not_shown_as_free_or_garbled() -> None:
    assert usd(0.000001) == "$0.000001" and usd(1e-9) == "<$0.000001"
    assert usd(0.00002) == "$0.00002"


def test_badge_says_when_an_answer_was_cut_at_max_tokens() -> None:
    rec = {"model": "openai/gpt-4o-mini", "cost_usd": 0.001, "finish_reason": "length", "status": "complete"}
    assert "cut at max tokens" in badge_text(rec)
    assert "cut at max tokens" not in badge_text({**rec, "finish_reason": "stop"})


def test_help_covers_every_described_binding_chatroute_defines() -> None:
    """A key added to any widget or screen with a description must reach the help screen (a
    dialog's own keys are on the dialog: a yes/no question, the help itself)."""
    import importlib
    import inspect
    import pkgutil

    from textual.binding import Binding
    from textual.screen import ModalScreen

    import chatroute.tui

    listed = {(b.key, b.action) for _section, bindings in binding_sections(ChatrouteApp) for b in bindings}
    missing = []
    for module_info in pkgutil.walk_packages(chatroute.tui.__path__, "chatroute.tui."):
        module = importlib.import_module(module_info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or issubclass(cls, ModalScreen):
                continue
            for b in cls.__dict__.get("BINDINGS", []):
                if isinstance(b, Binding) and b.description and (b.key, b.action) not in listed:
                    missing.append(f"{name}: {b.key} ({b.description})")
    assert missing == []


async def test_rename_and_delete_with_no_conversation_say_why_nothing_happens(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen) and app.screen.conversation_id is None
        await pilot.press("f2")
        app.screen.action_delete_current()
        await pilot.pause()
        said = [str(n.message) for n in app._notifications]
        assert said[-2:] == ["Nothing to rename yet: a conversation starts with its first message",
                             "Nothing to delete yet: a conversation starts with its first message"]
        assert isinstance(app.screen, ChatScreen)  # no dialog opened for nothing


_README_NAMES = {"enter": "Enter", "escape": "Escape", "delete": "Delete", "home": "Home", "end": "End",
                 "pageup": "PageUp", "space": "Space", "up": "↑", "down": "↓", "left": "←", "right": "→",
                 "left_square_bracket": "[", "right_square_bracket": "]", "slash": "/", "question_mark": "?",
                 "tab": "Tab"}


def _readme_form(key: str) -> str:
    """'ctrl+j' -> 'Ctrl+J', 'left_square_bracket' -> '[', 'f2' -> 'F2': as the README writes keys."""
    *mods, last = key.split("+")
    name = _README_NAMES.get(last) or (last.upper() if mods or last.startswith("f") and len(last) > 1 else last)
    return "+".join([*(m.capitalize() for m in mods), name])


def test_the_readme_and_the_help_name_the_same_keys() -> None:
    """README's Key bindings and the help screen (F1) list the same keys: the help lacked End,
    PageUp, ↑ from the composer and compare's Space; the README lacked i, the compare screen's
    Ctrl+S, the costs screen's q and Ctrl+End."""
    import re

    from chatroute.tui.screens.help import OTHER_KEYS

    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Key bindings\n")
    section = text[start:text.index("\n## ", start + 1)]
    helped = {k.strip() for _s, bindings in binding_sections(ChatrouteApp) for b in bindings for k in b.key.split(",")}
    helped |= {key for rows in OTHER_KEYS.values() for key, _what in rows}

    def said(form: str) -> bool:
        return re.search(rf"(?<![\w+]){re.escape(form)}(?![\w+])", section) is not None

    unsaid = [k for k in helped if not (k.isdigit() and "1–4" in section) and not said(_readme_form(k))]
    assert sorted(unsaid) == []

    by_form = {_readme_form(k): k for k in helped}
    cells = [row.split("|")[1].replace(" / ", ", ") for row in section.splitlines()
             if row.startswith("| ") and not row.startswith("| key |")]
    token = (r"(?:Ctrl|Shift)\+\w+|F\d+\b|Enter|Escape|Delete|Home|End|PageUp|Space|[↑↓←→\[\]?/]"
             r"|(?<![\w'])[a-z](?![\w'])")
    listed = {t for cell in cells for t in re.findall(token, cell)}
    assert {"Enter", "Ctrl+J", "F4", "w", "["} <= listed  # the tables were read
    assert sorted(t for t in listed if t not in by_form) == []


async def test_help_says_ctrl_c_in_compare_also_stops_a_compare_still_starting(engine: FakeEngine) -> None:
    # Since acc1f67 Ctrl+C in compare also stops a compare still starting, before anything is
    # sent; the help's row spoke only of answers streaming.
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        text = await _help_text(pilot)
        compare = text[text.index("\nCompare"):]
        row = " ".join(line.strip() for line in compare.splitlines() if line.strip().startswith("^c"))
        assert "still starting" in row and "before" in row, row
