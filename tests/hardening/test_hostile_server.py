"""A server that is not the API it claims to be, through the real SDKs and
the `chatroute ask` entry point: a 200 with an HTML page, a redirect to another origin (which
would re-send the prompt and, for Anthropic, the key), and a redirect within the same origin."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.helpers import run_cli, write_config
from tests.fakeserver import FakeServer, Raw, Reply

TARGET = {"openai": "openai/gpt-4o-mini", "anthropic": "anthropic/claude-haiku-4-5"}
LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please log in</body></html>"


def _error_lines(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("chatroute: error:")]


def _endpoint(server: FakeServer, wire: str) -> str:
    return f"{server.openai_base_url}/chat/completions" if wire == "openai" else f"{server.url}/v1/messages"


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_html_page_with_200_is_named_as_such(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                            wire: str) -> None:
    model = TARGET[wire]
    configured.script(model.split("/")[1], Raw(body=LOGIN_PAGE))
    code, out, err = run_cli(capsys, "ask", "-m", model, "hello")
    [line] = _error_lines(err)
    assert code == 1 and out.strip() == ""
    assert "returned an HTML page, not an API response" in line and "base_url" in line, line
    assert "stream ended" not in line


def test_html_page_on_a_routed_turn_fails_over(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                               chatroute_home: Path) -> None:
    # The router's favourite answers with a login page; the other model is the fallback.
    write_config(chatroute_home, configured, pool=["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"],
                 extra='[models."openai/gpt-4o-mini"]\nability = 0.99\n'
                       '[models."anthropic/claude-haiku-4-5"]\nability = 0.01\n')
    configured.script("gpt-4o-mini", Raw(body=LOGIN_PAGE))
    configured.script("claude-haiku-4-5", Reply(text="answered elsewhere"))
    code, out, err = run_cli(capsys, "ask", "hello there")
    assert code == 0, err
    assert out.strip() == "answered elsewhere"
    assert "gpt-4o-mini server → claude-haiku-4-5" in err, err
    assert len(configured.requests_for("gpt-4o-mini")) == 1


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_redirect_to_another_origin_is_not_followed(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                   wire: str) -> None:
    model = TARGET[wire]
    with FakeServer() as elsewhere:
        configured.script(model.split("/")[1], Raw(status=307, headers={"location": _endpoint(elsewhere, wire)},
                                                   body=b"", content_type="text/plain"))
        code, out, err = run_cli(capsys, "ask", "-m", model, "a private prompt that must stay here")
        assert elsewhere.requests == []  # neither the prompt nor the key went there
    [line] = _error_lines(err)
    assert code == 1
    assert "redirected the request to http://127.0.0.1:" in line and "not followed" in line, line
    assert "private prompt" not in err


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_redirect_within_the_same_origin_is_followed(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                    wire: str) -> None:
    model = TARGET[wire]
    name = model.split("/")[1]
    configured.script(name, Raw(status=307, headers={"location": _endpoint(configured, wire)}, body=b"",
                                content_type="text/plain"),
                      Reply(text="moved but answered"))
    code, out, err = run_cli(capsys, "ask", "-m", model, "hello")
    assert code == 0, err
    assert out.strip() == "moved but answered"
    assert len(configured.requests_for(name)) == 2


def test_html_error_page_is_named(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                  chatroute_home: Path) -> None:
    configured.script("gpt-4o-mini", Raw(status=404, body=LOGIN_PAGE))
    code, _, err = run_cli(capsys, "ask", "-m", "openai/gpt-4o-mini", "hello")
    [line] = _error_lines(err)
    # A page where the API should be is the base_url's to fix: exit 2, as a refused key.
    assert code == 2 and "HTML page" in line and "<html" not in line.lower(), line
