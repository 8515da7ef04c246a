"""The TUI's whole dependency surface on the engine and store, in one place.

Every call the UI makes into the core goes through `Backend`, so swapping the real Engine
for the test fake (or adapting to a renamed store method) touches only this file. It also
holds the pure text formatting (badges, costs) so it can be unit-tested without Textual.
"""

from __future__ import annotations

import inspect
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from chatroute import jsonsafe
from chatroute.format import attr as _attr
from chatroute.format import badge_text, fmt_ms, fmt_tokens, short_model  # noqa: F401 - re-exported
from chatroute.fsutil import atomic_write, private_dir
from chatroute.safetext import CleanEvents, scrub, strip_terminal_controls

PRESETS = ("frugal", "balanced", "best")


class DisplaySafeStore:
    """The store as the UI reads it: whatever a call returns comes back with escape sequences
    and control characters removed (see chatroute.safetext). Answers, errors, titles and model
    ids were written by providers and must not drive the terminal; the database keeps them as
    sent, and so do exports."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if not callable(value):
            return scrub(value)

        def call(*args: Any, **kwargs: Any) -> Any:
            return scrub(value(*args, **kwargs))

        return call


class Backend:
    """Thin wrapper over Engine (+ engine.store). Method names mirror the real ones.

    It is also where outside text is made safe for the terminal: everything the UI reads from
    the core passes through here and comes out scrubbed (`DisplaySafeStore`, `CleanEvents`,
    `scrub`), so no widget has to remember to."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._over_budget_once = False

    @property
    def store(self) -> Any:
        return DisplaySafeStore(self.engine.store)

    # ---- engine ----
    def run_turn(self, conversation_id: str | None, prompt: str, *, override: str | None = None,
                 use_cache: bool = True, regenerate_of: str | None = None) -> AsyncIterator[Any]:
        extra: dict[str, Any] = {}
        if self._over_budget_once:  # the user said yes to spending past the cap, for this turn only
            self._over_budget_once = False
            extra["allow_over_budget"] = True
        return CleanEvents(self.engine.run_turn(conversation_id, prompt, override=override, use_cache=use_cache,
                                                regenerate_of=regenerate_of, **extra))

    def unknown_override(self, prompt: str) -> str | None:
        """Why an `@model` prefix on `prompt` names no usable model, or None if it does (or
        there is none). Checked before the composer is cleared, so a typo costs no retyping."""
        from chatroute.errors import ChatrouteError
        from chatroute.routing.policy import parse_override

        name, _ = parse_override(prompt)
        resolve = getattr(getattr(self.engine, "catalog", None), "resolve", None)
        if name is None or resolve is None:
            return None
        try:
            resolve(name)
        except ChatrouteError as exc:
            return error_line(exc)
        return None

    def too_large(self, conversation_id: str | None, prompt: str, *, override: str | None = None) -> str | None:
        """Why `prompt` (with the conversation so far) fits no model's context window, or None.
        Checked before the composer is cleared, so the user can shorten it instead of retyping."""
        check = getattr(self.engine, "context_refusal", None)
        if check is None:
            return None
        try:
            refusal = check(conversation_id, prompt, override=override)
        except Exception:  # not a size matter: the turn itself reports whatever is wrong
            return None
        return error_line(refusal) if refusal is not None else None

    def allow_over_budget_once(self) -> None:
        """The next run_turn may spend past a budget cap (the user confirmed it)."""
        self._over_budget_once = True

    def budget_block(self, conversation_id: str | None, prompt: str, *, use_cache: bool = True,
                     regenerate_of: str | None = None) -> Any:
        """A BudgetBlock when this turn needs the user's yes to spend past a cap, else None."""
        check = getattr(self.engine, "budget_block", None)
        if check is None:
            return None
        try:
            return check(conversation_id, prompt, use_cache=use_cache, regenerate_of=regenerate_of)
        except Exception:  # the turn itself will report whatever is wrong
            return None

    def budget_status(self) -> dict[str, Any] | None:
        """Spend against the caps ({level: ok|warn|over, message, fraction, ...}); None without caps."""
        budget = getattr(getattr(self.engine, "config", None), "budget", None)
        if budget is None or (getattr(budget, "daily_usd", None) is None
                              and getattr(budget, "monthly_usd", None) is None):
            return None
        try:
            from chatroute.accounting import budget_report

            return budget_report(self.store, budget)
        except Exception:
            return None

    def cache_source(self, record: Any) -> dict[str, Any] | None:
        """Where a cache hit came from, resolved now (the conversation may have been renamed
        or deleted since): {conversation_id, message_id, title}, or None when it is gone."""
        turn_id = _attr(record, "cache_source_turn", default=None)
        if not turn_id:
            return None
        conversation_id = message_id = None
        get_turn = getattr(self.store, "get_turn", None)
        if get_turn is not None:
            turn = get_turn(turn_id)
            if turn is not None:
                conversation_id, message_id = _attr(turn, "conversation_id"), _attr(turn, "message_id")
        else:  # a store without turn lookup: trust what the engine recorded at the hit
            source = (_attr(record, "route", default=None) or {}).get("source") or {}
            conversation_id, message_id = source.get("conversation_id"), source.get("message_id")
        if not conversation_id or not message_id:
            return None
        conv = self.conversation(conversation_id)
        if conv is None:
            return None
        get_message = getattr(self.store, "get_message", None)
        if get_message is not None and get_message(message_id) is None:
            return None
        return {"conversation_id": conversation_id, "message_id": message_id, "title": conv_title(conv)}

    def save_theme(self, name: str) -> Path:
        """Write ui.theme to the config file, keeping the user's comments and layout."""
        from chatroute.config_edit import set_string

        paths = getattr(self.engine, "paths", None)
        if paths is None:
            from chatroute.paths import resolve_paths

            paths = resolve_paths()
        path = Path(paths.config_file)
        set_string(path, "ui", "theme", name)
        return path

    def startup_warnings(self) -> list[str]:
        """The config's and the catalogue's warnings (an insecure file mode, a key bound for
        plain http, a pool entry that names no model). The CLI prints them to stderr; before a
        full-screen app that would be wiped at once, so the TUI shows them instead."""
        warnings = [str(w) for w in getattr(getattr(self.engine, "config", None), "warnings", None) or []]
        catalog = getattr(self.engine, "catalog", None)
        pool = getattr(catalog, "pool", None)
        if pool is not None:
            try:
                pool()  # resolving the pool is what finds its unknown entries
            except Exception:  # noqa: BLE001 - a warning must never stop the app from starting
                pass
        for warning in getattr(catalog, "warnings", None) or []:
            if str(warning) not in warnings:
                warnings.append(str(warning))
        return scrub(warnings)

    def local_servers_offer(self) -> str | None:
        """What local model servers answer on the usual ports and are not configured (a
        message), or None. It probes the network: call it off the UI thread."""
        config = getattr(self.engine, "config", None)
        if config is None:
            return None
        from chatroute.discovery import offer

        return scrub(offer(config))

    def models(self) -> list[Any]:
        return scrub(list(self.engine.models()))

    def model_ids(self) -> list[str]:
        return [m.id for m in self.models()]

    def preset(self) -> str:
        live = getattr(self.engine, "preset", None)  # Engine keeps the switched preset here
        if isinstance(live, str):
            return live
        try:
            return str(self.engine.config.router.preset)
        except AttributeError:
            return "balanced"

    def set_preset(self, preset: str) -> None:
        self.engine.set_preset(preset)

    def theme_name(self) -> str | None:
        try:
            return str(self.engine.config.ui.theme)
        except AttributeError:
            return None

    def prices_as_of(self) -> str | None:
        """The most common as-of date over the pool (the table's age for the footer)."""
        dates = [m.price_as_of for m in self.models() if getattr(m, "price_as_of", None)]
        return Counter(dates).most_common(1)[0][0] if dates else None

    async def compare(
        self, conversation_id: str | None, prompt: str, models: list[str]
    ) -> dict[str, AsyncIterator[Any]]:
        result = self.engine.compare(conversation_id, prompt, models)
        if inspect.isawaitable(result):
            result = await result
        return {model: CleanEvents(stream) for model, stream in dict(result).items()}

    async def pick_compare(self, conversation_id: str, assistant_message_id: str) -> None:
        result = self.engine.pick_compare(conversation_id, assistant_message_id)
        if inspect.isawaitable(result):
            await result

    def cost_report(self) -> dict[str, Any]:
        return scrub(normalise_cost_report(dict(self.engine.cost_report(since=None))))

    def serve_state(self) -> dict[str, Any] | None:
        """The running `chatroute serve`'s live state, or None when none runs."""
        from chatroute.serve.state import read_live_state

        return read_live_state(self.data_dir())

    def data_dir(self) -> Path:
        paths = getattr(self.engine, "paths", None)
        if paths is None:
            from chatroute.paths import resolve_paths

            paths = resolve_paths()
        return Path(paths.data_dir)

    # ---- store ----
    def conversations(self) -> list[Any]:
        return list(self.store.list_conversations())

    def create_conversation(self) -> str:
        return str(_attr(self.store.create_conversation(), "id"))

    def rename(self, conversation_id: str, title: str) -> None:
        self.store.rename_conversation(conversation_id, title)

    def delete(self, conversation_id: str) -> None:
        self.store.delete_conversation(conversation_id)

    def conversation(self, conversation_id: str) -> Any:
        return self.store.get_conversation(conversation_id)

    def pin_of(self, conversation_id: str | None) -> str | None:
        if not conversation_id:
            return None
        conv = self.conversation(conversation_id)
        return _attr(conv, "pinned_model", "pin", "pinned", default=None) if conv is not None else None

    def set_pin(self, conversation_id: str, model: str | None) -> None:
        self.store.set_pin(conversation_id, model)

    def cache_enabled(self, conversation_id: str | None) -> bool:
        conv = self.conversation(conversation_id) if conversation_id else None
        return bool(_attr(conv, "cache_enabled", default=True)) if conv is not None else True

    def set_cache_enabled(self, conversation_id: str, enabled: bool) -> None:
        self.store.set_cache_enabled(conversation_id, enabled)

    def history(self, conversation_id: str) -> list[Any]:
        return list(self.store.history(conversation_id))

    def turns_by_message(self, conversation_id: str) -> dict[str, Any]:
        """Badge data for every turn; the route JSON (the costly part) is fetched per mounted
        message by `turn_with_route` when the store supports that split."""
        try:
            turns = self.store.turns(conversation_id, include_route=False)
        except TypeError:
            turns = self.store.turns(conversation_id)
        return {_attr(t, "message_id"): t for t in turns}

    def turn_with_route(self, message_id: str, record: Any) -> Any:
        if record is None or _attr(record, "route") or not hasattr(self.store, "turn_for_message"):
            return record
        return self.store.turn_for_message(message_id) or record

    def stored_turn(self, message_id: str | None) -> Any:
        """The turn record the store holds for an answer, or None (none yet, or no lookup)."""
        lookup = getattr(self.store, "turn_for_message", None)
        if not message_id or lookup is None:
            return None
        try:
            return lookup(message_id)
        except Exception:  # e.g. the store already closed as the app quits: the badge can do without
            return None

    def siblings(self, message_id: str) -> list[Any]:
        return list(self.store.siblings(message_id))

    def set_active(self, message_id: str) -> None:
        self.store.set_active(message_id)

    def search(self, query: str) -> list[Any]:
        return list(self.store.search(query, limit=50))

    def export(self, conversation_id: str) -> list[Path]:
        """Write Markdown and JSON exports under <data dir>/exports/ and return the paths.
        Owner-only (0600, in a 0700 folder), like the database they are copied from."""
        out_dir = private_dir(self.data_dir() / "exports")
        conv = self.conversation(conversation_id)
        slug = re.sub(r"[^a-z0-9]+", "-", str(conv_title(conv)).lower()).strip("-")[:40] or "conversation"
        written = []
        for fmt, ext in (("markdown", "md"), ("json", "json")):
            # The file gets exactly what was stored, like `ask` into a pipe; only the screen is scrubbed.
            body = self.engine.store.export_conversation(conversation_id, fmt)
            if not isinstance(body, str):
                body = jsonsafe.dumps(body, indent=2, default=str)
            path = out_dir / f"{slug}-{conversation_id[:8]}.{ext}"
            atomic_write(path, body)
            written.append(path)
        return written


