"""ChatrouteApp: the Textual application around an Engine (or anything with its surface)."""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.command import CommandPalette
from textual.css.query import NoMatches
from textual.filter import LineFilter, Monochrome, NoColor
from textual.screen import Screen
from textual.theme import ThemeProvider

from chatroute.tui.collector import CHECK_INTERVAL_S, COLLECTOR
from chatroute.tui.data import PRESETS, Backend, error_line
from chatroute.tui.key_gate import KeyGate
from chatroute.tui.screens.chat import ChatScreen
from chatroute.tui.themes import load_themes
from chatroute.tui.widgets.palette import SafeCommandPalette

if TYPE_CHECKING:
    from rich.console import RenderableType

    from chatroute.engine_api import EngineAPI

DEFAULT_THEME = "chatroute-dark"
STARTUP_WARNING_TIMEOUT_S = 30.0  # long enough to read a path and a chmod command
NO_MODELS_TIMEOUT_S = 120.0  # nothing else to do until it is acted on
REEMBED_TIMEOUT_S = 10.0
DAMAGED_CACHE_TIMEOUT_S = 30.0  # a step to take, not a passing state


_NO_COLOR = NoColor()


class ChatrouteApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "chatroute"
    BINDINGS = [
        # Priority: a dialog (the model picker, rename, delete) ends the binding chain otherwise.
        Binding("f1", "help", "Help", priority=True),
        Binding("question_mark", "help", "Help (when not typing)", show=False),
        Binding("ctrl+r,f3", "cycle_preset", "Preset"),
        Binding("f4", "compare", "Compare"),
        Binding("f5", "costs", "Costs"),
    ]

    def __init__(self, engine: EngineAPI, *, close_engine: bool = False, freeze_startup: bool = False) -> None:
        """`freeze_startup`: the app owns the process (the `chatroute` command), so what exists
        once it is up can be frozen out of garbage collection (not in tests: many apps share
        a process there, and one app's garbage would be frozen by the next)."""
        super().__init__()
        self.engine = engine
        self.backend = Backend(engine)
        self._close_engine = close_engine
        self._freeze_startup = freeze_startup
        for theme in load_themes(self._user_theme_dirs()):
            self.register_theme(theme)
        wanted = self.backend.theme_name() or DEFAULT_THEME
        self._theme_warning: str | None = None
        if wanted not in self.available_themes:
            where = self.backend.theme_setting()
            self._theme_warning = f"Unknown theme {wanted!r} in {where}; using {DEFAULT_THEME}"
            wanted = DEFAULT_THEME
        self.theme = wanted
        self._saved_theme = wanted  # what the config says (or its fallback): no write for that
        self._ui_thread = 0  # set in on_mount: the thread the app runs on
        self._key_gate = KeyGate(self)

    def _user_theme_dirs(self) -> list[Any]:
        try:
            from chatroute.paths import resolve_paths

            return [resolve_paths().config_file.parent / "themes"]
        except Exception:  # no usable home: packaged themes only
            return []

    def get_line_filters(self) -> list[LineFilter]:
        # Under NO_COLOR Textual picks, when the app is made, a filter that drops colours for an
        # ANSI theme and one that turns them grey for any other. The theme is set after that
        # (ui.theme), and for an ANSI theme the grey filter takes the terminal's default colours
        # for black: text black on black. So the choice follows the theme in use.
        filters = list(super().get_line_filters())
        if self.no_color and self.native_ansi_color:
            return [_NO_COLOR if isinstance(f, Monochrome) else f for f in filters]
        return filters

    def get_default_screen(self) -> Screen[Any]:
        return ChatScreen(self.backend)

    def on_mount(self) -> None:
        COLLECTOR.install()  # full garbage collections at quiet moments (see collector.py)
        self.set_interval(CHECK_INTERVAL_S, COLLECTOR.tick, name="quiet-gc")
        if self._theme_warning:
            self.notify(self._theme_warning, severity="warning", markup=False)
        for warning in self.backend.startup_warnings():
            self.notify(warning, title="Config warning", severity="warning", timeout=STARTUP_WARNING_TIMEOUT_S,
                        markup=False)
        # Any theme change (our palette entries or Textual's own theme picker) is saved.
        self.theme_changed_signal.subscribe(self, self._save_theme)
        if self._freeze_startup:
            self.call_after_refresh(gc.freeze)  # after the first frame: see _warm_then_freeze
            self._catch_stop_signals()  # the app owns the process: its signals are ours to handle
        self._ui_thread = threading.get_ident()
        self.engine.on_cache_reembed = self._say_cache_reembed
        self.engine.on_cache_damaged = self._say_cache_damaged
        warm: Callable[[], None] = self.engine.warm
        if self._freeze_startup:
            warm = partial(_warm_then_freeze, warm)
        # After the first frame: the warm-up's imports hold the GIL, and sharing it with the
        # first screen's mount and queries (sqlite3 lets go of the GIL on every row fetched)
        # made opening a 10,000-turn conversation several times slower.
        self.call_after_refresh(self.run_worker, warm, thread=True, group="warm", exit_on_error=False)
        missing = self._no_models_help()
        if missing:  # say it now, not after the first message fails
            self.notify(missing, title="No models to use yet", severity="warning", timeout=NO_MODELS_TIMEOUT_S,
                        markup=False)
        self.run_worker(partial(self._offer_local_servers, no_models=bool(missing)), thread=True, group="discovery",
                        exit_on_error=False)

    def _say_cache_reembed(self, entries: int) -> None:
        """The cache embeds its entries again once after an upgrade (seconds for a large one),
        from the warm-up thread or a turn's: say so, and that repeats are still answered."""
        noun = "cached answer" if entries == 1 else "cached answers"
        message = (f"Preparing {entries:,} {noun} for this version (once, after an upgrade). "
                   "Exact repeats are still answered from the cache meanwhile.")
        notify = partial(self.notify, message, title="Answer cache", timeout=REEMBED_TIMEOUT_S, markup=False)
        if threading.get_ident() == self._ui_thread:
            notify()
        else:
            self.call_from_thread(notify)

    def _say_cache_damaged(self, message: str) -> None:
        """The answer cache's tables are damaged (found by the warm-up or a turn): said once, as
        a warning that stays up a while, with the command that rebuilds it."""
        text = message[:1].upper() + message[1:] + "."
        notify = partial(self.notify, text, title="Answer cache", severity="warning",
                         timeout=DAMAGED_CACHE_TIMEOUT_S, markup=False)
        if threading.get_ident() == self._ui_thread:
            notify()
        else:
            self.call_from_thread(notify)

    def _no_models_help(self) -> str | None:
        """The exact next step when the pool is empty (no keys, nothing configured), else None."""
        help_line = self.backend.no_models()
        if help_line is None:
            return None
        from chatroute.discovery import discovery_disabled

        looking = "" if discovery_disabled() else " Looking for local model servers…"
        return help_line[0].upper() + help_line[1:] + "." + looking

    def _catch_stop_signals(self) -> None:
        """SIGTERM and SIGHUP (the terminal closed) end the app the way ctrl+q does instead of
        killing the process: a reply still streaming is stopped and saved, marked interrupted,
        with its estimated cost. The exit code is 128 + the signal's number."""
        import asyncio
        import signal

        loop = asyncio.get_running_loop()
        for name in ("SIGTERM", "SIGHUP"):
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                loop.add_signal_handler(sig, partial(self.exit, None, 128 + sig))
            except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
                pass

    def _offer_local_servers(self, no_models: bool = False) -> None:
        """Probe the usual local ports (off the UI thread) and offer what is running; with no
        models at all, also say when none answered."""
        from chatroute.discovery import DEFAULT_PORTS, discovery_disabled

        message = self.backend.local_servers_offer()
        if message:
            self.call_from_thread(self.notify, message, title="Local models", timeout=20 if not no_models else 60)
        elif no_models and not discovery_disabled():
            ports = ", ".join(f"{port} ({name})" for name, port in DEFAULT_PORTS.items())
            self.call_from_thread(self.notify, f"No local model server answered on 127.0.0.1 ports {ports}.",
                                  title="Local models", timeout=NO_MODELS_TIMEOUT_S)

    async def on_event(self, event: events.Event) -> None:
        # Mouse moves are not waiting on anything; keys, clicks, wheel and pastes are.
        if isinstance(event, (events.Key, events.MouseDown, events.MouseUp, events.MouseScrollDown,
                              events.MouseScrollUp, events.Paste)):
            COLLECTOR.activity()
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            if self._key_gate.holds(event):
                return
            if self.screen_stack and not self.screen_stack[-1].is_mounted:
                # Typed as the command started: the screen would take it before its mount has
                # focused the composer, and drop it (the first key; the gate saved the rest).
                self._key_gate.hold(event)
                return
            focused = self.focused
            await super().on_event(event)
            self._key_gate.handled(event, focused)
            return
        await super().on_event(event)

    async def on_unmount(self) -> None:
        self._key_gate.close()
        COLLECTOR.uninstall()
        if self._close_engine:
            await self.engine.aclose()

    def chat_screen(self) -> ChatScreen:
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                return screen
        raise LookupError("no chat screen")

    def exit(self, result: None = None, return_code: int = 0, message: RenderableType | None = None) -> None:
        from chatroute.tui.screens.compare import CompareScreen

        # Ctrl+Q, SIGTERM or a closed terminal over a compare not yet asked (or one Esc set aside):
        # the question written in it is the user's, kept with the draft as the composer's is.
        with contextlib.suppress(NoMatches, LookupError):  # a screen half torn down: quit all the same
            for screen in self.screen_stack:
                if isinstance(screen, CompareScreen) and screen.is_mounted:
                    screen.set_aside()
            self.chat_screen().keep_compare_question()
        super().exit(result, return_code, message)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        from chatroute.tui.screens.compare import CompareScreen
        from chatroute.tui.screens.costs import CostsScreen

        # Out of the footer on the screen the key would open, where it does nothing.
        if action == "compare" and isinstance(self.screen, CompareScreen):
            return False
        if action == "costs" and isinstance(self.screen, CostsScreen):
            return False
        return True

    # ---- app-wide actions ----
    def action_help(self) -> None:
        from chatroute.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.pop_screen()  # F1 opens and closes it
        else:
            self.push_screen(HelpScreen())

    def action_cycle_preset(self) -> None:
        current = self.backend.preset()
        nxt = PRESETS[(PRESETS.index(current) + 1) % len(PRESETS)] if current in PRESETS else "balanced"
        self.action_set_preset(nxt)

    def action_set_preset(self, preset: str) -> None:
        try:
            self.backend.set_preset(preset)
        except Exception as exc:
            self.notify(f"Could not set preset: {exc}", severity="error", markup=False)
            return
        self.notify(f"Router preset: {preset}", timeout=2, markup=False)
        try:
            self.chat_screen().preset = preset
        except LookupError:
            pass

    def action_compare(self) -> None:
        from chatroute.tui.screens.compare import CompareScreen
        from chatroute.tui.screens.costs import CostsScreen

        if isinstance(self.screen, CostsScreen):
            # F4 replaces the costs screen rather than stacking on it (Escape would have led
            # back to the costs). A compare opened before it is what was underneath: shown again.
            self.pop_screen()
        if not isinstance(self.screen, CompareScreen):
            self.chat_screen().action_compare()

    def action_costs(self) -> None:
        from chatroute.tui.screens.compare import CompareScreen
        from chatroute.tui.screens.costs import CostsScreen

        if isinstance(self.screen, CostsScreen):
            return
        if isinstance(self.screen, CompareScreen) and not self.screen.columns:
            # Not started: nothing sent, nothing to lose (the prompt is still the chat's draft),
            # so the costs replace it. A started compare stays underneath: its answers may be
            # streaming, and none is picked yet, which closing it would decide for the user.
            # What was ticked and written in it comes back with the next F4.
            self.screen.set_aside()
            self.pop_screen()
        self.push_screen(CostsScreen(self.backend))

    def action_reload_config(self) -> None:
        # The reload closes the providers' clients, which would cut a stream off as a failed
        # connection: wait for the answers, as switching conversations does.
        if any(w.group in ("compare", "compare-setup") and w.is_running for w in self.workers):
            self.notify("Stop the compared answers first (Esc), then reload the config", severity="warning",
                        timeout=4, markup=False)
            return
        try:
            chat = self.chat_screen()
        except LookupError:
            chat = None
        if chat is not None and chat._busy("reload the config"):
            return
        self.run_worker(self._reload_config(), group="reload-config", exclusive=True, exit_on_error=False)

    async def _reload_config(self) -> None:
        try:
            warnings = await self.engine.reload_config()
        except Exception as exc:  # a broken edit: say what, keep running on the old config
            self.notify(f"Config not reloaded: {error_line(exc)}", severity="error", timeout=10, markup=False)
            return
        for warning in warnings:
            self.notify(warning, title="Config warning", severity="warning", timeout=STARTUP_WARNING_TIMEOUT_S,
                        markup=False)
        try:
            chat = self.chat_screen()
        except LookupError:
            chat = None
        if chat is not None:
            chat._budget_level = "ok"  # a cap raised or removed: warn afresh if still crossed
            chat._refresh_budget()
        self.notify("Config reloaded", timeout=3, markup=False)

    def action_set_theme(self, name: str) -> None:
        self.theme = name

    def _save_theme(self, theme: Any) -> None:
        """Keep the chosen theme across restarts: ui.theme in the config, comments intact."""
        name = str(getattr(theme, "name", theme))
        if name == self._saved_theme:
            return
        try:
            path = self.backend.save_theme(name)
        except Exception as exc:  # e.g. a read-only config: the theme still applies for this run
            detail = error_line(exc)
            self.notify(f"Theme not saved: {detail}", severity="warning", timeout=6, markup=False)
            return
        self._saved_theme = name
        self.notify(f"Theme {name} saved to {path}", timeout=3, markup=False)

    # ---- command palette: every action ----
    # Both places Textual opens its palette, opened as SafeCommandPalette (widgets/palette.py):
    # Textual's own input drew pasted bidirectional controls as they were.
    def action_command_palette(self) -> None:
        if self.use_command_palette and not isinstance(self.screen, CommandPalette):
            self.push_screen(SafeCommandPalette(id="--command-palette"))

    def search_themes(self) -> None:
        self.push_screen(SafeCommandPalette(providers=[ThemeProvider], placeholder="Search for themes…"))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        chat = self.chat_screen

        def on_chat(name: str, *args: Any) -> Any:
            def run() -> None:
                result = getattr(chat(), f"action_{name}")(*args)
                if result is not None and hasattr(result, "__await__"):
                    self.run_worker(result)

            return run

        def keys(action: str) -> str:
            return key_hint(action, ChatScreen.BINDINGS, self.BINDINGS)

        yield SystemCommand("New conversation", f"Start an empty conversation{keys('new_conversation')}",
                            on_chat("new_conversation"))
        yield SystemCommand("Rename conversation", f"Rename the current conversation{keys('rename')}",
                            on_chat("rename"))
        yield SystemCommand("Delete conversation", "Delete the current conversation, after a confirmation",
                            on_chat("delete_current"))
        yield SystemCommand("Search history", f"Full-text search over all messages{keys('search')}",
                            on_chat("search"))
        yield SystemCommand("Choose model", f"Override the next turn or pin a model{keys('pick_model')}",
                            on_chat("pick_model"))
        yield SystemCommand("Export conversation", f"Write Markdown and JSON under the data dir{keys('export')}",
                            on_chat("export"))
        yield SystemCommand("Toggle answer cache", "Turn the semantic answer cache on/off for this conversation",
                            on_chat("toggle_cache"))
        yield SystemCommand("Go to cached answer's source",
                            f"Open the conversation the focused cached answer came from{keys('open_cache_source')}",
                            on_chat("open_cache_source"))
        yield SystemCommand("Toggle sidebar", f"Show or hide the conversation list{keys('toggle_sidebar')}",
                            on_chat("toggle_sidebar"))
        yield SystemCommand("Compare models", f"One prompt to 2–4 models side by side{keys('compare')}",
                            self.action_compare)
        yield SystemCommand("Costs", f"Spending by day, model and conversation; savings vs baseline{keys('costs')}",
                            self.action_costs)
        yield SystemCommand("Cycle router preset", f"frugal → balanced → best{keys('cycle_preset')}",
                            self.action_cycle_preset)
        for preset in PRESETS:
            yield SystemCommand(f"Preset: {preset}", f"Route with the {preset} cost/quality trade-off",
                                partial(self.action_set_preset, preset))
        for name in sorted(self.available_themes):
            if name.startswith("chatroute"):
                yield SystemCommand(f"Theme: {name}", "Switch to this theme (saved in the config)",
                                    partial(self.action_set_theme, name))
        yield SystemCommand("Reload config", "Read config.toml again: providers, pool, budget, preset",
                            self.action_reload_config)
        yield SystemCommand("Help", f"Every key binding{keys('help')}", self.action_help)


