"""The TUI's whole dependency surface on the engine and store, in one place.

Every call the UI makes into the core goes through `Backend`, over the typed `EngineAPI`
seam (chatroute/engine_api.py) that both the real Engine and the tests' fake implement, so
a renamed store method is a type error here, not a silent fallback. It also holds the pure
text formatting (badges, costs) so it can be unit-tested without Textual.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatroute.errors import ChatrouteError
from chatroute.format import badge_text, fmt_ms, fmt_tokens, reroute_line, short_model  # noqa: F401 - re-exported
from chatroute.fsutil import atomic_write, private_dir
from chatroute.providers.think_tags import stored_answer
from chatroute.safetext import CleanEvents, scrub, strip_terminal_controls
from chatroute.store.records import Conversation, SearchHit, StoredMessage, TurnRecord

if TYPE_CHECKING:
    from chatroute.catalog.models import ModelInfo
    from chatroute.engine_api import EngineAPI, StoreAPI
    from chatroute.routing.budget import BudgetBlock
    from chatroute.store.waits import LockWaits

PRESETS = ("frugal", "balanced", "best")
DRAFTS_DIR = "drafts"  # beside the database: one draft a conversation
LEGACY_DRAFT = "draft.json"  # where chatroute kept its one draft before
_DRAFT_NAME = re.compile(r"[0-9a-f]{32}")  # a conversation id (store/ids.py) is the file's name


class Backend:
    """Thin wrapper over the engine and its store (`EngineAPI`). Method names mirror the real ones.

    It is also where outside text is made safe for the terminal: everything the UI reads from
    the core passes through here and comes out scrubbed (`scrub`, `CleanEvents`: escape
    sequences and control characters removed, see chatroute.safetext), so no widget has to
    remember to. Answers, errors, titles and model ids were written by providers and must not
    drive the terminal; the database keeps them as sent, and so do exports."""

    def __init__(self, engine: EngineAPI) -> None:
        self.engine = engine
        self._over_budget_once = False

    @property
    def _store(self) -> StoreAPI:
        return self.engine.store

    # ---- engine ----
    def run_turn(self, conversation_id: str | None, prompt: str, *, override: str | None = None,
                 use_cache: bool = True, regenerate_of: str | None = None) -> CleanEvents:
        allow_over_budget = self._over_budget_once  # the user said yes to spending past the cap, this turn only
        self._over_budget_once = False
        return CleanEvents(self.engine.run_turn(conversation_id, prompt, override=override, use_cache=use_cache,
                                                regenerate_of=regenerate_of, allow_over_budget=allow_over_budget))

    def unknown_override(self, prompt: str) -> str | None:
        """Why an `@model` prefix on `prompt` names no usable model, or None if it does (or
        there is none). Checked before the composer is cleared, so a typo costs no retyping."""
        from chatroute.errors import ChatrouteError
        from chatroute.routing.policy import parse_override

        name, _ = parse_override(prompt)
        if name is None:
            return None
        try:
            self.engine.catalog.resolve(name)
        except ChatrouteError as exc:
            return error_line(exc)
        return None

    def no_models(self) -> str | None:
        """The next step when there is no model to send to (no keys, nothing configured), else
        None. Checked before the composer is cleared: nothing would be stored, so the prompt
        would live only on screen."""
        try:
            if self.engine.models():
                return None
        except Exception:  # noqa: BLE001 - the catalogue's own warnings say what is wrong
            return None
        from chatroute.engine.common import no_models_help

        return no_models_help(self.engine.config, self.engine.paths.config_file)

    def too_large(self, conversation_id: str | None, prompt: str, *, override: str | None = None) -> str | None:
        """Why `prompt` (with the conversation so far) fits no model's context window, or None.
        Checked before the composer is cleared, so the user can shorten it instead of retyping."""
        from chatroute.commands.common import MAX_PROMPT_BYTES
        from chatroute.format import fmt_size

        # Refused by its size first, as `ask` refuses it on standard input: counting the tokens
        # of tens of megabytes runs on the event loop and froze the app for as many seconds.
        size = len(prompt.encode("utf-8", "surrogatepass"))
        if size > MAX_PROMPT_BYTES:
            return (f"this prompt is {fmt_size(size)}; chatroute sends a prompt of at most "
                    f"{MAX_PROMPT_BYTES // (1024 * 1024)} MB, as `chatroute ask` takes one")
        try:
            refusal = self.engine.context_refusal(conversation_id, prompt, override=override)
        except Exception:  # not a size matter: the turn itself reports whatever is wrong
            return None
        return error_line(refusal) if refusal is not None else None

    def allow_over_budget_once(self) -> None:
        """The next run_turn may spend past a budget cap (the user confirmed it)."""
        self._over_budget_once = True

    def budget_block(self, conversation_id: str | None, prompt: str, *, use_cache: bool = True,
                     regenerate_of: str | None = None) -> BudgetBlock | None:
        """A BudgetBlock when this turn needs the user's yes to spend past a cap, else None."""
        try:
            return self.engine.budget_block(conversation_id, prompt, use_cache=use_cache,
                                            regenerate_of=regenerate_of)
        except Exception:  # the turn itself will report whatever is wrong
            return None

    def budget_status(self) -> dict[str, Any] | None:
        """Spend against the caps ({level: ok|warn|over, message, fraction, ...}); None without caps."""
        budget = self.engine.config.budget
        if budget.daily_usd is None and budget.monthly_usd is None:
            return None
        try:
            from chatroute.accounting import budget_report

            return scrub(budget_report(self._store, budget))
        except Exception:
            return None

    def cache_source(self, record: TurnRecord) -> dict[str, Any] | None:
        """Where a cache hit came from, resolved now (the conversation may have been renamed
        or deleted since): {conversation_id, message_id, title}, or None when it is gone."""
        turn_id = record.cache_source_turn
        if not turn_id:
            return None
        turn = self._store.get_turn(turn_id)
        if turn is None or not turn.conversation_id or not turn.message_id:
            return None
        conversation_id, message_id = turn.conversation_id, turn.message_id
        conv = self.conversation(conversation_id)
        if conv is None or self._store.get_message(message_id) is None:
            return None
        return {"conversation_id": conversation_id, "message_id": message_id, "title": conv_title(conv)}

    def cache_source_client(self, record: TurnRecord) -> str | None:
        """The serve client whose request a cache hit's answer came from; None when it came from
        a conversation (or its source is gone)."""
        turn = self._store.get_turn(record.cache_source_turn) if record.cache_source_turn else None
        return scrub(turn.client) if turn is not None and not turn.conversation_id else None

    def config_file(self) -> Path:
        return Path(self.engine.paths.config_file)

    def save_theme(self, name: str) -> Path:
        """Write ui.theme to the config file, keeping the user's comments and layout."""
        from chatroute.config_edit import set_string

        path = self.config_file()
        set_string(path, "ui", "theme", name)
        return path

    def startup_warnings(self) -> list[str]:
        """The config's and the catalogue's warnings (an insecure file mode, a key bound for
        plain http, a pool entry that names no model). The CLI prints them to stderr; before a
        full-screen app that would be wiped at once, so the TUI shows them instead."""
        from chatroute.catalog.catalog import startup_warnings

        return scrub(startup_warnings(self.engine.catalog, self.engine.config.warnings))

    def local_servers_offer(self) -> str | None:
        """What local model servers answer on the usual ports and are not configured (a
        message), or None. It probes the network: call it off the UI thread."""
        from chatroute.discovery import offer

        return scrub(offer(self.engine.config))

    def models(self) -> list[ModelInfo]:
        return scrub(list(self.engine.models()))

    def unavailable(self) -> dict[str, str]:
        """Models routing skips now (cooling down, disabled) and why, for the model picker."""
        return scrub(self.engine.unavailable())

    def model_ids(self) -> list[str]:
        return [m.id for m in self.models()]

    def preset(self) -> str:
        return self.engine.preset

    def set_preset(self, preset: str) -> None:
        self.engine.set_preset(preset)

    def theme_name(self) -> str:
        return self.engine.config.ui.theme

    def theme_setting(self) -> str:
        """Where theme_name comes from, as a message about it should name it."""
        from chatroute.config import THEME_ENV, theme_from_env

        return THEME_ENV if theme_from_env() else "config (ui.theme)"

    def price_dates(self) -> tuple[str, str] | None:
        """The oldest and newest as-of dates of the pool's prices. Each model is priced from the
        newest table that lists it (the dates `chatroute models` shows model by model), so a
        refresh that lacks a model leaves two dates in play; the oldest says how stale they are."""
        from chatroute.catalog.prices import date_span

        return date_span(m.price_as_of for m in self.models())

    async def compare(self, conversation_id: str | None, prompt: str, models: list[str]) -> dict[str, CleanEvents]:
        # A first SDK import holds the thread that makes it: made in a thread of its own, so
        # the screen keeps taking keys, and an Esc meanwhile cancels this before anything is
        # stored or sent (the engine's compare would make the import on the event loop).
        await asyncio.to_thread(self.engine.prepare_models, models)
        streams = self.engine.compare(conversation_id, prompt, models)
        return {model: CleanEvents(stream) for model, stream in streams.items()}

    def pick_compare(self, conversation_id: str, assistant_message_id: str) -> None:
        self.engine.pick_compare(conversation_id, assistant_message_id)

    def cost_report(self) -> dict[str, Any]:
        return scrub(normalise_cost_report(dict(self.engine.cost_report(since=None))))

    def serve_state(self) -> dict[str, Any] | None:
        """The running `chatroute serve`'s live state, or None when none runs."""
        from chatroute.serve.state import read_live_state

        return read_live_state(self.data_dir())

    def data_dir(self) -> Path:
        return Path(self.engine.paths.data_dir)

    def _draft_file(self, conversation_id: str | None) -> Path:
        # One file a conversation (and one for a conversation not started yet): two TUIs on one
        # home each write the drafts of the conversations they write in, not one shared file
        # the other's send deleted and its typing overwrote.
        if conversation_id is None:
            name = "new"
        elif _DRAFT_NAME.fullmatch(conversation_id):
            name = conversation_id
        else:  # not an id the store makes: never a path of its own
            name = hashlib.sha256(conversation_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return self.data_dir() / DRAFTS_DIR / f"{name}.json"

    def save_draft(self, conversation_id: str | None, text: str, pastes: dict[str, str],
                   compare: tuple[str, list[str]] | None = None) -> str | None:
        """Keep the composer's unsent text (and the pastes it holds) in `conversation_id` (None:
        a new conversation), for when it is opened again; an empty composer leaves nothing.
        `compare`: the question and models of a compare not yet asked, kept beside it.
        Best effort: a draft that cannot be written is no reason to fail, only to say so (the
        reason is returned)."""
        path = self._draft_file(conversation_id)
        try:
            if not text.strip():
                path.unlink(missing_ok=True)
                return None
            private_dir(path.parent)
            data: dict[str, Any] = {"text": text, "pastes": pastes}
            if compare is not None:
                data["compare"] = {"prompt": compare[0], "models": compare[1]}
            # Secret: what the user was writing is theirs alone, as the database is.
            atomic_write(path, json.dumps(data), secret=True, durable=False)
        except (OSError, ChatrouteError) as exc:
            return error_line(exc)
        return None

    def load_draft(self, conversation_id: str | None) -> tuple[str, dict[str, str]] | None:
        """The draft left in `conversation_id`, if any (a damaged file is none). The one file an
        older chatroute kept for every conversation becomes the draft of the first one asked
        for (the conversation a start shows), as it came back there."""
        path = self._draft_file(conversation_id)
        legacy = self.data_dir() / LEGACY_DRAFT
        try:
            if legacy.exists() and not path.exists():
                private_dir(path.parent)
                legacy.replace(path)
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, ChatrouteError):
            return None
        text = data.get("text") if isinstance(data, dict) else None
        pastes = data.get("pastes") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip():
            return None
        if not isinstance(pastes, dict):
            pastes = {}
        return text, {k: v for k, v in pastes.items() if isinstance(k, str) and isinstance(v, str)}

    def load_draft_compare(self, conversation_id: str | None) -> tuple[str, list[str]] | None:
        """The question and models of a compare not yet asked kept beside the draft of
        `conversation_id` on quitting, if any."""
        try:
            data = json.loads(self._draft_file(conversation_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        compare = data.get("compare") if isinstance(data, dict) else None
        if not isinstance(compare, dict):
            return None
        prompt, models = compare.get("prompt"), compare.get("models")
        if not isinstance(prompt, str) or not prompt.strip() or not isinstance(models, list):
            return None
        return prompt, [m for m in models if isinstance(m, str)]

    def lock_waits(self) -> LockWaits:
        """The store's lock waits: the chat screen tells the user when a write waits on another process."""
        return self._store.waits

    # ---- store ----
    def conversations(self, *, limit: int | None = None, after: Conversation | None = None) -> list[Conversation]:
        """Most recently active first; `after`: the last one listed, to read the next page."""
        key = (after.updated_at, after.id) if after is not None else None
        return scrub(self._store.list_conversations(limit=limit, after=key))

    def create_conversation(self) -> str:
        return self._store.create_conversation().id

    def rename(self, conversation_id: str, title: str) -> None:
        self._store.rename_conversation(conversation_id, title)

    def delete(self, conversation_id: str) -> None:
        self._store.delete_conversation(conversation_id)
        self.save_draft(conversation_id, "", {})  # nothing opens it again

    def conversation(self, conversation_id: str) -> Conversation | None:
        return scrub(self._store.get_conversation(conversation_id))

    def pin_of(self, conversation_id: str | None) -> str | None:
        if not conversation_id:
            return None
        conv = self.conversation(conversation_id)
        return conv.pinned_model if conv is not None else None

    def set_pin(self, conversation_id: str, model: str | None) -> None:
        self._store.set_pin(conversation_id, model)

    def cache_enabled(self, conversation_id: str | None) -> bool:
        conv = self.conversation(conversation_id) if conversation_id else None
        return conv.cache_enabled if conv is not None else True

    def set_cache_enabled(self, conversation_id: str, enabled: bool) -> int | None:
        """Returns how many answers cached from the conversation were deleted (switched off); None
        when the cache is damaged and they could not be."""
        return self._store.set_cache_enabled(conversation_id, enabled)

    def cache_off_in_config(self) -> bool:
        """`[cache] enabled = false`: no conversation's switch turns the cache on."""
        return not self.engine.config.cache.enabled

    def history(self, conversation_id: str) -> list[StoredMessage]:
        return scrub(self._store.history(conversation_id))

    def history_ids(self, conversation_id: str) -> list[str]:
        return self._store.history_ids(conversation_id)

    def messages_by_id(self, ids: Sequence[str]) -> list[StoredMessage]:
        return scrub(self._store.messages_by_id(ids))

    def turns_for_messages(self, message_ids: Sequence[str]) -> dict[str, TurnRecord]:
        return scrub(self._store.turns_for_messages(message_ids))

    def sibling_positions(self, ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        return self._store.sibling_positions(ids)

    def stored_turn(self, message_id: str | None) -> TurnRecord | None:
        """The turn record the store holds for an answer, or None (none yet)."""
        if not message_id:
            return None
        try:
            return scrub(self._store.turn_for_message(message_id))
        except Exception:  # e.g. the store already closed as the app quits: the badge can do without
            return None

    def siblings(self, message_id: str) -> list[StoredMessage]:
        return scrub(self._store.siblings(message_id))

    def replies(self, message_id: str) -> list[StoredMessage]:
        """The answers [ / ] switches between at this point (Store.replies)."""
        return scrub(self._store.replies(message_id))

    def set_active(self, message_id: str) -> None:
        self._store.set_active(message_id)

    def search(self, query: str) -> list[SearchHit]:
        return scrub(self._store.search(query, limit=50))

    def export(self, conversation_id: str) -> list[Path]:
        """Write Markdown and JSON exports under <data dir>/exports/ and return the paths.
        Owner-only (0600, in a 0700 folder), like the database they are copied from."""
        out_dir = private_dir(self.data_dir() / "exports")
        conv = self.conversation(conversation_id)
        title = conv_title(conv) if conv is not None else "Untitled"
        # Letters folded to ASCII ("Café" → cafe, "ß" → ss), not dropped with what is not ASCII.
        folded = unicodedata.normalize("NFKD", title.casefold()).encode("ascii", "ignore").decode("ascii")
        slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:40].rstrip("-") or "conversation"
        written = []
        for fmt, ext in (("markdown", "md"), ("json", "json")):
            # The file gets exactly what was stored, like `ask` into a pipe; only the screen is scrubbed.
            body = self._store.export_conversation(conversation_id, "json" if fmt == "json" else "markdown")
            # The id's random tail: its head is a timestamp, the same for conversations a minute apart.
            path = out_dir / f"{slug}-{conversation_id[-12:]}.{ext}"
            try:
                atomic_write(path, body, secret=True)
            except ChatrouteError:
                raise  # atomic_write's own (a link at the name, a full disk, a read-only folder): said in full
            except OSError as exc:  # the folder cannot be searched: the look at the path before the write fails
                raise ChatrouteError(f"cannot write {path}: {exc.strerror or exc}") from exc
            written.append(path)
        return written


PageItem = tuple[StoredMessage, "TurnRecord | None", "tuple[int, int] | None"]  # (message, record, sibling position)


class Branch:
    """The shown branch of one conversation, for a chat view that mounts a page at a time.

    Every message id is read up front (cheap: no text), bodies, badge records and sibling
    positions per page: on a long conversation reading everything (history() plus turns())
    before the first frame is many times slower than reading the ids.
    """

    def __init__(self, backend: Backend, conversation_id: str | None) -> None:
        self.backend = backend
        self.conversation_id = conversation_id
        self.ids: list[str] = []
        self._index: dict[str, int] | None = None
        if conversation_id is not None:
            self.ids = backend.history_ids(conversation_id)

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
        return clone

    def page(self, start: int, end: int) -> list[PageItem]:
        ids = self.ids[start:end]
        if not ids:
            return []
        backend = self.backend
        found = {m.id: m for m in backend.messages_by_id(ids)}
        answers = [mid for mid in ids if mid in found and found[mid].role == "assistant"]
        records = backend.turns_for_messages(answers)
        positions = backend.sibling_positions(answers)
        return [(found.get(mid) or _gone(mid), records.get(mid), positions.get(mid)) for mid in ids]


def error_line(exc: BaseException) -> str:
    """An exception as one line for a notice or an inline error (never a traceback). Its text
    may quote a provider, so it is scrubbed like everything else shown."""
    text = str(exc).strip()
    return strip_terminal_controls(text.splitlines()[0]) if text else type(exc).__name__


def _gone(message_id: str) -> StoredMessage:
    """Stands in for a message deleted (by another process) after the branch was read."""
    return StoredMessage(id=message_id, conversation_id="", parent_id=None, role="user",
                         content="(this message has been deleted)", model=None, status="complete", active=False,
                         created_at="", updated_at="")


# ---- record accessors (the names the chat screen and sidebar read) ----
def conv_id(conv: Conversation) -> str:
    return conv.id


def conv_title(conv: Conversation) -> str:
    return conv.title or "Untitled"


def msg_id(msg: StoredMessage) -> str:
    return msg.id


def msg_role(msg: StoredMessage) -> str:
    return msg.role


def msg_text(msg: StoredMessage) -> str:
    # An answer stored before thinking in `<think>` tags was split off is shown as a new one.
    return stored_answer(msg.role, msg.content)


def msg_status(msg: StoredMessage) -> str:
    return msg.status


def hit_fields(hit: SearchHit) -> tuple[str, str, str, str]:
    """(conversation_id, message_id, snippet, title) of a search hit; the title as the list
    shows it (an untitled conversation's, 'Untitled', was a blank line)."""
    return (hit.conversation_id, hit.message_id, hit.snippet, hit.conversation_title or "Untitled")


# ---- formatting ----
def reroute_lines(route: dict[str, Any] | None) -> list[str]:
    return [reroute_line(r) for r in (route or {}).get("reroutes", []) or []]


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
        "baseline": {"model": report.get("baseline_model"), "turns": selected.get("turns"),
                     "cost_usd": selected.get("baseline_cost_usd"),
                     "actual_usd": selected.get("cost_usd"), "routing_saved_usd": selected.get("routing_saved_usd"),
                     "routed_saved_usd": selected.get("routed_saved_usd"),
                     "chosen_saved_usd": selected.get("chosen_saved_usd"),
                     "chosen_turns": selected.get("chosen_turns") or 0,
                     "routed_turns": selected.get("routed_turns") or 0,
                     "cache_saved_usd": selected.get("cache_saved_usd"),
                     "cache_hits": selected.get("cache_hits") or 0,
                     "cache_unpriced_hits": selected.get("cache_unpriced_hits") or 0,
                     "unknown_cost_turns": selected.get("unknown_cost_turns") or 0,
                     "estimated_baseline_turns": selected.get("estimated_baseline_turns") or 0,
                     "estimated_routed_turns": selected.get("estimated_routed_turns") or 0,
                     "estimated_chosen_turns": selected.get("estimated_chosen_turns") or 0},
        "verdict": report.get("verdict"),
        "budget": {"daily_usd": budget.get("daily_usd"), "daily_spent": budget.get("spent_today"),
                   "monthly_usd": budget.get("monthly_usd"), "monthly_spent": budget.get("spent_month"),
                   "daily_unknown": budget.get("unknown_cost_turns_today") or 0,
                   "monthly_unknown": budget.get("unknown_cost_turns_month") or 0,
                   "state": budget.get("level"), "message": budget.get("message")},
    }