PageItem = tuple[Any, Any, "tuple[int, int] | None"]  # (message, turn record or None, sibling position)


class Branch:
    """The shown branch of one conversation, for a chat view that mounts a page at a time.

    Every message id is read up front (cheap: no text), bodies, badge records and sibling
    positions per page: on a long conversation reading everything (history() plus turns())
    before the first frame is many times slower than reading the ids. A store without the paging
    methods (the tests' fake) is read whole once and paged in memory.
    """

    def __init__(self, backend: Backend, conversation_id: str | None) -> None:
        self.backend = backend
        self.conversation_id = conversation_id
        self.ids: list[str] = []
        self._whole: dict[str, Any] | None = None  # message id -> message, for a store without paging
        self._records: dict[str, Any] | None = None
        self._index: dict[str, int] | None = None
        if conversation_id is None:
            return
        store = backend.store
        if all(hasattr(store, name) for name in ("history_ids", "messages_by_id", "turns_for_messages")):
            self.ids = list(store.history_ids(conversation_id))
        else:
            messages = backend.history(conversation_id)
            self.ids = [msg_id(m) for m in messages]
            self._whole = {msg_id(m): m for m in messages}

    @classmethod
    def empty(cls, backend: Backend) -> Branch:
        return cls(backend, None)

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, message_id: str) -> int | None:
        if self._index is None:
            self._index = {mid: i for i, mid in enumerate(self.ids)}
        return self._index.get(message_id)

    def truncated(self, length: int) -> Branch:
        """This branch up to `length` messages (what stays when an answer is regenerated)."""
        clone = Branch.empty(self.backend)
        clone.conversation_id = self.conversation_id
        clone.ids = self.ids[:length]
        clone._whole, clone._records = self._whole, self._records
        return clone

    def page(self, start: int, end: int) -> list[PageItem]:
        ids = self.ids[start:end]
        if not ids:
            return []
        if self._whole is not None:
            return [self._item_from_whole(self._whole[mid]) for mid in ids]
        store = self.backend.store
        found = {msg_id(m): m for m in store.messages_by_id(ids)}
        answers = [mid for mid in ids if mid in found and msg_role(found[mid]) == "assistant"]
        records = store.turns_for_messages(answers)
        positions = store.sibling_positions(answers) if hasattr(store, "sibling_positions") else {}
        return [(found.get(mid) or _gone(mid), records.get(mid), positions.get(mid)) for mid in ids]

    def _item_from_whole(self, msg: Any) -> PageItem:
        mid = msg_id(msg)
        if msg_role(msg) != "assistant":
            return (msg, None, None)
        if self._records is None:
            self._records = self.backend.turns_by_message(str(self.conversation_id))
        record = self.backend.turn_with_route(mid, self._records.get(mid))
        try:
            sibs = self.backend.siblings(mid)
            sibling = ([msg_id(s) for s in sibs].index(mid) + 1, len(sibs)) if len(sibs) > 1 else None
        except Exception:  # a store without siblings for this message: no indicator
            sibling = None
        return (msg, record, sibling)


