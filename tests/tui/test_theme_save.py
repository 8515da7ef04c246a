"""A theme chosen in the TUI is saved to the config (ui.theme) and survives a restart, with
the user's comments and layout untouched."""

from __future__ import annotations

from pathlib import Path

from chatroute.config import load_config
from chatroute.config_edit import set_string
from chatroute.engine import Engine
from chatroute.paths import resolve_paths
from chatroute.tui.app import ChatrouteApp
from tests.tui.helpers import run_palette_command, settle

SIZE = (100, 30)
CONFIG = """\
# my chatroute settings — hand written, keep my notes
[providers.openai]
kind = "openai"
api_key_env = "TEST_OPENAI_KEY"   # never read: no turn is sent

[router]
preset = "frugal"   # cheap by default

[ui]
# the dark one at night
theme = "chatroute-dark"          # or "chatroute-light"
baseline_model = "openai/gpt-4o"

[cache]
enabled = true  # yes please
"""


async def test_theme_from_the_palette_is_saved_and_survives_a_restart(chatroute_home: Path) -> None:
    config = chatroute_home / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    app = ChatrouteApp(Engine.open(), close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "chatroute-dark"
        await run_palette_command(pilot, "theme: chatroute-light")
        assert app.theme == "chatroute-light"
    # Only the value changed: every comment, blank line and other setting is as the user wrote it.
    assert config.read_text(encoding="utf-8") == CONFIG.replace(
        'theme = "chatroute-dark"          # or', 'theme = "chatroute-light"          # or')
    assert load_config(resolve_paths()).ui.theme == "chatroute-light"

    restarted = ChatrouteApp(Engine.open(), close_engine=True)
    async with restarted.run_test(size=SIZE) as pilot:
        assert restarted.theme == "chatroute-light"
        # Textual's own theme picker sets app.theme directly: that is saved too.
        restarted.theme = "textual-light"
        await settle(pilot, restarted)
    assert load_config(resolve_paths()).ui.theme == "textual-light"
    assert "# the dark one at night" in config.read_text(encoding="utf-8")


async def test_theme_goes_into_a_config_without_a_ui_table(chatroute_home: Path) -> None:
    config = chatroute_home / "config.toml"
    config.write_text('[router]\npreset = "best"  # note\n', encoding="utf-8")
    app = ChatrouteApp(Engine.open(), close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await run_palette_command(pilot, "theme: chatroute-light")
    expected = '[router]\npreset = "best"  # note\n\n[ui]\ntheme = "chatroute-light"\n'
    assert config.read_text(encoding="utf-8") == expected
    cfg = load_config(resolve_paths())
    assert cfg.ui.theme == "chatroute-light" and cfg.router.preset == "best"


async def test_a_config_it_cannot_edit_safely_is_left_alone_with_a_warning(chatroute_home: Path) -> None:
    config = chatroute_home / "config.toml"
    text = 'ui = { theme = "chatroute-dark" }  # an inline table\n'
    config.write_text(text, encoding="utf-8")
    app = ChatrouteApp(Engine.open(), close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await run_palette_command(pilot, "theme: chatroute-light")
        assert app.theme == "chatroute-light"  # applied for this run
        assert any(n.message.startswith("Theme not saved:") for n in app._notifications)
    assert config.read_text(encoding="utf-8") == text


def test_set_string_keeps_crlf_and_dotted_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b'[ui]\r\ntheme = "a"  # c\r\n')
    set_string(path, "ui", "theme", "b")
    assert path.read_bytes() == b'[ui]\r\ntheme = "b"  # c\r\n'
    path.write_text("ui.theme = 'a' # dotted\n[router]\npreset = \"best\"\n", encoding="utf-8")
    set_string(path, "ui", "theme", 'quote " and \\ backslash')
    assert path.read_text(encoding="utf-8").startswith('ui.theme = "quote \\" and \\\\ backslash" # dotted\n')


async def test_a_read_only_config_is_not_rewritten(chatroute_home: Path) -> None:
    """A config the user made read-only (chmod 444: a managed file, or one they do not want
    changed) was replaced all the same, read-only bits kept, since a rename needs only the
    folder's permission. It is refused as an editor does; the theme applies for this run."""
    config = chatroute_home / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    config.chmod(0o444)
    app = ChatrouteApp(Engine.open(), close_engine=True)
    # Every notice, kept: one that timed out before a loaded machine got here was gone from the
    # app's own list.
    notices: list[str] = []
    shown = app.notify
    app.notify = lambda message, *a, **kw: (notices.append(str(message)), shown(message, *a, **kw))[1]  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await run_palette_command(pilot, "theme: chatroute-light")
        assert app.theme == "chatroute-light"
        said = [n for n in notices if n.startswith("Theme not saved:")]
        assert said and "read-only" in said[0] and str(config) in said[0], said
    assert config.read_text(encoding="utf-8") == CONFIG
