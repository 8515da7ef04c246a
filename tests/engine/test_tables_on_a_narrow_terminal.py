"""The command line's tables on an 80-column terminal: each row on one line, the least needed
columns left out and named, never the model, the cost or the health; narrower than what those
take (40 columns), each row a block of lines that fit, its figures beside their columns' names;
into a pipe every column, as before."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from chatroute.commands.common import display_width
from tests.engine.helpers import run_cli
from tests.fakeserver import FakeServer, Reply


def _tables(out: str) -> list[list[str]]:
    """Each table in `out`: its header, rule and rows (a rule is a line of dashes and spaces)."""
    lines = out.splitlines()
    found = []
    for i, line in enumerate(lines):
        if line and set(line) <= {"-", " "} and i > 0:
            end = i + 1
            while end < len(lines) and lines[end] and not lines[end].startswith(("(", "→")):
                end += 1
            found.append(lines[i - 1:end])
    return found


def _blocks(out: str) -> list[list[str]]:
    """Each table of `out` shown as blocks: the lines from the one after a blank line (or the
    first) to the note that names the columns left out, that note included."""
    lines, found, start, note = out.splitlines(), [], 0, False
    for i, line in enumerate(lines):
        note = note or line.startswith("(left out at")
        if not line:
            start = i + 1
        elif note and line.endswith("them)"):
            found.append(lines[start:i + 1])
            start, note = i + 1, False
    return found


@pytest.mark.parametrize("columns", [80, 40])
def test_tables_fit_the_terminal_and_name_what_they_leave_out(
        columns: int, capsys: pytest.CaptureFixture[str], configured: FakeServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    configured.script("gpt-4o-mini", Reply(text="Lisbon."))
    assert run_cli(capsys, "ask", "-m", "gpt-4o-mini", "What is the capital of Portugal?")[0] == 0
    monkeypatch.setattr(type(sys.stdout), "isatty", lambda self: True)
    monkeypatch.setenv("COLUMNS", str(columns))
    for args, kept in ((["models"], ["model", "in $/Mtok", "out $/Mtok", "context", "health"]),
                       (["route", "What is the capital of Spain?"], ["model", "quality", "exp. cost", "excluded"]),
                       (["costs", "--by", "conversation"], ["period", "spent", "routing saved", "conversation",
                                                            "turns", "cost"])):
        code, out, err = run_cli(capsys, *args)
        assert code == 0, err
        if columns == 80:
            tables = _tables(out)
            assert tables, out
            for table in tables:
                assert all(display_width(line) <= columns for line in table), (args, "\n".join(table))
            headers = " ".join(table[0] for table in tables)
            assert all(name in headers for name in kept), (args, out)
        else:  # narrower than the kept columns take: no row wraps, each figure beside its name
            blocks = _blocks(out)
            assert blocks, out
            for block in blocks:
                assert all(display_width(line) <= columns for line in block), (args, "\n".join(block))
            labels = {line.split("  ")[1] for block in blocks for line in block if line.startswith("  ")}
            assert set(kept[1:]) - {"conversation", "excluded"} <= labels, (args, labels)  # none is excluded
            assert "$" in "".join(blocks[0]), (args, out)
        assert f"(left out at {columns} columns: " in out, out
    monkeypatch.setattr(type(sys.stdout), "isatty", lambda self: False)  # a pipe: every column, no note
    code, out, err = run_cli(capsys, "models")
    assert "price as of" in out and "ability from" in out and "left out" not in out


@pytest.mark.parametrize("columns", [40, 200])
def test_compare_rules_do_not_wrap_on_a_narrow_terminal(
        columns: int, capsys: pytest.CaptureFixture[str], configured: FakeServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(sys.stdout), "isatty", lambda self: True)
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, err = run_cli(capsys, "compare", "-m", "gpt-4o-mini", "-m", "gpt-4o", "Name a port city")
    assert code == 0, err
    rules = [line for line in out.splitlines() if line.startswith("━━ ")]
    assert len(rules) == 2 and all(display_width(rule) == min(64, columns - 1) for rule in rules), rules
    if columns == 40:  # the summary's rows, too wide for it, are blocks
        summary = out.splitlines()[out.splitlines().index("openai/gpt-4o-mini"):]
        assert "  status  ok" in summary and all(display_width(line) <= columns for line in summary[:12]), out


def test_a_line_end_in_a_cell_never_starts_a_row_of_its_own(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    """A model id from config.toml with a CR or LF in it (a TOML escape) stays on its row."""
    config = chatroute_home / "config.toml"
    forged = "openai/evil\\rforged-row  $0.00"  # as written in the TOML file: a CR escape
    text = config.read_text(encoding="utf-8").replace('pool = ["openai/gpt-4o-mini"', f'pool = ["{forged}"')
    config.write_text(text + f'\n[models."{forged}"]\ninput_cost_per_mtok = 1.0\noutput_cost_per_mtok = 2.0\n',
                      encoding="utf-8")
    for args in (["models"], ["route", "Name a port city"]):
        code, out, err = run_cli(capsys, *args)
        assert code == 0, err
        rows = [line for line in out.splitlines() if "forged-row" in line]
        # the id and its figures on one row; no row of figures of its own
        assert any("openai/evil forged-row  $0.00 " in row and "0.30" in row or "+0." in row for row in rows), out
        assert not any(row.startswith("forged-row") and row.count("$") > 1 for row in rows), out
