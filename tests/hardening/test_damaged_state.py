"""Damaged or hand-edited state files, arguments that are not UTF-8, and faults no handler
foresaw: each is read as far as it can be or said in one line, never a traceback or a hang.

chatroute keeps small JSON and text files beside its database (model health, the time the
learned adjustment was reset, local servers' model sizes). A user may edit them, a disk may
damage them: a file of the wrong shape is read as if the damaged part were absent.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatroute.catalog.local_meta import local_sizes
from chatroute.engine import Engine
from chatroute.routing.health import _COUNT_FIELDS, _NUMBER_FIELDS, _TEXT_FIELDS, HealthBoard, ModelHealth
from tests.engine.helpers import ask_json, run_cli, run_subprocess
from tests.fakeserver import FakeServer

MINI = "openai/gpt-4o-mini"


@pytest.mark.parametrize("content", [
    "[1, 2]",
    '{"models": [1, 2]}',
    '{"models": {"openai/gpt-4o-mini": {"tokens_per_s": "x", "ttft_s": true, "requests": "many"}}}',
    '{"models": {"openai/gpt-4o-mini": 7}, "disabled_providers": {"openai": [1]}}',
    '{"models": {"openai/gpt-4o-mini": {"cooldown_until": NaN}}, "disabled_providers": 3}',
], ids=["list", "models-list", "wrong-kinds", "entry-number", "nan-and-number"])
def test_a_damaged_health_file_is_read_as_far_as_it_goes(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path, content: str) -> None:
    (chatroute_home / "health.json").write_text(content)
    code, out, err = run_cli(capsys, "route", "--json", "hi")
    assert code == 0, err
    assert json.loads(out)["model"]
    code, answer = ask_json(capsys, "-m", MINI, "hi")
    assert code == 0 and answer["status"] == "ok"


def test_each_health_field_has_a_kind_and_wrong_kinds_read_as_defaults(tmp_path: Path) -> None:
    # A field added to ModelHealth without a kind here would be dropped from every file read.
    assert set(ModelHealth.__dataclass_fields__) == _NUMBER_FIELDS | _COUNT_FIELDS | _TEXT_FIELDS
    path = tmp_path / "health.json"
    path.write_text(json.dumps({"models": {"m": {"ttft_s": 0.5, "tokens_per_s": "fast", "requests": 3.0,
                                                 "failures": -2, "last_error": 404, "disabled": "bad key"}}}))
    health = HealthBoard.load(path).models["m"]
    assert (health.ttft_s, health.tokens_per_s, health.requests, health.failures) == (0.5, None, 3, 0)
    assert (health.last_error, health.disabled) == (None, "bad key")


def test_a_reset_time_that_is_not_a_time_is_ignored(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    (chatroute_home / "preferences-reset-at").write_text("not a date\n")
    code, answer = ask_json(capsys, "-m", MINI, "hi")
    assert code == 0 and answer["status"] == "ok"
    code, out, err = run_cli(capsys, "prefs", "show")
    assert code == 0 and "1 signal" in out, err


def test_damaged_local_model_sizes_are_asked_again(tmp_path: Path) -> None:
    cache = tmp_path / "local_models.json"
    url = "http://127.0.0.1:8080/v1"
    cache.write_text(json.dumps({"servers": {url: {"a": {"params_b": 7, "at": "now"}, "b": [1],
                                                   "c": {"params_b": "big", "at": 1.0},
                                                   "d": {"params_b": 0.135, "at": 9e18}}}}))
    assert local_sizes({url: ["a", "b", "c", "d"]}, cache, probe=False, now=1e9) == {(url, "d"): 0.135}


def test_prefs_reset_that_cannot_write_says_so(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                               chatroute_home: Path) -> None:
    def refuse(path: Path, *args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("chatroute.fsutil.atomic_write", refuse)
    code, out, err = run_cli(capsys, "prefs", "reset")
    assert code == 1 and out == ""
    assert err == (f"chatroute: error: could not reset the learned adjustment: cannot write "
                   f"{chatroute_home / 'preferences-reset-at'}: Permission denied\n")


@pytest.mark.parametrize("args", [
    ["cache", "check", os.fsdecode(b"\xff\xfe what is dns?"), "what is dns?"],
    ["route", "--json", "-c", os.fsdecode(b"\xff"), "hi"],
    ["ask", "--json", "-m", MINI, "-s", os.fsdecode(b"be brief \xff\xfe"), "hi"],
], ids=["cache-check", "route-conversation", "ask-system"])
def test_arguments_that_are_not_utf8_are_read_with_replacement_characters(
        configured: FakeServer, args: list[str]) -> None:
    child = run_subprocess(*args, env={"CHATROUTE_DEBUG": ""})
    err = child.stderr.decode()
    assert "Traceback" not in err and "internal error" not in err, err
    if args[0] == "route":  # no such conversation: a usage error naming it
        assert child.returncode == 2 and "\ufffd" in err and err.count("\n") == 1, err
    else:
        assert child.returncode == 0, err
    if args[0] == "ask":
        system = configured.requests[-1].body["messages"][0]
        assert system["role"] == "system" and system["content"] == "be brief \ufffd\ufffd"


@pytest.mark.parametrize(("source", "says"), [
    ("http://[::1", "not a usable URL: http://[::1"),
    ("", "--from is empty: give a URL, a file or '-' (leave --from out for the default feed)"),
], ids=["bad-url", "empty"])
def test_prices_update_from_a_bad_source_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], source: str,
                                                            says: str) -> None:
    code, out, err = run_cli(capsys, "prices", "update", "--from", source)
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert err.splitlines()[-1].startswith(f"chatroute: error: {says}"), err


def test_a_fault_no_handler_foresaw_is_one_line_and_a_report_and_compare_does_not_hang(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One of compare's streams raises: the command ends (it used to wait for that answer for
    ever), with one line that names the fault and a report file holding the traceback."""
    import asyncio

    async def broken() -> AsyncIterator[Any]:
        raise RuntimeError("boom")
        yield  # an async generator

    async def slow() -> AsyncIterator[Any]:
        await asyncio.sleep(30)
        yield

    monkeypatch.setattr(Engine, "compare", lambda self, conversation, prompt, models: {"a": broken(), "b": slow()})
    monkeypatch.delenv("CHATROUTE_DEBUG")
    result: list[tuple[int, str, str]] = []
    worker = threading.Thread(target=lambda: result.append(
        run_cli(capsys, "compare", "-m", MINI, "-m", "openai/gpt-4o", "hi")), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "compare hung on a stream that raised"
    [(code, _, err)] = result
    report = chatroute_home / "last-error.txt"
    assert code == 70
    assert err == (f"chatroute: internal error: RuntimeError: boom; this is a bug in chatroute "
                   f"(the details are in {report})\n")
    text = report.read_text()
    assert text.startswith("chatroute ") and "Traceback" in text and "RuntimeError: boom" in text
