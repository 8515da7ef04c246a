"""Numbers from outside are untrusted: price feeds and usage reports.

Driven as a user meets them: `chatroute prices update --from FILE` in a real process on a
hostile feed (absurd prices, a gzip bomb, a recursion bomb, a FIFO, /dev/zero), and turns
answered by the fake provider through the real SDKs with a usage report that is negative,
1e20, or 10^400 tokens. Every case: one line, no traceback, nothing non-finite in any JSON,
and the numbers `chatroute costs` reports stay sane.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import resource
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from chatroute.catalog.prices import load_bundled, trim_feed
from tests.catalog.helpers import make_feed
from tests.engine.helpers import ask_json, run_cli, run_subprocess
from tests.fakeserver import FakeServer, Reply


def _strict_json(text: str) -> Any:
    """Parse as a strict JSON parser would: NaN / Infinity are not JSON."""
    def refuse(name: str) -> None:
        raise AssertionError(f"non-finite JSON number {name} in output")

    return json.loads(text, parse_constant=refuse)


def _one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert len(lines) == 1, err
    return lines[0]


def _absurd_feed(tmp_path: Path, price: float = 1e300) -> Path:
    feed = make_feed()
    feed["gpt-4o-mini"] = {**feed["gpt-4o-mini"], "input_cost_per_token": price, "output_cost_per_token": price}
    path = tmp_path / "absurd.json"
    path.write_text(json.dumps(feed))
    return path


# ---------------------------------------------------------------------------------------------
# Item 10: prices


def test_absurd_price_feed_is_refused_in_one_line(chatroute_home: Path, tmp_path: Path) -> None:
    child = run_subprocess("prices", "update", "--from", str(_absurd_feed(tmp_path)))
    err = child.stderr.decode()
    line = _one_line(err)
    assert child.returncode != 0
    assert "gpt-4o-mini" in line and "per million tokens" in line, line
    assert not (chatroute_home / "prices.json").exists()  # nothing installed
    # A plausible expensive price (o1-pro class, $600/Mtok) is still fine.
    child = run_subprocess("prices", "update", "--from", str(_absurd_feed(tmp_path, 600e-6)))
    assert child.returncode == 0, child.stderr.decode()


def test_absurd_price_already_installed_never_gives_infinity(capsys: pytest.CaptureFixture[str],
                                                             configured: FakeServer, chatroute_home: Path) -> None:
    """A table installed by an older version (or edited by hand) with a 1e300 price: that entry
    is ignored (the bundled price stands), `ask --json` is valid JSON and `costs` adds up."""
    code, out = ask_json(capsys, "-m", "openai/gpt-4o", "a turn at a sane price")
    assert code == 0 and out["cost_usd"] and out["cost_usd"] > 0
    models = trim_feed(make_feed())
    models["gpt-4o-mini"] = {**models["gpt-4o-mini"], "input_cost_per_token": 1e300, "output_cost_per_token": 1e300}
    doc = {"meta": {"source": "hand-edited", "as_of": "2026-12-01"}, "models": models}
    (chatroute_home / "prices.json").write_text(json.dumps(doc))
    configured.script("gpt-4o-mini", Reply(text="an answer priced at 1e300", input_tokens=1000, output_tokens=1000))
    code, out, err = run_cli(capsys, "ask", "--json", "-m", "openai/gpt-4o-mini", "what does it cost?")
    assert code == 0, err
    doc = _strict_json(out)
    bundled = load_bundled().models["gpt-4o-mini"]
    expected = 1000 * bundled["input_cost_per_token"] + 1000 * bundled["output_cost_per_token"]
    assert doc["cost_usd"] == pytest.approx(expected)  # the bundled price, never Infinity
    code, out, err = run_cli(capsys, "costs", "--format", "json")
    assert code == 0, err
    total = _strict_json(out)["periods"]["all"]
    assert total["turns"] == 2 and total["unknown_cost_turns"] == 0
    assert total["cost_usd"] is not None and math.isfinite(total["cost_usd"]) and total["cost_usd"] > 0


def test_config_price_override_past_the_bound_is_a_config_error(capsys: pytest.CaptureFixture[str],
                                                                configured: FakeServer,
                                                                chatroute_home: Path) -> None:
    config = chatroute_home / "config.toml"
    config.write_text(config.read_text() + '\n[models."openai/gpt-4o-mini"]\ninput_cost_per_mtok = 1e300\n')
    code, out, err = run_cli(capsys, "ask", "hi")
    assert code == 2 and out == ""
    assert "input_cost_per_mtok" in _one_line(err)


# ---------------------------------------------------------------------------------------------
# Item 11: usage


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
@pytest.mark.parametrize(("tokens", "says"), [
    (-50_000_000, "negative"),
    (1e20, "impossibly large"),
    (10**400, "impossibly large"),
], ids=["negative", "1e20", "10^400"])
def test_hostile_usage_report_is_refused_and_estimated(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                       chatroute_home: Path, wire: str, tokens: float,
                                                       says: str) -> None:
    model = "openai/gpt-4o-mini" if wire == "openai" else "anthropic/claude-haiku-4-5"
    configured.script(model.split("/")[1], Reply(text="the whole answer arrives", input_tokens=tokens))  # type: ignore[arg-type]
    code, out, err = run_cli(capsys, "ask", "--json", "-m", model, "count my tokens")
    assert code == 0, err
    assert "Traceback" not in err
    doc = _strict_json(out)
    assert doc["status"] == "ok" and doc["text"] == "the whole answer arrives"
    assert doc["tokens"]["estimated"] is True
    assert 0 < doc["tokens"]["input"] < 1000  # estimated from the request, not the report
    assert doc["cost_usd"] is not None and 0 < doc["cost_usd"] < 0.01
    assert says in doc["route"]["usage_warning"] and "input_tokens" in doc["route"]["usage_warning"]
    assert "chatroute: warning: usage report refused" in err
    with sqlite3.connect(chatroute_home / "chatroute.db") as db:
        statuses = [r[0] for r in db.execute("SELECT status FROM messages WHERE role = 'assistant'")]
        tokens_row = db.execute("SELECT input_tokens, output_tokens, cost_usd FROM turns").fetchall()
    assert statuses == ["complete"]  # never left "streaming"
    assert all(t[0] >= 0 and t[1] >= 0 and t[2] >= 0 for t in tokens_row)
    code, out, err = run_cli(capsys, "costs", "--format", "json")
    report = _strict_json(out)
    assert code == 0 and report["periods"]["all"]["cost_usd"] >= 0
    assert all(report["periods"]["all"][k] >= 0 for k in ("routing_saved_usd",) if report["periods"]["all"][k])


def test_hostile_usage_in_the_plain_stream_output_keeps_the_answer(configured: FakeServer,
                                                                   chatroute_home: Path) -> None:
    """The streamed answer reaches stdout whole, then one warning; the turn is complete."""
    configured.script("gpt-4o-mini", Reply(text="every word of a paid answer", input_tokens=1e20))  # type: ignore[arg-type]
    child = run_subprocess("ask", "-m", "openai/gpt-4o-mini", "hello", env={
        "TEST_OPENAI_KEY": "sk-test", "TEST_ANTHROPIC_KEY": "sk-ant-test"})
    err = child.stderr.decode()
    assert child.returncode == 0 and "Traceback" not in err, err
    assert child.stdout.decode().strip() == "every word of a paid answer"
    assert err.count("chatroute: warning: usage report refused") == 1
    assert "⚠ usage report refused" in err  # the badge says it too


# ---------------------------------------------------------------------------------------------
# Item 12: price feed files


def _gzip_bomb(path: Path, size: int) -> Path:
    """`size` zero bytes, gzipped (about 1/1000 of that on disk), written in chunks."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    with path.open("wb") as fh:
        for _ in range(size >> 20):
            fh.write(comp.compress(block))
        fh.write(comp.flush())
    return path


