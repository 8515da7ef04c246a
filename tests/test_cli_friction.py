"""Issue 12's CLI friction, through the real `chatroute` command (a subprocess) or its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.helpers import configured, run_cli, run_subprocess, write_config  # noqa: F401 - fixture
from tests.fakeserver import FakeServer, Reply


def test_compare_json_is_one_document_and_jsonl_one_object_a_line(capsys: pytest.CaptureFixture[str],
                                                                 configured: FakeServer) -> None:  # noqa: F811
    configured.script(Reply(text="an answer"))
    code, out, err = run_cli(capsys, "compare", "-m", "openai/gpt-4o-mini", "-m", "openai/gpt-4o", "--json", "hi")
    assert code == 0, err
    doc = json.loads(out)  # one document, not concatenated objects
    assert [r["model"] for r in doc] == ["openai/gpt-4o-mini", "openai/gpt-4o"]
    code, out, err = run_cli(capsys, "compare", "-m", "openai/gpt-4o-mini", "-m", "openai/gpt-4o", "--jsonl", "hi")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert [json.loads(line)["model"] for line in lines] == ["openai/gpt-4o-mini", "openai/gpt-4o"]


def test_compare_names_the_way_to_go_on_and_ask_goes_on_from_the_first_answer(
        capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:  # noqa: F811
    configured.script("gpt-4o-mini", Reply(text="answer one"))
    configured.script("gpt-4o", Reply(text="answer two"))
    code, out, err = run_cli(capsys, "compare", "-m", "openai/gpt-4o-mini", "-m", "openai/gpt-4o", "hi")
    assert code == 0, err
    [line] = [line for line in out.splitlines() if line.startswith("conversation ")]
    conv = line.split()[1].rstrip(":")
    assert f"`chatroute ask -c {conv}` goes on from the first" in line
    configured.script(Reply(text="more"))
    code, out, err = run_cli(capsys, "ask", "-c", conv, "and then?")
    assert code == 0, err
    sent = [m["content"] for m in configured.requests[-1].messages]
    assert sent[-3:] == ["hi", "answer one", "and then?"], sent


def test_pinning_by_part_of_a_name_suggests_the_pool_first(chatroute_home: Path, fake_server: FakeServer) -> None:
    write_config(chatroute_home, fake_server, pool=["openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5"])
    done = run_subprocess("ask", "-m", "claude", "hi", env={"TEST_OPENAI_KEY": "k", "TEST_ANTHROPIC_KEY": "k"})
    err = done.stderr.decode()
    assert done.returncode == 2 and "Traceback" not in err
    suggested = err.split("did you mean ", 1)[1].split(", ")
    assert suggested[0] == "anthropic/claude-sonnet-4-5"  # the pool's own Claude, before the catalogue's


def test_unknown_baseline_is_bad_usage() -> None:
    done = run_subprocess("costs", "--baseline", "nosuch/model")
    assert done.returncode == 2
    err = done.stderr.decode()
    assert len(err.strip().splitlines()) == 1 and "nosuch/model" in err and "Traceback" not in err


def test_unknown_option_prints_the_subcommands_usage() -> None:
    done = run_subprocess("ask", "--bogus", "hi")
    err = done.stderr.decode()
    assert done.returncode == 2
    assert err.startswith("usage: chatroute ask") and "--bogus" in err
    done = run_subprocess("prices", "update", "--bogus")
    assert done.returncode == 2 and done.stderr.decode().startswith("usage: chatroute prices update")


def test_eval_help_names_only_real_flags_and_cost_ratio_works(tmp_path: Path) -> None:
    rows = [{"dataset": "d", "turns": [f"question {i} " + "x" * i], "scores": {"weak": i % 2, "strong": 1.0}}
            for i in range(20)]
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    plain = run_subprocess("eval", str(data), "--weak", "weak", "--strong", "strong")
    assert plain.returncode == 0, plain.stderr
    hint = [line for line in plain.stdout.decode().splitlines() if "saving assumes" in line]
    assert hint and "--cost-ratio" in hint[0]
    priced = run_subprocess("eval", str(data), "--weak", "weak", "--strong", "strong", "--cost-ratio", "0.1",
                            "--json")
    assert priced.returncode == 0, priced.stderr
    assert json.loads(priced.stdout)["d"]["cost_ratio"] == 0.1
    assert run_subprocess("eval", str(data), "--cost-ratio", "3").returncode == 2


def test_cache_stats_json() -> None:
    done = run_subprocess("cache", "stats", "--json")
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["entries"] == 0 and stats["hits"] == 0 and stats["hit_rate"] is None and stats["enabled"] is True


def test_route_with_no_keys_gives_the_next_step(chatroute_home: Path) -> None:
    done = run_subprocess("route", "hello")
    err = done.stderr.decode()
    assert done.returncode == 2
    assert "OPENAI_API_KEY" in err and "ANTHROPIC_API_KEY" in err and str(chatroute_home / "config.toml") in err


def test_missing_price_feed_file_is_bad_input(tmp_path: Path) -> None:
    done = run_subprocess("prices", "update", "--from", str(tmp_path / "missing.json"))
    assert done.returncode == 2
    assert "missing.json" in done.stderr.decode() and "Traceback" not in done.stderr.decode()


def test_route_separates_the_one_off_load_from_the_decision(capsys: pytest.CaptureFixture[str],
                                                            configured: FakeServer) -> None:  # noqa: F811
    code, out, err = run_cli(capsys, "route", "--json", "what is 2+2")
    assert code == 0, err
    decision = json.loads(out)
    assert decision["load_ms"] >= 0 and decision["route_ms"] >= 0
    code, out, err = run_cli(capsys, "route", "what is 2+2")
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("decided in ") and "loading the router once for this process took" in last


def test_ctrl_c_while_the_command_loads_is_a_plain_interruption() -> None:
    # The signal arrives while the subcommand's modules import (the first ~0.3 s of every command).
    script = (
        "import importlib, os, signal, sys\n"
        "load = importlib.import_module\n"
        "def interrupted(name, *args):\n"
        "    if name.startswith('chatroute.commands.'):\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    return load(name, *args)\n"
        "importlib.import_module = interrupted\n"
        "from chatroute.cli import main\n"
        "sys.exit(main(['costs']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert (done.returncode, done.stderr.decode()) == (130, "chatroute: interrupted\n")


def test_ask_from_a_closed_standard_input_is_bad_usage() -> None:
    done = subprocess.run(["sh", "-c", 'exec "$0" -m chatroute ask - <&-', sys.executable],
                          capture_output=True, timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err == "chatroute: error: '-' reads the prompt from standard input, which is closed\n"


def test_a_pinned_model_whose_key_is_missing_is_a_config_error_without_retry_advice(chatroute_home: Path) -> None:
    # Anthropic's own endpoint, no key anywhere: refused before any request is made.
    (chatroute_home / "config.toml").write_text('[providers.anthropic]\nkind = "anthropic"\n\n'
                                                '[router]\npool = ["anthropic/claude-haiku-4-5"]\n')
    done = run_subprocess("ask", "-m", "anthropic/claude-haiku-4-5", "hi")
    err = done.stderr.decode()
    assert done.returncode == 2, err
    [line] = [x for x in err.splitlines() if x.startswith("chatroute: error:")]
    assert "no API key for provider 'anthropic': set ANTHROPIC_API_KEY" in line, line
    assert "run the same command again" not in line


def test_compare_where_every_model_fails_says_so_on_stderr(capsys: pytest.CaptureFixture[str],
                                                           configured: FakeServer) -> None:  # noqa: F811
    from tests.fakeserver import Fault

    configured.script("gpt-4o-mini", Fault(status=500))
    configured.script("gpt-4o", Fault(status=500))
    code, out, err = run_cli(capsys, "compare", "-m", "openai/gpt-4o-mini", "-m", "openai/gpt-4o", "hi")
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith("chatroute: error: no model answered (openai/gpt-4o-mini: ")
    assert "; openai/gpt-4o: " in line and "500" in line
    assert "pick one" not in out  # nothing was answered, so there is nothing to pick


@pytest.mark.parametrize(("args", "says"), [
    (["--client-token", ""], "chatroute: error: a client name is 1 to 64 printable characters"),
    (["--client-token", "ci", "--rotate-token"], "argument --rotate-token: not allowed with argument --client-token"),
    (["--host", "not a host"], "chatroute: error: --host 'not a host': not an IP address or a host name"),
], ids=["empty-client", "both-token-actions", "bad-host"])
def test_serve_refuses_what_it_cannot_do_instead_of_starting(args: list[str], says: str) -> None:
    done = run_subprocess("serve", "--port", "0", *args, timeout=20)
    err = done.stderr.decode()
    assert done.returncode == 2 and says in err and done.stdout == b"", err


def test_costs_since_a_future_date_is_bad_usage() -> None:
    done = run_subprocess("costs", "--since", "2099-01-01")
    assert done.returncode == 2
    assert done.stderr.decode() == ("chatroute: error: --since 2099-01-01: that date is in the future, "
                                    "so no turn can be counted\n")


def test_a_pool_entry_or_default_the_price_table_does_not_know_is_a_warning_with_close_names(
        chatroute_home: Path) -> None:
    (chatroute_home / "config.toml").write_text(
        '[providers.openai]\nkind = "openai"\napi_key_env = "X_KEY"\n\n'
        '[router]\npool = ["openai/gpt-4o-mini", "openai/gpt-4o-mni"]\ndefault = "openai/gpt4o"\n')
    for command in (["route", "hi"], ["models"]):
        done = run_subprocess(*command, env={"X_KEY": "sk-x"})
        err = done.stderr.decode()
        assert done.returncode == 0, err
        warnings = [line for line in err.splitlines() if line.startswith("chatroute: warning: ")]
        assert len(warnings) == 2, err
        assert warnings[0].startswith("chatroute: warning: router.pool: 'openai/gpt-4o-mni' is not in the price "
                                      "table for 'openai'; did you mean openai/gpt-4o-mini")
        assert warnings[1].startswith("chatroute: warning: router.default: 'openai/gpt4o' is not in the price "
                                      "table for 'openai'; did you mean openai/gpt-4o,")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("args", [["--help"], ["--version"], ["ask", "--help"]], ids=" ".join)
def test_help_and_version_onto_a_full_disk_are_one_error_line(args: list[str], buffered: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-m", "chatroute", *args], env=env, stdout=full,
                              stderr=subprocess.PIPE, timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err == "chatroute: error: cannot write the output: No space left on device\n"


def test_an_empty_chatroute_home_is_unset_and_help_says_so(tmp_path: Path) -> None:
    # The platform's folders, sent under tmp_path through XDG_*: not the current folder (Path("")).
    xdg = {"XDG_CONFIG_HOME": tmp_path / "config", "XDG_DATA_HOME": tmp_path / "data",
           "XDG_CACHE_HOME": tmp_path / "cache"}
    here = tmp_path / "here"
    here.mkdir()
    env = dict(os.environ, CHATROUTE_HOME="", **{k: str(v) for k, v in xdg.items()})
    done = subprocess.run([sys.executable, "-m", "chatroute", "costs"], env=env, cwd=here, capture_output=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert (xdg["XDG_DATA_HOME"] / "chatroute" / "chatroute.db").is_file()
    assert list(here.iterdir()) == []
    shown = " ".join(run_subprocess("--help").stdout.decode().split())
    assert "CHATROUTE_HOME keep config, database and caches under this folder (empty: the platform's folders" in shown


@pytest.mark.parametrize(("table", "says"), [
    ('capabilities = ["vision", "telepathy"]',
     ":2: models.\"openai/gpt-4o-mini\".capabilities: unknown capability 'telepathy' "
     "(known: function_calling, vision, prompt_caching, reasoning)"),
    ("context_window = 1000\nmax_output_tokens = 2000",
     ':3: models."openai/gpt-4o-mini".max_output_tokens: 2000 is more than context_window (1000)'),
], ids=["unknown-capability", "output-over-window"])
def test_a_model_table_that_cannot_hold_is_a_config_error(chatroute_home: Path, table: str, says: str) -> None:
    config = chatroute_home / "config.toml"
    config.write_text(f'[models."openai/gpt-4o-mini"]\n{table}\n')
    done = run_subprocess("models")
    err = done.stderr.decode()
    assert done.returncode == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"chatroute: error: {config}{says}"), err


def test_a_typo_in_the_pool_is_warned_once_never_suggesting_itself_and_rated_as_unknown(
        capsys: pytest.CaptureFixture[str], chatroute_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pool's first entry is also the default: the warning came twice, the second suggesting
    the typo for itself; and the typo was rated as the model its name begins with (gpt-4o-mni as
    gpt-4o, above the real gpt-4o-mini), so it took hard prompts."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    (chatroute_home / "config.toml").write_text(
        '[router]\npool = ["openai/gpt-4o-mni", "openai/gpt-4o-mini", "openai/o3-tiny"]\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "models", "--json")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "'openai/gpt-4o-mni' is not in the price table" in line]
    assert len(warnings) == 1 and "did you mean openai/gpt-4o-mini" in warnings[0]
    assert "did you mean openai/gpt-4o-mni" not in err
    rated = {m["id"]: (m["ability"], m["ability_source"]) for m in json.loads(out)["models"]}
    assert rated["openai/gpt-4o-mni"] == (0.30, "unknown") and rated["openai/o3-tiny"] == (0.20, "unknown")
    assert rated["openai/gpt-4o-mini"][1] == "leaderboard"


def test_an_unreadable_refreshed_price_table_is_said(capsys: pytest.CaptureFixture[str], chatroute_home: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    (chatroute_home / "prices.json").write_text("xx", encoding="utf-8")  # an edit gone wrong
    for args in (("prices", "show"), ("route", "hi")):
        code, out, err = run_cli(capsys, *args)
        assert code == 0, err
        assert "prices.json: the refreshed price table cannot be read; using the bundled prices" in err, args


def test_route_refuses_an_override_with_no_prompt_as_ask_does(capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    for command in ("route", "ask"):
        code, out, err = run_cli(capsys, command, "@gpt-4o")
        assert code == 2 and "the prompt is empty" in err, (command, err)


def _openai_and_anthropic(home: Path, monkeypatch: pytest.MonkeyPatch, router: str, *, openai_key: bool) -> None:
    """Both providers configured, ANTHROPIC_API_KEY unset (OPENAI_API_KEY too unless `openai_key`);
    `router` is the [router] table's body."""
    if openai_key:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    else:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    (home / "config.toml").write_text(
        '[providers.openai]\nkind = "openai"\n[providers.anthropic]\nkind = "anthropic"\n[router]\n' + router,
        encoding="utf-8")


