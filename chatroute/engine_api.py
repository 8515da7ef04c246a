"""The engine as a client sees it: the typed seam between the TUI and the core.

`EngineAPI` is exactly what the TUI calls on the engine, `StoreAPI` what it reads from and
writes to the engine's store, `CatalogAPI` what it asks the model catalogue. They return the
real records (`store/records.py`), models (`catalog/models.ModelInfo`), config and paths, so
the TUI reads each field under its one real name. `Engine` satisfies `EngineAPI` (checked
below) and so does the tests' scripted engine (`tests/tui/fake_engine.py`, checked by mypy
too): a change to either side that breaks the seam fails type checking, not a user.

Structural types only: nothing here runs, and importing it pulls in neither Textual nor the
engine (see docs/ARCHITECTURE.md, "Rules").
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from chatroute.catalog.models import ModelInfo
    from chatroute.config import Config
    from chatroute.paths import Paths
    from chatroute.routing.budget import BudgetBlock
    from chatroute.routing.policy import PromptTooLargeError
    from chatroute.store.records import Conversation, SearchHit, SpendRow, StoredMessage, TurnRecord
    from chatroute.store.waits import LockWaits
    from chatroute.turn_events import TurnEvent

ExportFormat = Literal["markdown", "json"]


class StoreAPI(Protocol):
    """The store calls the TUI makes (through `tui/data.Backend`, which scrubs what they return)."""

    # conversations
    def list_conversations(self, *, limit: int | None = None,
                           after: tuple[str, str] | None = None) -> list[Conversation]: ...

    def create_conversation(self, title: str | None = None, system_prompt: str | None = None) -> Conversation: ...

    def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    def rename_conversation(self, conversation_id: str, title: str) -> None: ...

    def delete_conversation(self, conversation_id: str) -> bool: ...

    def set_pin(self, conversation_id: str, model: str | None) -> None: ...

    def set_cache_enabled(self, conversation_id: str, enabled: bool) -> int | None: ...

    # the message tree
    def get_message(self, message_id: str) -> StoredMessage | None: ...

    def history(self, conversation_id: str) -> list[StoredMessage]: ...

    def history_ids(self, conversation_id: str) -> list[str]: ...

    def messages_by_id(self, ids: Sequence[str]) -> list[StoredMessage]: ...

    def siblings(self, message_id: str) -> list[StoredMessage]: ...

    def replies(self, message_id: str) -> list[StoredMessage]: ...

    def sibling_positions(self, ids: Sequence[str]) -> dict[str, tuple[int, int]]: ...

    def set_active(self, message_id: str) -> None: ...

    # turn records
    def get_turn(self, turn_id: str) -> TurnRecord | None: ...

    def turn_for_message(self, message_id: str) -> TurnRecord | None: ...

    def turns_for_messages(self, message_ids: Sequence[str]) -> dict[str, TurnRecord]: ...

    # search, spend, export
    def search(self, query: str, limit: int = 50) -> list[SearchHit]: ...

    def spend_totals(self, since: str | date | datetime | None = None) -> SpendRow: ...

    def export_conversation(self, conversation_id: str, fmt: ExportFormat = "markdown") -> str: ...

    @property
    def waits(self) -> LockWaits:
        """Where a write waiting for another process's lock says so (the TUI shows it)."""
        ...


class CatalogAPI(Protocol):
    """The catalogue calls the TUI makes."""

    def resolve(self, name: str) -> str:
        """The full `provider/model` id for a name; raises ChatrouteError for an unknown one."""
        ...

    def pool(self) -> list[ModelInfo]: ...

    @property
    def warnings(self) -> list[str]: ...


class EngineAPI(Protocol):
    """What the TUI uses of `chatroute.engine.Engine`."""

    @property
    def store(self) -> StoreAPI: ...

    @property
    def catalog(self) -> CatalogAPI: ...

    @property
    def config(self) -> Config: ...

    @property
    def paths(self) -> Paths: ...

    @property
    def preset(self) -> str:
        """The router preset in use (switched at run time by set_preset)."""
        ...

    # Told (from whichever thread opens the answer cache) how many entries it embeds again, once,
    # after an upgrade; set before warm() runs.
    on_cache_reembed: Callable[[int], None] | None
    # Told once (from whichever thread finds it) that the answer cache is damaged, in words for
    # the user: what is wrong and how to rebuild it.
    on_cache_damaged: Callable[[str], None] | None

    def warm(self) -> None: ...

    def models(self) -> list[ModelInfo]: ...

    def unavailable(self) -> dict[str, str]: ...

    def set_preset(self, preset: str) -> None: ...

    async def reload_config(self) -> list[str]: ...

    async def aclose(self) -> None: ...

    def run_turn(self, conversation_id: str | None, prompt: str, *, override: str | None = None,
                 use_cache: bool = True, regenerate_of: str | None = None,
                 allow_over_budget: bool = False) -> AsyncIterator[TurnEvent]: ...

    def context_refusal(self, conversation_id: str | None, prompt: str, *,
                        override: str | None = None) -> PromptTooLargeError | None: ...

    def budget_block(self, conversation_id: str | None, prompt: str, *, use_cache: bool = True,
                     regenerate_of: str | None = None) -> BudgetBlock | None: ...

    def prepare_models(self, models: Iterable[str]) -> None:
        """Import the SDKs and make the clients these models need (blocking: call it off the UI thread)."""
        ...

    def compare(self, conversation_id: str | None, prompt: str,
                models: list[str]) -> dict[str, AsyncIterator[TurnEvent]]: ...

    def pick_compare(self, conversation_id: str, message_id: str) -> None: ...

    def cost_report(self, since: str | None = None) -> dict[str, Any]: ...


if TYPE_CHECKING:
    from chatroute.engine import Engine

    def _the_engine_is_an_engine_api(engine: Engine) -> EngineAPI:
        return engine  # mypy fails here when Engine and the seam drift apart
