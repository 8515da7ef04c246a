"""The token's life (made on first start, private, shown once, rotated, per client) and where
the server may listen."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from chatroute.serve.tokens import TOKEN_FILE
from tests.fakeserver import FakeServer
from tests.serve.conftest import ROOT, Served, serve_env, start_capped, start_served


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatroute", "serve", *args], cwd=ROOT, env=serve_env(home),
                          capture_output=True, text=True, timeout=60)


def _ask(client: openai.OpenAI, prompt: str) -> str:
    done = client.chat.completions.create(model="chatroute/auto", messages=[{"role": "user", "content": prompt}])
    return done.model_extra["chatroute"]["turn_id"]


@pytest.mark.usefixtures("open_umask")
def test_token_made_on_first_start_private_shown_once_and_rotatable(tmp_path: Path, fake_server: FakeServer) -> None:
    home = tmp_path / "home"
    first = start_served(home, fake_server)
    try:
        assert first.token.startswith("crt-")
        path = home / TOKEN_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        _ask(first.client(), "first token works")
        # A second start reuses the token and does not print it again.
        first.stop()
        second = start_served(home, fake_server)
        assert second.token == "" and not any("crt-" in line for line in second.stderr)
        second.token = first.token
        _ask(second.client(), "same token after a restart")

        rotated = _cli(home, "--rotate-token")
        assert rotated.returncode == 0, rotated.stderr
        new = rotated.stdout.strip()
        assert new.startswith("crt-") and new != first.token
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        # The running server takes the rotation at once: the old token is refused.
        with pytest.raises(openai.AuthenticationError):
            _ask(second.client(), "old token after rotation")
        _ask(second.client(token=new), "new token after rotation")
    finally:
        first.stop()
        if "second" in locals():
            second.stop()


def test_a_client_token_names_its_requests_in_the_ledger(fresh: Served) -> None:
    made = _cli(fresh.home, "--client-token", "my-editor")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    turn = fresh.turn(_ask(fresh.client(token=token), "from the editor"))
    assert turn.client == "my-editor"
    # The main token still works, and then the User-Agent names the client.
    turn = fresh.turn(_ask(fresh.client(default_headers={"User-Agent": "llm/0.19 (python)"}), "from llm"))
    assert turn.client == "llm"


def test_a_web_page_on_another_origin_cannot_spend_through_it(fresh: Served) -> None:
    """A browser asks first (a CORS preflight, without the token) before it sends a request with
    an Authorization or x-api-key header across origins: that is refused, with nothing allowing the
    origin, so the page's request never leaves the browser. A request a page can send without
    asking (no custom header) has no token and is refused too."""
    origin = {"origin": "http://evil.example"}
    for path, header in (("/chat/completions", "authorization,content-type"),
                         ("/messages", "x-api-key,anthropic-version,content-type")):
        preflight = httpx.options(fresh.url + path, headers={
            **origin, "access-control-request-method": "POST", "access-control-request-headers": header})
        assert preflight.status_code == 401
        assert not [h for h in preflight.headers if h.lower().startswith("access-control-allow")]
    simple = httpx.post(fresh.url + "/chat/completions", headers={**origin, "content-type": "text/plain"},
                        content='{"model": "chatroute/auto", "messages": [{"role": "user", "content": "spend"}]}')
    assert simple.status_code == 401 and "access-control-allow-origin" not in simple.headers
    assert not fresh.fake.requests


def test_non_loopback_needs_an_explicit_flag(tmp_path: Path) -> None:
    refused = _cli(tmp_path, "--host", "0.0.0.0", "--port", "0")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "--allow-remote" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / TOKEN_FILE).exists()


def test_non_loopback_with_the_flag_warns(tmp_path: Path, fake_server: FakeServer) -> None:
    server = start_served(tmp_path / "home", fake_server, "--host", "0.0.0.0", "--allow-remote")
    try:
        assert any("warning" in line and "0.0.0.0" in line for line in server.stderr)
    finally:
        assert server.stop() == 0


def test_a_busy_port_is_one_line_exit_2(tmp_path: Path, served: Served) -> None:
    port = served.url.split(":")[-1].split("/")[0]
    out = _cli(tmp_path, "--port", port)
    assert out.returncode == 2 and out.stderr.startswith("chatroute: error: cannot listen on")
    assert "Traceback" not in out.stderr


def test_past_the_budget_cap_a_routed_request_is_refused_and_a_pinned_one_goes(tmp_path: Path,
                                                                               fake_server: FakeServer) -> None:
    from tests.fakeserver import Reply

    server = start_capped(tmp_path, fake_server)
    try:
        fake_server.script("gpt-4o", Reply(text="expensive", input_tokens=200_000, output_tokens=10_000))
        client = server.client()
        client.chat.completions.create(model="openai/gpt-4o", messages=[{"role": "user", "content": "spend it"}])
        sent = len(fake_server.requests)
        with pytest.raises(openai.RateLimitError) as info:
            _ask(client, "routed past the cap")
        assert info.value.body["code"] == "insufficient_quota" and "budget" in info.value.body["message"]
        # The OpenAI and Anthropic SDKs retried it twice (no retry lifts a cap) until stop 49.
        assert info.value.response.headers.get("x-should-retry") == "false"
        assert len(fake_server.requests) == sent
        pinned = client.chat.completions.create(model="openai/gpt-4o-mini",
                                                messages=[{"role": "user", "content": "pinned past the cap"}])
        assert pinned.model_extra["chatroute"]["route_kind"] == "pinned"
    finally:
        server.stop()


def test_client_tokens_made_at_once_all_work(tmp_path: Path) -> None:
    """Eight `serve --client-token NAME` at once: each printed its token "shown once", and the
    run that wrote the file last dropped the others' (3 to 5 of 8 were then refused)."""
    from chatroute.serve.tokens import load_tokens

    home = tmp_path / "home"  # made by the fixtures beside tmp_path (chatroute_home)
    home.mkdir(exist_ok=True)
    runs = [subprocess.Popen([sys.executable, "-m", "chatroute", "serve", "--client-token", f"tool-{i}"], cwd=ROOT,
                             env=serve_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(8)]
    printed = {}
    for i, run in enumerate(runs):
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
        [token] = [w for w in out.split() if w.startswith("crt-")]
        printed[f"tool-{i}"] = token
    tokens = load_tokens(home)
    assert tokens is not None and tokens.clients == printed
