"""A character split between two chunks of a stream, through the real SDKs and `chatroute ask`.

A server that cuts its text by UTF-16 code units (a JavaScript gateway slicing a string, a
proxy re-chunking) can send an emoji's surrogate pair as two JSON escapes in two chunks, or end
a stream on half of one. Each half alone is no character: the answer must be stored, shown and
sent again as whole characters."""

from __future__ import annotations

import pytest

from tests.engine.helpers import ask_json
from tests.fakeserver import FakeServer, Reply

TARGET = {"openai": "openai/gpt-4o-mini", "anthropic": "anthropic/claude-haiku-4-5"}


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_an_emoji_split_between_two_chunks_is_one_character(capsys: pytest.CaptureFixture[str],
                                                            configured: FakeServer, wire: str) -> None:
    """Before, the answer could not be stored (UTF-8 cannot encode a lone surrogate): `ask`
    ended in an internal error, exit 70, the paid answer lost and the turn left streaming."""
    model = TARGET[wire]
    # "ab" and the pair's first half as one delta, then "\ude00cd" spliced raw after it; then
    # a lone low surrogate that has no first half at all.
    configured.script(model.split("/")[1], Reply(text="ab\ud83d", chunk_words=False,
                                                 raw_bytes=b"\\ude00cd \\udc00!"))
    code, out = ask_json(capsys, "--no-cache", "-m", model, "smile")
    assert code == 0 and out["status"] == "ok", out
    assert out["text"] == "ab\U0001f600cd \ufffd!"
    code, nxt = ask_json(capsys, "--no-cache", "-m", model, "-c", out["conversation_id"], "again")
    assert code == 0, nxt
    sent = [(m["role"], m["content"]) for m in configured.requests[-1].messages if m["role"] != "system"]
    assert sent == [("user", "smile"), ("assistant", "ab\U0001f600cd \ufffd!"), ("user", "again")]


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_a_stream_ending_on_half_a_character_ends_with_a_replacement(capsys: pytest.CaptureFixture[str],
                                                                     configured: FakeServer, wire: str) -> None:
    model = TARGET[wire]
    configured.script(model.split("/")[1], Reply(text="tail \ud83d", chunk_words=False))
    code, out = ask_json(capsys, "--no-cache", "-m", model, "end on half")
    assert code == 0 and out["status"] == "ok", out
    assert out["text"] == "tail \ufffd"
