"""The shared classification: Retry-After parsing, message scrubbing, status/wording -> kind."""

from __future__ import annotations

import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path

import pytest

from chatroute.providers import ErrorKind
from chatroute.providers.errors import classify_status, map_exception, parse_reset, parse_retry_after, scrub

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the precise header wins
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-3"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("7.66s", 7.66), ("2m59.56s", 179.56), ("6m0s", 360.0), ("20ms", 0.02), ("1h", 3600.0), ("9h", 3600.0),
    ("", None), (None, None), ("soon", None), ("5 s", None), ("12", None),
])
def test_parse_reset(value: str | None, expected: float | None) -> None:
    assert parse_reset(value) == (pytest.approx(expected) if expected is not None else None)


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after({"retry-after": formatdate(now + 120, usegmt=True)}, now=now) == pytest.approx(120)
    assert parse_retry_after({"retry-after": formatdate(now - 120, usegmt=True)}, now=now) == 0.0


def test_scrub_one_line_no_secrets_bounded() -> None:
    key = "my-very-secret-key-123"
    text = scrub(f"bad key {key}\nline two sk-proj-abcDEF123456 and Bearer abc.def.ghi123", [key, None])
    assert "\n" not in text and key not in text and "sk-proj" not in text and "abc.def" not in text
    assert text.startswith("bad key *** line two ***")
    assert len(scrub("x" * 5000)) <= 300


@pytest.mark.parametrize(
    ("status", "etype", "code", "message", "kind"),
    [
        (429, "rate_limit_error", "", "slow down", ErrorKind.RATE_LIMITED),
        (529, "overloaded_error", "", "Overloaded", ErrorKind.OVERLOADED),
        (503, "", "", "The engine is currently overloaded", ErrorKind.OVERLOADED),
        (498, "capacity_exceeded", "capacity_exceeded", "Flex tier capacity exceeded", ErrorKind.OVERLOADED),
        (500, "api_error", "", "boom", ErrorKind.SERVER),
        (503, "", "", "unavailable", ErrorKind.SERVER),
        (401, "", "invalid_api_key", "bad", ErrorKind.AUTH),
        (403, "", "", "forbidden", ErrorKind.AUTH),
        (402, "", "", "Insufficient credits", ErrorKind.QUOTA),
        (402, "", "402", "This request requires more credits, or fewer max_tokens. You requested up to 16384 tokens, "
         "but can only afford 3021.", ErrorKind.CREDIT_LIMITED),
        (402, "", "402", "This request requires more credits, or fewer max_tokens. You requested up to 32000 tokens, "
         "but can only afford 0.", ErrorKind.QUOTA),
        (402, "", "402", "max_tokens limit exceeded: 100000 > 9577", ErrorKind.CREDIT_LIMITED),
        (402, "", "402", "max_tokens limit exceeded: 100000 > 0", ErrorKind.QUOTA),
        (402, "", "402", "Prompt tokens limit exceeded: 230799 > 91442. To increase, visit "
         "https://openrouter.ai/settings/keys and create a key with a higher monthly limit", ErrorKind.CREDIT_LIMITED),
        (402, "", "402", "Prompt tokens limit exceeded: 4245 > 0.", ErrorKind.QUOTA),
        (413, "tokens", "rate_limit_exceeded", "Request too large for model `llama-3.3-70b-versatile` on tokens "
         "per minute (TPM): Limit 6000, Requested 9000, please reduce your message size", ErrorKind.REQUEST_TOO_LARGE),
        (429, "insufficient_quota", "insufficient_quota", "You exceeded your current quota", ErrorKind.QUOTA),
        (400, "invalid_request_error", "", "Your credit balance is too low to access the Anthropic API",
         ErrorKind.QUOTA),
        (None, "insufficient_quota", "", "quota", ErrorKind.QUOTA),
        (404, "", "model_not_found", "nope", ErrorKind.NOT_FOUND),
        (408, "", "", "timeout", ErrorKind.TIMEOUT),
        (400, "", "context_length_exceeded", "too long", ErrorKind.CONTEXT_OVERFLOW),
        (400, "invalid_request_error", "", "prompt is too long: 201000 tokens > 200000 maximum",
         ErrorKind.CONTEXT_OVERFLOW),
        (400, "", "", "input length and `max_tokens` exceed context limit: 199000 + 4096 > 200000",
         ErrorKind.CONTEXT_OVERFLOW),
        (413, "request_too_large", "", "Request exceeds the maximum allowed number of bytes",
         ErrorKind.CONTEXT_OVERFLOW),
        (413, "tokens", "rate_limit_exceeded", "Request too large for model `llama-3.3-70b-versatile` in "
         "organization `org_1` on tokens per minute (TPM): Limit 6000, Used 4100, Requested 3810",
         ErrorKind.RATE_LIMITED),
        (400, "", "content_policy_violation", "rejected by our safety system", ErrorKind.CONTENT_POLICY),
        (400, "", "content_filter", "filtered", ErrorKind.CONTENT_POLICY),
        (400, "", "", "messages: roles must alternate", ErrorKind.BAD_REQUEST),
        (422, "", "", "field required", ErrorKind.BAD_REQUEST),
        (None, "overloaded_error", "", "Overloaded", ErrorKind.OVERLOADED),
        (None, "api_error", "", "Internal", ErrorKind.SERVER),
        (None, "rate_limit_error", "", "slow", ErrorKind.RATE_LIMITED),
    ],
)
def test_classify_status(status: int | None, etype: str, code: str, message: str, kind: ErrorKind) -> None:
    assert classify_status(status, etype, code, message) is kind


def test_map_plain_exceptions() -> None:
    assert map_exception(TimeoutError()).kind is ErrorKind.TIMEOUT
    assert map_exception(ConnectionResetError("reset")).kind is ErrorKind.CONNECTION
    assert map_exception(ValueError("Expecting value")).kind is ErrorKind.MALFORMED_STREAM
    err = map_exception(RuntimeError("weird sk-abcdef1234567890"), provider="p", model="m")
    assert err.kind is ErrorKind.SERVER and "sk-abc" not in err.message
    assert (err.provider, err.model) == ("p", "m")


def test_import_providers_does_not_import_sdks() -> None:
    code = (
        "import sys, chatroute.providers, chatroute.providers.errors, chatroute.providers.factory;"
        "bad = [m for m in ('openai', 'anthropic', 'httpx2') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_fakeserver_cli_prints_url() -> None:
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "tests.fakeserver", "--port", "0", "--n-tokens", "3"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v1/models", timeout=5) as resp:
                    assert b"fake-model" in resp.read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
