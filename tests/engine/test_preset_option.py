"""`ask --preset` and `route --preset`: one turn routed with another preset than the config's,
without editing it or setting CHATROUTE_PRESET."""

from __future__ import annotations

import json

import pytest

from tests.engine.helpers import ask_json, run_cli
from tests.fakeserver import FakeServer, Reply

pytestmark = pytest.mark.usefixtures("configured")

# A request the router reads as needing a strong model: `best` and `frugal` part ways on it.
HARD = ("Prove that the halting problem is undecidable, then explain step by step why Rice's theorem "
        "follows from it, with a rigorous reduction.")


def _route(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    code, out, err = run_cli(capsys, "route", "--json", *args, HARD)
    assert code == 0, err
    decision: dict[str, object] = json.loads(out)
    return decision


def test_route_preset_decides_with_the_preset_named(capsys: pytest.CaptureFixture[str]) -> None:
    default = _route(capsys)
    best = _route(capsys, "--preset", "best")
    frugal = _route(capsys, "--preset", "frugal")
    assert (default["preset"], best["preset"], frugal["preset"]) == ("balanced", "best", "frugal")
    assert best["model"] != frugal["model"]  # else the option changed nothing a user can see


def test_the_option_wins_over_the_environment(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATROUTE_PRESET", "frugal")
    assert _route(capsys)["preset"] == "frugal"
    assert _route(capsys, "--preset", "best")["preset"] == "best"


def test_ask_preset_sends_the_turn_where_that_preset_routes_it(capsys: pytest.CaptureFixture[str],
                                                               configured: FakeServer) -> None:
    expected = str(_route(capsys, "--preset", "best")["model"])
    configured.script(expected.split("/", 1)[1], Reply(text="a careful proof"))
    code, out = ask_json(capsys, "--no-cache", "--preset", "best", HARD)
    assert code == 0, out
    assert out["model"] == expected
    assert out["text"] == "a careful proof"
    assert len(configured.requests_for(expected.split("/", 1)[1])) == 1


@pytest.mark.parametrize("command", ["ask", "route"])
def test_an_unknown_preset_is_a_usage_error(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit) as exited:  # argparse's own exit, as for any bad option
        run_cli(capsys, command, "--preset", "turbo", "hello")
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert "invalid choice: 'turbo'" in err and "frugal" in err and "Traceback" not in err
    assert out == ""
