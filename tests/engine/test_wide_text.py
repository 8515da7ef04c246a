"""The command line's tables with text wider or narrower than its length: CJK and emoji take
two terminal cells a character, combining marks none. Columns line up on the screen, not in
len(), and a cut keeps to a number of cells."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from chatroute.commands import common
from chatroute.commands.common import table
from tests.engine.helpers import run_cli
from tests.fakeserver import FakeServer

WIDE = ["東京の人口は何人ですか", "🎉 party 👨‍👩‍👧‍👦 🇯🇵", "e\u0301te\u0301 n\u0308 combining", "مرحبا بالعالم",
        "plain ascii"]


def test_table_columns_line_up_by_display_width() -> None:
    rows = [[text, str(i), "x"] for i, text in enumerate(WIDE)]
    lines = table(rows, ["name", "n", "tail"], "lrr").splitlines()
    # The last column is right-aligned: every line ends in the same terminal column.
    assert len({cell_len(line) for line in lines}) == 1, lines
    # ...and the middle one too: the text before each "  n" is as wide on every line.
    ends = {cell_len(line[: line.rindex("  ", 0, len(line) - 3)]) for line in lines[2:]}
    assert len(ends) == 1, lines


def test_display_width_is_rich_s_for_every_kind_of_text() -> None:
    # Plain ASCII is measured by its length (rich, measuring a character at a time, made a
    # table of thousands of rows several times slower): the same answer, control characters
    # (no cell) and all.
    for text in [*WIDE, "", "$0.0012", "a\tb", "bell\x07", "del\x7f", "esc\x1b[0m", " ~!@#$%^&*()_+`"]:
        assert common.display_width(text) == cell_len(text), repr(text)


def test_clip_cells_cuts_at_a_width_in_cells() -> None:
    assert common.clip_cells("plain", 10) == "plain"
    cut = common.clip_cells("東京の人口は何人ですか", 9)
    assert cut.endswith("…") and cell_len(cut) <= 9 and cut.startswith("東京の人")
    assert common.clip_cells("東京", 4) == "東京"


def test_costs_by_conversation_lines_up_wide_titles(capsys: pytest.CaptureFixture[str],
                                                    configured: FakeServer) -> None:
    prompts = [*WIDE, "長い質問です。" * 12]  # the last one's title is longer than the column
    for prompt in prompts:
        code, _, err = run_cli(capsys, "ask", "--no-cache", prompt)
        assert code == 0, err
    code, out, err = run_cli(capsys, "costs", "--by", "conversation")
    assert code == 0, err
    block = out.split("\n\n")[1].splitlines()
    assert block[0].startswith("conversation") and len(block) == 2 + len(prompts)
    assert len({cell_len(line) for line in block}) == 1, "\n".join(block)
    # The titles' column is at most 48 cells wide, as it was meant to be in characters.
    assert len(block[1].split("  ")[0]) <= 48
