"""Ctrl+E names its files after the conversation's title, in ASCII. Real engine and store,
official SDKs, the fake provider."""

from __future__ import annotations

from pathlib import Path

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import settle, type_and_send, until


async def test_an_accented_title_keeps_its_letters_in_the_export_name(real_engine: Engine, fake_server: FakeServer,
                                                                       chatroute_home: Path) -> None:
    """'Où est le café naïf ? Über-Straße' was exported as 'o-est-le-caf-na-f-ber-stra-e-….md': every accented
    letter dropped, and the words with them."""
    fake_server.script(Reply(text="Ici."))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_and_send(pilot, "Où est le café naïf ? Über-Straße")
        conversation_id = app.screen.conversation_id
        await pilot.press("ctrl+e")
        await settle(pilot, app)
        await until(pilot, lambda: any("Exported to" in str(n.message) for n in app._notifications), "the export")
    assert conversation_id is not None
    names = sorted(p.name for p in (chatroute_home / "exports").iterdir())
    stem = f"ou-est-le-cafe-naif-uber-strasse-{conversation_id[-12:]}"
    assert names == [f"{stem}.json", f"{stem}.md"]