# Keys that type a character: they act only when no text field has focus, so a hint names them
# only when the action has no other key ("o"), never beside one that always works ("f1").
_TYPING_KEYS = frozenset({"question_mark", "slash", "space"})


def key_hint(action: str, *binding_lists: Iterable[Any]) -> str:
    """ " (ctrl+r / f3)": the keys of the first binding for `action`, read from the bindings
    themselves so the palette and the key map cannot disagree; "" when nothing is bound."""
    for bindings in binding_lists:
        for b in bindings:
            if isinstance(b, Binding) and b.action == action:
                keys = [k.strip() for k in b.key.split(",")]
                named = [k for k in keys if len(k) > 1 and k not in _TYPING_KEYS] or keys
                return f" ({' / '.join(named)})"
    return ""


def _warm_then_freeze(warm: Callable[[], None]) -> None:
    """Start-up objects (modules, SDKs, the engine and catalog, the first screen) live as long
    as the app. gc.freeze() takes them out of full garbage collections, which otherwise walk
    them every time: a pause of 0.1-0.3 s, several frames, whenever paging a long conversation
    or streaming has allocated enough. Frozen twice: at the first frame and after the warm-up."""
    try:
        warm()
    finally:
        gc.freeze()


def run_tui(engine: EngineAPI) -> int:
    app = ChatrouteApp(engine, close_engine=True, freeze_startup=True)
    if sys.platform != "win32":
        from chatroute.tui.driver import HangupSafeDriver

        app.driver_class = HangupSafeDriver
    app.run()
    return app.return_code or 0
