"""A bidirectional control's marker in a code block is drawn in reverse video (d35ff00), so it does
not pass for part of the code. A long code line is wrapped to the block's width, and a marker cut
by the wrap was looked for in each row alone: neither half matched, and both were drawn as code."""

from __future__ import annotations

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.markdown.fence import CodeLines
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import assistants, type_and_send

MARKERS = 40
CODE = "x" + "\u202e" * MARKERS  # shown as 40 markers of 8 characters in a row: some wrap mid-marker


async def test_a_marker_cut_by_the_wrap_is_reversed_on_both_rows(real_engine: Engine, fake_server: FakeServer) -> None:
    fake_server.script(Reply(text=f"Look:\n\n```\n{CODE}\n```\n"))
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=(94, 40)) as pilot:
        await type_and_send(pilot, "show me")
        [msg] = assistants(app)
        [code] = msg.query(CodeLines)
        assert code.size.width % 8 != 1  # a row ends inside a marker
        rows = [code.render_line(y) for y in range(code.size.height)]
        assert len(rows) > 1
        reversed_text = "".join(seg.text for row in rows for seg in row if seg.style is not None and seg.style.reverse)
        assert reversed_text == "<U+202E>" * MARKERS