def error_line(exc: BaseException) -> str:
    """An exception as one line for a notice or an inline error (never a traceback). Its text
    may quote a provider, so it is scrubbed like everything else shown."""
    text = str(exc).strip()
    return strip_terminal_controls(text.splitlines()[0]) if text else type(exc).__name__


def _gone(message_id: str) -> Any:
    """Stands in for a message deleted (by another process) after the branch was read."""
    from types import SimpleNamespace

    return SimpleNamespace(id=message_id, role="user", content="(this message has been deleted)",
                           status="complete")


# ---- object accessors (tolerant of dataclass vs row) ----
def conv_id(conv: Any) -> str:
    return str(_attr(conv, "id"))


def conv_title(conv: Any) -> str:
    return str(_attr(conv, "title", default=None) or "Untitled")


def msg_id(msg: Any) -> str:
    return str(_attr(msg, "id"))


def msg_role(msg: Any) -> str:
    return str(_attr(msg, "role"))


def msg_text(msg: Any) -> str:
    return str(_attr(msg, "content", "text", default="") or "")


def msg_status(msg: Any) -> str:
    return str(_attr(msg, "status", default="complete") or "complete")


def msg_parent(msg: Any) -> str | None:
    return _attr(msg, "parent_id", default=None)


def hit_fields(hit: Any) -> tuple[str, str, str, str]:
    """(conversation_id, message_id, snippet, title) of a search hit."""
    return (str(_attr(hit, "conversation_id")), str(_attr(hit, "message_id")),
            str(_attr(hit, "snippet", "content", "text", default="")),
            str(_attr(hit, "conversation_title", "title", default="") or ""))