def test_a_provider_without_its_key_is_left_out_of_routing(capsys: pytest.CaptureFixture[str],
                                                          chatroute_home: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """[providers.anthropic] configured, ANTHROPIC_API_KEY not set: routing picked Claude, the
    request failed before leaving and the turn rerouted, on every first turn of every process."""
    _openai_and_anthropic(chatroute_home, monkeypatch,
                          'pool = ["anthropic/claude-sonnet-4-5", "openai/gpt-4o-mini"]\npreset = "best"\n',
                          openai_key=True)
    code, out, err = run_cli(capsys, "route", "--json", "Prove that there are infinitely many primes.")
    assert code == 0, err
    decision = json.loads(out)
    assert decision["model"] == "openai/gpt-4o-mini"
    [claude] = [c for c in decision["candidates"] if c["model"] == "anthropic/claude-sonnet-4-5"]
    assert claude["excluded"] == "no API key: set ANTHROPIC_API_KEY"


def test_the_only_model_left_says_which_were_skipped_and_why(capsys: pytest.CaptureFixture[str],
                                                             chatroute_home: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """After a refused key or a spent quota every routed turn goes to what is left, and the reason
    said only "the only model available": the user could not tell a provider was out."""
    _openai_and_anthropic(chatroute_home, monkeypatch, 'pool = ["anthropic/claude-haiku-4-5", "openai/gpt-4o-mini"]\n',
                          openai_key=True)
    code, out, err = run_cli(capsys, "route", "--json", "What is the capital of Italy?")
    assert code == 0, err
    decision = json.loads(out)
    assert decision["why"] == "the only model available (claude-haiku-4-5 no API key)"
    assert decision["reason"].endswith("; skipped claude-haiku-4-5: no API key: set ANTHROPIC_API_KEY")


def test_a_default_whose_provider_has_no_key_is_no_last_resort(capsys: pytest.CaptureFixture[str],
                                                               chatroute_home: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """No key set at all: `route` named the default ("configured default") and `ask` then sent the
    turn to it, to fail before the request. Now both refuse at once, with the variable to set for
    each model, the default included."""
    _openai_and_anthropic(chatroute_home, monkeypatch,
                          'pool = ["anthropic/claude-haiku-4-5"]\ndefault = "openai/gpt-4o-mini"\n', openai_key=False)
    for command in ("route", "ask"):
        code, out, err = run_cli(capsys, command, "hi")
        assert code == 2, (command, out, err)
        assert "no API key: set ANTHROPIC_API_KEY" in err
        assert "gpt-4o-mini (the default): no API key: set OPENAI_API_KEY" in err


def _readme_section(title: str) -> str:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    return text[start:text.index("\n## ", start + 1)]


def test_the_readme_command_list_names_every_subcommand_and_option() -> None:
    """The README's Commands block is the manual's synopsis: an option `--help` shows and it does
    not (`ask --over-budget`, `route -c`, `serve --header-timeout`) was one the user never learnt of."""
    import argparse
    import re

    from chatroute.cli import _build_parser

    block = _readme_section("Commands").split("```")[1]
    missing = []

    def walk(parser: argparse.ArgumentParser, words: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    if not re.search(rf"[ |]{name}\b", block):  # `prefs show|reset` names both
                        missing.append(" ".join([*words, name]))
                    walk(child, [*words, name])
            elif action.option_strings and action.dest not in ("help", "version"):
                if not any(opt in block for opt in action.option_strings):
                    missing.append(f"{' '.join(words)} {action.option_strings[-1]}")

    walk(_build_parser(), ["chatroute"])
    assert missing == []


def test_help_names_every_environment_variable_the_readme_lists() -> None:
    import re

    table = _readme_section("Configuration").split("Environment variables:")[1].split("\n\n")[1]
    names = set(re.findall(r"`([A-Z][A-Z_]+)", table))
    assert "CHATROUTE_PRESET" in names  # the table was found
    shown = run_subprocess("--help").stdout.decode()
    assert sorted(n for n in names if n not in shown) == []


@pytest.mark.parametrize(("value", "shows_traceback"), [("1", True), ("0", False), ("", False), ("no", False)])
def test_chatroute_debug_0_is_off(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                  value: str, shows_traceback: bool) -> None:
    """README: `CHATROUTE_DEBUG=1` shows an internal error's traceback. Any value at all did, so
    CHATROUTE_DEBUG=0, set to turn it off, raised the traceback instead of the one line, exit 70."""
    import chatroute.commands.prefs

    def boom(args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(chatroute.commands.prefs, "run", boom)
    monkeypatch.setenv("CHATROUTE_DEBUG", value)
    if shows_traceback:
        with pytest.raises(RuntimeError, match="boom"):
            run_cli(capsys, "prefs", "show")
        return
    code, _, err = run_cli(capsys, "prefs", "show")
    assert code == 70 and err.startswith("chatroute: internal error: RuntimeError: boom; this is a bug"), err


@pytest.mark.parametrize("args", [["ask", "-m", "", "hi"], ["ask", "--model", " ", "hi"],
                                  ["costs", "--baseline", ""], ["costs", "--baseline", "  "]],
                         ids=["ask -m ''", "ask --model ' '", "costs --baseline ''", "costs --baseline ' '"])
def test_an_empty_model_name_is_bad_usage_not_the_default(capsys: pytest.CaptureFixture[str],
                                                          configured: FakeServer, args: list[str]) -> None:  # noqa: F811
    """`-m "$MODEL"` with MODEL unset asked the router's pick (and paid for it), and `--baseline ""` priced
    against ui.baseline_model, both without a word: an empty name is a mistake to say, as `--from ""` is."""
    code, out, err = run_cli(capsys, *args)
    assert code == 2, err
    assert out == ""
    option = "-m" if args[0] == "ask" else "--baseline"
    assert err.startswith(f"chatroute: error: {option} is empty: "), err
    assert len(err.splitlines()) == 1
    assert not configured.requests