def _limited_memory(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_gzip_bomb_is_cut_off_while_decompressing(tmp_path: Path, chatroute_home: Path) -> None:
    bomb = _gzip_bomb(tmp_path / "prices.json.gz", 1536 << 20)  # 1.5 GB of zeros in ~1.5 MB
    assert bomb.stat().st_size < 4 << 20
    # Under a 1 GB address-space limit: decompressing it whole would die with MemoryError.
    child = subprocess.run([sys.executable, "-m", "chatroute", "prices", "update", "--from", str(bomb)],
                           capture_output=True, timeout=120, preexec_fn=lambda: _limited_memory(1 << 30))
    err = child.stderr.decode()
    assert "decompresses to more than 64 MB" in _one_line(err)
    assert child.returncode != 0 and not (chatroute_home / "prices.json").exists()


def test_deeply_nested_feed_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"a":' * 5000 + "1" + "}" * 5000)
    child = run_subprocess("prices", "update", "--from", str(deep))
    assert "nested" in _one_line(child.stderr.decode()) and child.returncode != 0


def test_fifo_and_device_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "feed.json"
    os.mkfifo(fifo)
    started = time.monotonic()
    child = run_subprocess("prices", "update", "--from", str(fifo), timeout=30)
    assert "not a regular file (a named pipe)" in _one_line(child.stderr.decode())
    assert child.returncode != 0 and time.monotonic() - started < 20
    child = run_subprocess("prices", "update", "--from", "/dev/zero", timeout=30)
    assert "not a regular file (a device)" in _one_line(child.stderr.decode())


def test_gzipped_feed_still_installs(tmp_path: Path, chatroute_home: Path) -> None:
    good = tmp_path / "feed.json.gz"
    good.write_bytes(gzip.compress(json.dumps(make_feed()).encode()))
    child = run_subprocess("prices", "update", "--from", str(good))
    assert child.returncode == 0, child.stderr.decode()
    assert (chatroute_home / "prices.json").is_file()


def test_no_json_output_path_writes_non_finite_numbers() -> None:
    from chatroute import jsonsafe

    text = jsonsafe.dumps({"a": math.inf, "b": [math.nan, 1.5], "c": (-math.inf,)})
    assert _strict_json(text) == {"a": None, "b": [None, 1.5], "c": [None]}


