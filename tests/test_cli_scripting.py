"""chatroute in shell scripts: closed standard streams, JSON on failure, stops under `timeout`.

Each test runs the real `chatroute` command in a child process, against the fake server where
a model is called.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.engine.helpers import configured, run_subprocess, write_config  # noqa: F401 - fixture
from tests.fakeserver import FakeServer, Reply
from tests.hardening.crash_support import read_messages, wait_until


def _shell(command: str, *, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """`command` in sh, with `chatroute` the module run by this interpreter."""
    return subprocess.run(["sh", "-c", f'chatroute() {{ "$0" -m chatroute "$@"; }}; {command}', sys.executable],
                          capture_output=True, timeout=timeout)


@pytest.mark.parametrize("command", ["models", "ask hello", "--version", "costs --help", "serve --port 0",
                                     "serve --rotate-token"])
def test_a_closed_standard_output_is_one_line_and_asks_no_model(command: str,
                                                                configured: FakeServer) -> None:  # noqa: F811
    done = _shell(f"chatroute {command} >&-")
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err == "chatroute: error: cannot write the output: standard output is closed\n"
    assert configured.requests == []  # nothing paid for an answer no one could read


def test_a_closed_standard_error_leaves_standard_output_to_the_answer(configured: FakeServer) -> None:  # noqa: F811
    done = _shell("chatroute ask hello 2>&-")
    assert done.returncode == 0
    assert done.stdout.decode() == "Echo from gpt-4o-mini: hello\n"  # the badge line went nowhere


def _failure(done: subprocess.CompletedProcess[bytes]) -> dict[str, object]:
    """The JSON a failed command printed, checked against its stderr line and exit code."""
    err = done.stderr.decode()
    assert "Traceback" not in err
    [line] = [x for x in err.splitlines() if x.startswith("chatroute: error: ")]
    failure = json.loads(done.stdout)  # one document, nothing else on stdout
    assert failure == {"status": "error", "error": line.removeprefix("chatroute: error: "),
                       "exit_code": done.returncode}
    return failure


@pytest.mark.parametrize("command", [
    ["ask", "--json", "hello"],
    ["route", "--json", "hello"],
], ids=["ask", "route"])
def test_json_commands_print_json_when_no_key_is_set(command: list[str], configured: FakeServer,  # noqa: F811
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_OPENAI_KEY")
    monkeypatch.delenv("TEST_ANTHROPIC_KEY")
    done = run_subprocess(*command)
    assert done.returncode == 2
    assert "TEST_OPENAI_KEY" in str(_failure(done)["error"])
    assert configured.requests == []


@pytest.mark.parametrize("command", [
    ["ask", "--json", "hello"],
    ["models", "--json"],
    ["costs", "--format", "json"],
    ["cache", "stats", "--json"],
], ids=["ask", "models", "costs", "cache-stats"])
def test_json_commands_print_json_on_a_broken_config(command: list[str], chatroute_home: Path) -> None:
    (chatroute_home / "config.toml").write_text("this is [ not toml\n", encoding="utf-8")
    done = run_subprocess(*command)
    assert done.returncode == 2
    assert "config.toml:1: TOML syntax error" in str(_failure(done)["error"])


def test_ask_json_past_the_budget_cap_prints_json(configured: FakeServer,  # noqa: F811
                                                  chatroute_home: Path) -> None:
    write_config(chatroute_home, configured, extra="[budget]\ndaily_usd = 0.0001\n")
    configured.script("gpt-4o", Reply(text="spent", input_tokens=1000, output_tokens=1000))
    assert run_subprocess("ask", "-m", "gpt-4o", "a pricey turn").returncode == 0
    done = run_subprocess("ask", "--json", "What is the boiling point of water?")
    assert done.returncode == 2
    assert "--over-budget" in str(_failure(done)["error"])
    assert len(configured.requests) == 1


def test_ask_json_on_an_unknown_conversation_prints_json(configured: FakeServer) -> None:  # noqa: F811
    done = run_subprocess("ask", "--json", "-c", "nosuchconversation", "hello")
    assert done.returncode == 2
    assert "no conversation 'nosuchconversation'" in str(_failure(done)["error"])


def test_compare_jsonl_naming_an_unknown_model_prints_json(configured: FakeServer) -> None:  # noqa: F811
    done = run_subprocess("compare", "--jsonl", "-m", "openai/gpt-4o-mini", "-m", "nosuch/model", "hello")
    assert done.returncode == 2
    assert "unknown model 'nosuch/model'" in str(_failure(done)["error"])
    assert configured.requests == []


def test_a_failed_turn_and_a_refused_one_share_status_and_error(configured: FakeServer,  # noqa: F811
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_OPENAI_KEY")
    pinned = json.loads(run_subprocess("ask", "--json", "-m", "openai/gpt-4o", "hello").stdout)
    routed = json.loads(run_subprocess("ask", "--json", "hello", env={"TEST_ANTHROPIC_KEY": ""}).stdout)
    assert pinned["status"] == routed["status"] == "error"
    assert "TEST_OPENAI_KEY" in pinned["error"] and "TEST_OPENAI_KEY" in routed["error"]


def _until_saved_streaming(home: Path, child: subprocess.Popen[bytes], answers: int) -> None:
    """Wait until `answers` replies of `child` have their first words saved: the child has
    read them (not a sleep after the request arrived, which a loaded machine outlasted)."""
    wait_until(lambda: len(read_messages(home / "chatroute.db", "status = 'streaming' AND content LIKE 'w0 w1 %'"))
               >= answers, 30, "the first words saved",
               alive=lambda: None if child.poll() is None else f"exited {child.returncode}")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, -signal.SIGINT)],
                         ids=["SIGTERM", "SIGINT"])
def test_ask_json_stopped_by_a_signal_prints_the_interrupted_turn(signum: int, code: int, configured: FakeServer,  # noqa: F811
                                                                  chatroute_home: Path) -> None:
    # `timeout 30 chatroute ask --json …` sends SIGTERM; the partial answer is saved, and the
    # script gets it and the conversation to go on with.
    configured.script(Reply(text=" ".join(f"w{i}" for i in range(400)), tokens_per_s=40))
    child = subprocess.Popen([sys.executable, "-m", "chatroute", "ask", "--json", "hello"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _until_saved_streaming(chatroute_home, child, 1)  # some words streamed (of 10 s of them)
    child.send_signal(signum)
    out, err = child.communicate(timeout=30)
    assert child.returncode == code, err
    assert b"Traceback" not in err
    turn = json.loads(out)
    assert turn["status"] == "interrupted" and turn["text"].startswith("w0 w1 ") and "w399" not in turn["text"]
    assert turn["model"] == "openai/gpt-4o-mini" and turn["tokens"]["output"] > 0
    assert turn["conversation_id"] and turn["message_id"] and turn["turn_id"]
    more = run_subprocess("ask", "--json", "-c", turn["conversation_id"], "go on")
    assert more.returncode == 0, more.stderr
    assert json.loads(more.stdout)["conversation_id"] == turn["conversation_id"]


@pytest.mark.parametrize("command", ["ask", "route --json", "compare -m openai/gpt-4o-mini -m openai/gpt-4o"],
                         ids=["ask", "route", "compare"])
def test_a_prompt_piped_in_without_a_dash_is_read(command: str, configured: FakeServer) -> None:  # noqa: F811
    done = _shell(f"echo 'what is a pipe?' | chatroute {command}")
    assert done.returncode == 0, done.stderr
    if command != "route --json":
        assert {r.messages[-1]["content"] for r in configured.requests} == {"what is a pipe?\n"}


def test_no_prompt_from_a_terminal_says_how_to_give_one(configured: FakeServer) -> None:  # noqa: F811
    # stdin a terminal: a pseudo-terminal, as an interactive shell has.
    import pty

    leader, follower = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "chatroute", "ask"], stdin=follower, capture_output=True,
                              timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 2
    assert done.stderr.decode() == ("chatroute: error: no prompt: give it as an argument, or pipe it in "
                                    "(`echo … | chatroute ask`)\n")
    assert configured.requests == []


def test_compare_where_every_model_lacks_its_key_is_a_config_error(configured: FakeServer,  # noqa: F811
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # As `ask -m` with no key: exit 2, the config's to fix, not 1, a provider failure to retry.
    monkeypatch.delenv("TEST_OPENAI_KEY")
    asked = run_subprocess("ask", "-m", "openai/gpt-4o", "hello")
    compared = run_subprocess("compare", "--json", "-m", "openai/gpt-4o-mini", "-m", "openai/gpt-4o", "hello")
    assert asked.returncode == compared.returncode == 2, compared.stderr
    assert [a["status"] for a in json.loads(compared.stdout)] == ["error", "error"]
    assert configured.requests == []


def test_json_into_a_stream_that_is_not_utf8_keeps_every_character(configured: FakeServer) -> None:  # noqa: F811
    # A Latin-1 or ASCII locale, or Windows' code page into a pipe: \\u escapes, not '?'.
    done = run_subprocess("ask", "--json", "café ✓ 日本", env={"PYTHONIOENCODING": "latin-1"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.decode("latin-1"))["text"] == "Echo from gpt-4o-mini: café ✓ 日本"


def test_costs_csv_by_conversation_names_each_conversation_by_its_id(configured: FakeServer) -> None:  # noqa: F811
    # Two conversations with the same title: the CSV must tell them apart, and give what `-c` takes.
    ids = {json.loads(run_subprocess("ask", "--json", "--no-cache", "hello").stdout)["conversation_id"]
           for _ in range(2)}
    done = run_subprocess("costs", "--by", "conversation", "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout.decode())))
    assert [r["conversation"] for r in rows] == ["hello", "hello"]
    assert {r["conversation_id"] for r in rows} == ids and len(ids) == 2
    assert list(rows[0])[-1] == "conversation_id"  # the columns scripts already read keep their places


@pytest.mark.parametrize("command", [[], ["tui"]], ids=["chatroute", "chatroute tui"])
def test_the_tui_with_standard_input_not_a_terminal_says_so_instead_of_hanging(command: list[str],
                                                                               configured: FakeServer) -> None:  # noqa: F811
    # `echo q | chatroute`, or a script or cron job with no terminal: the TUI would draw escape
    # codes into stderr and wait for keys for ever.
    done = run_subprocess(*command, stdin=b"what is a pipe?\n", timeout=20)
    assert done.returncode == 2
    assert done.stderr.decode() == ("chatroute: error: the TUI needs a terminal, and standard input is not one; "
                                    "in a script, `chatroute ask` answers one prompt (`echo … | chatroute ask`)\n")
    assert done.stdout == b"" and configured.requests == []


@pytest.mark.parametrize("fmt", ["--json", "--jsonl"])
def test_compare_stopped_by_sigterm_prints_the_interrupted_answers(fmt: str, configured: FakeServer,  # noqa: F811
                                                                   chatroute_home: Path) -> None:
    slow = " ".join(f"w{i}" for i in range(400))
    configured.script("gpt-4o-mini", Reply(text=slow, tokens_per_s=40))
    configured.script("gpt-4o", Reply(text=slow, tokens_per_s=40))
    child = subprocess.Popen([sys.executable, "-m", "chatroute", "compare", fmt, "-m", "openai/gpt-4o-mini",
                              "-m", "openai/gpt-4o", "hello"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _until_saved_streaming(chatroute_home, child, 2)  # some words of each streamed (of 10 s of them)
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 143, err
    assert b"Traceback" not in err
    text = out.decode()
    answers = json.loads(text) if fmt == "--json" else [json.loads(line) for line in text.splitlines()]
    assert [a["model"] for a in answers] == ["openai/gpt-4o-mini", "openai/gpt-4o"]
    for a in answers:
        assert a["status"] == "interrupted" and a["text"].startswith("w0 w1 ") and a["turn_id"], a
        assert a["tokens"]["output"] > 0
    assert answers[0]["conversation_id"] == answers[1]["conversation_id"]


@pytest.mark.parametrize("by", ["day", "model", "conversation"])
def test_costs_csv_lines_end_as_unix_tools_read_them(by: str, configured: FakeServer) -> None:  # noqa: F811
    # `… | while IFS=, read …; do [ "$estimated_turns" -gt 0 ]` fails on "0\r"; on Windows,
    # "\r\n" through text-mode stdout becomes "\r\r\n".
    assert run_subprocess("ask", "hello \"you\"").returncode == 0
    done = _shell(f"chatroute costs --by {by} --format csv | while IFS=, read -r a b c d e f g h turns rest; do "
                  "[ \"$turns\" = estimated_turns ] || [ \"$turns\" -ge 0 ] || exit 9; done")
    assert done.returncode == 0, done.stderr
    out = run_subprocess("costs", "--by", by, "--format", "csv").stdout
    assert b"\r" not in out and out.endswith(b"\n") and len(out.splitlines()) == 2
    if by == "conversation":  # quoted as CSV quotes: the title comes back whole
        assert list(csv.reader(io.StringIO(out.decode())))[1][0] == 'hello "you"'


@pytest.mark.parametrize("command", [["ask", "hello"], ["ask", "--json", "-m", "nosuch/model", "hello"], ["models"]],
                         ids=["ask", "ask-error", "models"])
def test_a_standard_error_whose_reader_has_gone_is_not_a_failure(command: list[str], configured: FakeServer,  # noqa: F811
                                                                 chatroute_home: Path) -> None:
    # `chatroute ask q 2>&1 | head -1`: head has gone when the badge is written to stderr.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run([sys.executable, "-m", "chatroute", *command], stdout=subprocess.PIPE, stderr=writer,
                              timeout=60)
    finally:
        os.close(writer)
    expected = 2 if "nosuch/model" in command else 0
    assert done.returncode == expected
    assert not (chatroute_home / "last-error.txt").exists()  # no "bug in chatroute" report
    if command == ["ask", "hello"]:
        assert done.stdout == b"Echo from gpt-4o-mini: hello\n"
    if expected:
        assert json.loads(done.stdout)["status"] == "error"


def test_ctrl_c_stops_a_shell_loop_of_asks_not_only_the_current_one(configured: FakeServer,  # noqa: F811
                                                                    tmp_path: Path) -> None:
    # bash goes on with a loop when its foreground child exits 130 by itself (it took the child
    # to have handled Ctrl+C), and stops it when the child dies of SIGINT.
    configured.default_reply = Reply(text=" ".join(f"w{i}" for i in range(400)), tokens_per_s=40)
    log = tmp_path / "log"
    script = (f'chatroute() {{ "{sys.executable}" -m chatroute "$@"; }}; '
              f'for i in 1 2 3; do chatroute ask "question $i" >/dev/null 2>&1; echo "ask $i: $?" >> {log}; done')
    loop = subprocess.Popen(["bash", "-c", script], start_new_session=True)
    deadline = time.monotonic() + 30
    while not configured.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(loop.pid, signal.SIGINT)  # Ctrl+C: the terminal signals the whole foreground group
    assert loop.wait(timeout=30) == -signal.SIGINT  # bash stopped there, as it stops for `sleep`
    assert not log.exists() and len(configured.requests) == 1


def test_ctrl_c_on_ask_reads_130_in_a_shell(configured: FakeServer) -> None:  # noqa: F811
    configured.default_reply = Reply(text=" ".join(f"w{i}" for i in range(400)), tokens_per_s=40)
    script = f'"{sys.executable}" -m chatroute ask hello >/dev/null; echo "exit $?"'
    shell = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not configured.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    [ask] = Path(f"/proc/{shell.pid}/task/{shell.pid}/children").read_text().split()  # the shell's only child
    os.kill(int(ask), signal.SIGINT)
    out, err = shell.communicate(timeout=30)
    assert out == b"exit 130\n" and err == b"chatroute: interrupted\n", err


def test_ask_c_while_another_process_writes_its_last_answer_is_refused_not_sent_blind(
        configured: FakeServer) -> None:  # noqa: F811
    # `chatroute ask q1 & chatroute ask -c last q2`: q1's answer has no text yet, and the history
    # leaves out a question whose answer has none, so q2 went out alone and was answered blind.
    # No text until the second has run: a first token 8 s away could come first on a loaded machine.
    release = threading.Event()
    configured.script(Reply(text="Paris. " * 30, hold=release))
    first = subprocess.Popen([sys.executable, "-m", "chatroute", "ask", "what is the capital of France?"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not configured.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        early = run_subprocess("ask", "--json", "-c", "last", "and its population?")
    finally:
        release.set()
    assert early.returncode == 2
    assert "still being written" in str(_failure(early)["error"])
    assert len(configured.requests) == 1  # nothing sent blind
    first.communicate(timeout=60)
    assert first.returncode == 0
    after = run_subprocess("ask", "-c", "last", "and its population?")
    assert after.returncode == 0, after.stderr
    assert [m["content"][:10] for m in configured.requests[-1].messages] == [
        "what is th", "Paris. Par", "and its po"]


def test_eval_reads_rows_piped_in_without_a_dash(tmp_path: Path) -> None:
    rows = [{"dataset": "d", "turns": [f"question {i} " + "x" * i], "scores": {"weak": i % 2, "strong": 1.0}}
            for i in range(20)]
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    done = _shell(f"cat '{data}' | chatroute eval --json --weak weak --strong strong")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["d"]["weak"] == "weak"