# ---- formatting ----
def reroute_lines(route: dict[str, Any] | None) -> list[str]:
    out = []
    for r in (route or {}).get("reroutes", []) or []:
        out.append(f"{short_model(_attr(r, 'from_model', 'from'))} {_attr(r, 'error', default='')} → "
                   f"{short_model(_attr(r, 'to_model', 'to'))}")
    return out


def _rows(rows: list[dict[str, Any]], key_name: str) -> list[dict[str, Any]]:
    """store SpendRow dicts ({key, label, turns, cost_usd, ...}) -> the screen's row dicts."""
    out = []
    for r in rows:
        row = dict(r)
        if "key" in row and key_name not in row:
            row[key_name] = row["key"]
        if key_name == "conversation_id" and "title" not in row:
            row["title"] = row.get("label")
        out.append(row)
    return out


def normalise_cost_report(report: dict[str, Any]) -> dict[str, Any]:
    """Accept the screen's own shape (see screens/costs.py) or chatroute.accounting.cost_report's
    shape (periods/selected/daily/budget/verdict/prices, rows for one `by`, optional `rows_by`)."""
    if "periods" not in report:
        return report
    periods = report.get("periods", {})
    selected = report.get("selected") or periods.get("all") or {}
    budget = report.get("budget") or {}
    rows_by = dict(report.get("rows_by") or {})
    if report.get("by") and "rows" in report:
        rows_by.setdefault(report["by"], report["rows"])
    prices = report.get("prices") or []
    return {
        "totals": {k: (v or {}).get("cost_usd") for k, v in periods.items()},
        "turns": {k: (v or {}).get("turns") for k, v in periods.items()},
        "markers": {k: {"estimated_turns": (v or {}).get("estimated_turns") or 0,
                        "unknown_cost_turns": (v or {}).get("unknown_cost_turns") or 0} for k, v in periods.items()},
        "daily_30": [d.get("cost_usd") or 0.0 for d in report.get("daily", [])],
        "by_model": _rows(rows_by.get("model", []), "model"),
        "by_day": list(reversed(_rows(rows_by.get("day", []), "day")))
        if rows_by.get("day") and str(rows_by["day"][0].get("key", "")) < str(rows_by["day"][-1].get("key", ""))
        else _rows(rows_by.get("day", []), "day"),
        "by_conversation": _rows(rows_by.get("conversation", []), "conversation_id"),
        "by_client": _rows(rows_by.get("client", []), "client"),
        "baseline": {"model": report.get("baseline_model"), "cost_usd": selected.get("baseline_cost_usd"),
                     "actual_usd": selected.get("cost_usd"), "routing_saved_usd": selected.get("routing_saved_usd"),
                     "cache_saved_usd": selected.get("cache_saved_usd")},
        "verdict": report.get("verdict"),
        "budget": {"daily_usd": budget.get("daily_usd"), "daily_spent": budget.get("spent_today"),
                   "monthly_usd": budget.get("monthly_usd"), "monthly_spent": budget.get("spent_month"),
                   "state": budget.get("level"), "message": budget.get("message")},
        "prices_as_of": next((p.get("as_of") for p in prices if p.get("as_of")), None),
    }
