"""A carriage return ends a line wherever outside text reaches the terminal, as Markdown reads it:
an answer or prompt with classic Mac line ends (a lone CR) keeps its lines instead of gluing
them into one word, and CRLF split across two streamed pieces is one line break, not two."""

from __future__ import annotations

import sys

import pytest

from chatroute.safetext import StreamCleaner, scrub, strip_terminal_controls
from tests.engine.helpers import run_cli
from tests.fakeserver import FakeServer, Reply

OLD_MAC = "First line\rSecond line\r\rThird paragraph\r\nFourth"
READ = "First line\nSecond line\n\nThird paragraph\nFourth"


def test_a_carriage_return_is_a_line_end() -> None:
    assert strip_terminal_controls(OLD_MAC) == READ
    assert strip_terminal_controls("a\r\x1b[2Jb\r") == "a\nb\n"
    assert scrub({"text": OLD_MAC}) == {"text": READ}


@pytest.mark.parametrize("pieces", [["a\r", "\nb"], ["a\r", "b"], ["a", "\r", "\r\n", "b"], ["a\r"]])
def test_a_line_end_split_across_pieces_is_read_as_if_sent_at_once(pieces: list[str]) -> None:
    cleaner = StreamCleaner()
    shown = "".join(cleaner.feed(piece) for piece in pieces) + cleaner.flush()
    assert shown == strip_terminal_controls("".join(pieces))


def test_ask_on_a_terminal_keeps_the_lines_of_an_answer_with_lone_carriage_returns(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    configured.script("gpt-4o-mini", Reply(text=OLD_MAC))
    monkeypatch.setattr(type(sys.stdout), "isatty", lambda self: True)
    code, out, err = run_cli(capsys, "ask", "-m", "openai/gpt-4o-mini", "Write four lines")
    assert code == 0, err
    assert out == READ + "\n"
