"""Connection and body limits, driven with raw sockets: clients that send their headers a byte
at a time and never finish (slowloris), idle kept-alive connections, more connections than the
cap, and chunked bodies past the 16 MB limit. A well-behaved client is served throughout."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakeserver import FakeServer, Reply
from tests.serve.conftest import Served, start_served

HEADER_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    fake = FakeServer().start()
    server = start_served(tmp_path_factory.mktemp("limits") / "home", fake,
                          "--header-timeout", str(HEADER_TIMEOUT), "--max-connections", "8")
    try:
        yield server
    finally:
        server.stop()
        fake.stop()


def _address(served: Served) -> tuple[str, int]:
    hostport = served.url.split("//", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    return host, int(port)


def _connect(served: Served) -> socket.socket:
    return socket.create_connection(_address(served), timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closed `sock` within `seconds`, and what it sent before."""
    sock.settimeout(seconds)
    got = b""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            piece = sock.recv(65536)
            if not piece:
                return True, got
            got += piece
    except TimeoutError:
        return False, got
    except ConnectionError:
        return True, got
    return False, got


def _request(served: Served, prompt: str) -> bytes:
    body = json.dumps({"model": "chatroute/auto", "messages": [{"role": "user", "content": prompt}]}).encode()
    return (b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            b"authorization: Bearer " + served.token.encode() + b"\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def _read_response(sock: socket.socket, timeout: float = 30) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(rest) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        rest += piece
    return head + b"\r\n\r\n" + rest


def test_headers_trickled_byte_by_byte_are_cut_off_at_the_deadline(limited: Served) -> None:
    # On main nothing ever closed these: each held a connection for as long as it kept trickling.
    stop = threading.Event()
    held: list[dict[str, float]] = []

    def trickle(sock: socket.socket) -> None:
        head = _request(limited, "never finished").split(b"\r\n\r\n")[0]
        for byte in head:  # ~10 s at this pace, far past the deadline
            if stop.wait(0.05):
                return
            try:
                sock.send(bytes([byte]))
            except OSError:
                return

    def watch(sock: socket.socket, times: dict[str, float]) -> None:
        # When the server closed it, measured here so that a slow request below cannot blur it.
        closed, sent = _closed_within(sock, HEADER_TIMEOUT + 10.0)
        if closed:
            times["closed"] = time.monotonic()
            times["408"] = float(sent == b"" or sent.startswith(b"HTTP/1.1 408"))

    socks, threads = [], []
    for _ in range(3):
        sock = _connect(limited)
        held.append({"started": time.monotonic()})
        socks.append(sock)
        for target, args in ((trickle, (sock,)), (watch, (sock, held[-1]))):
            threads.append(threading.Thread(target=target, args=args, daemon=True))
            threads[-1].start()
    try:
        # Meanwhile a well-behaved client is answered.
        done = limited.client().chat.completions.create(
            model="chatroute/auto", messages=[{"role": "user", "content": "served while others trickle"}])
        assert done.choices[0].message.content
        for t in threads:
            t.join(HEADER_TIMEOUT + 12.0)
        for times in held:
            assert "closed" in times, "a connection trickling its headers was still open past the deadline"
            assert HEADER_TIMEOUT * 0.8 <= times["closed"] - times["started"] < HEADER_TIMEOUT + 2.0
            assert times["408"]
    finally:
        stop.set()
        for sock in socks:
            sock.close()


def test_a_silent_connection_is_closed_at_the_deadline(limited: Served) -> None:
    sock = _connect(limited)
    try:
        started = time.monotonic()
        closed, sent = _closed_within(sock, HEADER_TIMEOUT + 2.0)
        assert closed and sent.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started >= HEADER_TIMEOUT * 0.8
    finally:
        sock.close()


def test_headers_without_end_are_a_431_not_the_servers_memory(limited: Served) -> None:
    # On main (and with the deadline alone) every header line was kept: 1.4 GB in 8 s on loopback.
    sock = _connect(limited)
    sent = 0
    stop = threading.Event()

    def send_headers() -> None:
        nonlocal sent
        line = b"x-pad: " + b"a" * 4096 + b"\r\n"
        try:
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: 127.0.0.1\r\n")
            while not stop.is_set() and sent < 256 * (1 << 20):
                sock.sendall(line)
                sent += len(line)
        except OSError:
            pass

    sender = threading.Thread(target=send_headers, daemon=True)
    sender.start()
    try:
        answer = _read_response(sock, timeout=HEADER_TIMEOUT + 5)
        at_answer = sent
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
        assert at_answer < 16 * (1 << 20)
    finally:
        stop.set()
        sock.close()
        sender.join(10)


def test_one_long_header_line_is_a_431_too(limited: Served) -> None:
    # httptools keeps an unfinished header line where no callback sees it: the bound is on bytes.
    sock = _connect(limited)
    try:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: 127.0.0.1\r\nx-pad: " + b"a" * (200 * 1024))
        assert _read_response(sock).startswith(b"HTTP/1.1 431")
    finally:
        sock.close()


def test_ordinary_large_headers_are_fine(limited: Served) -> None:
    sock = _connect(limited)
    try:
        sock.sendall(_request(limited, "big headers").replace(b"host: 127.0.0.1\r\n",
                                                               b"host: 127.0.0.1\r\nx-pad: " + b"a" * 30_000
                                                               + b"\r\n"))
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
    finally:
        sock.close()


def test_a_kept_alive_connection_serves_requests_then_closes_when_idle(limited: Served) -> None:
    sock = _connect(limited)
    try:
        for i in range(2):  # two requests on one connection, each within the header deadline
            sock.sendall(_request(limited, f"kept alive {i}"))
            assert _read_response(sock).startswith(b"HTTP/1.1 200"), i
        started = time.monotonic()
        closed, sent = _closed_within(sock, HEADER_TIMEOUT + 2.0)  # keep-alive: min(5 s, the header deadline)
        assert closed and sent == b""
        assert time.monotonic() - started < HEADER_TIMEOUT + 2.0
    finally:
        sock.close()


def _post(served: Served, path: bytes, body: dict[str, object]) -> bytes:
    raw = json.dumps(body).encode()
    return (b"POST " + path + b" HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer " + served.token.encode()
            + b"\r\ncontent-type: application/json\r\ncontent-length: " + str(len(raw)).encode() + b"\r\n\r\n" + raw)


def _chat(served: Served, prompt: str) -> bytes:
    return _post(served, b"/v1/chat/completions",
                 {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]})


def _exchange_all(socks: list[socket.socket], requests: list[bytes]) -> list[bytes]:
    """Each request sent on its own (already open) connection at once; the responses, in order."""
    out: list[bytes] = [b""] * len(socks)

    def one(i: int) -> None:
        socks[i].sendall(requests[i])
        out[i] = _read_response(socks[i])

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(socks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _busy_503(response: bytes) -> dict[str, object]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), head
    assert b"retry-after: 1" in head.lower()
    parsed: dict[str, object] = json.loads(body)
    return parsed


def test_a_burst_past_max_connections_serves_the_first_ones_and_refuses_the_rest(limited: Served) -> None:
    # Before, uvicorn's limit counted open connections: with 12 open at once (the cap is 8) every
    # request was a 503, the first 8 too.
    limited.fake.script("gpt-4o-mini", *[Reply(text="slow enough to overlap", ttft=1.5) for _ in range(12)])
    socks = [_connect(limited) for _ in range(12)]
    try:
        # Every request's headers but their last line end, then those all at once: a burst, as
        # an async client's requests arrive (sent one by one, each refusal closed its connection
        # before the next came, which hid it).
        requests = [_chat(limited, f"burst {i}").partition(b"\r\n\r\n") for i in range(12)]
        for sock, (head, _, _) in zip(socks, requests, strict=True):
            sock.sendall(head + b"\r\n")
        time.sleep(0.3)
        for sock, (_, _, body) in zip(socks, requests, strict=True):
            sock.sendall(b"\r\n" + body)
        answers = [_read_response(sock) for sock in socks]
    finally:
        for s in socks:
            s.close()
        limited.fake.reset()
    statuses = sorted(a.split(b" ", 2)[1].decode() for a in answers)
    assert statuses == ["200"] * 8 + ["503"] * 4, statuses
    for a in answers:
        if a.startswith(b"HTTP/1.1 503"):
            assert _busy_503(a)["error"] == {  # OpenAI's shape, not uvicorn's plain text
                "message": "chatroute serve is at its limit of requests at once (--max-connections); retry shortly",
                "type": "server_error", "param": None, "code": "too_many_connections"}


def test_idle_connections_past_max_connections_refuse_nobody(limited: Served) -> None:
    # Before, 8 idle connections (an HTTP client's kept-alive pool) were enough to refuse everyone.
    idle = [_connect(limited) for _ in range(10)]
    try:
        time.sleep(0.2)  # all accepted
        sock = _connect(limited)
        try:
            sock.sendall(_chat(limited, "past idle connections"))
            assert _read_response(sock).startswith(b"HTTP/1.1 200")
        finally:
            sock.close()
    finally:
        for s in idle:
            s.close()


def test_beyond_max_connections_requests_in_progress_a_request_gets_a_503(limited: Served) -> None:
    release = threading.Event()
    limited.fake.script("gpt-4o-mini", *[Reply(text="holding a place", hold=release) for _ in range(8)])
    before = len(limited.fake.requests)
    held = [_connect(limited) for _ in range(8)]  # the cap: 8 requests in progress
    holders = threading.Thread(target=_exchange_all, args=(held, [_chat(limited, f"held {i}") for i in range(8)]),
                               daemon=True)
    holders.start()
    try:
        # All 8 running, waiting for their first token until released: the provider has every
        # one (a sleep of 1 s, with 3 s of hold, was outlasted on a loaded machine either way).
        deadline = time.monotonic() + 30
        while len(limited.fake.requests) < before + 8:
            assert time.monotonic() < deadline, "the 8 held requests never reached the provider"
            time.sleep(0.02)
        chat, messages = _connect(limited), _connect(limited)
        try:
            answers = _exchange_all([chat, messages], [
                _chat(limited, "one too many"),
                _post(limited, b"/v1/messages", {"model": "openai/gpt-4o-mini", "max_tokens": 50,
                                                 "messages": [{"role": "user", "content": "one too many"}]})])
        finally:
            chat.close()
            messages.close()
        assert _busy_503(answers[0])["error"]["code"] == "too_many_connections"  # type: ignore[index]
        body = _busy_503(answers[1])  # Anthropic's shape on /v1/messages, so its SDK raises its own class
        assert body["type"] == "error" and body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    finally:
        release.set()
        holders.join(30)
        for s in held:
            s.close()
        limited.fake.reset()
    # Once they are done, requests are served again.
    sock = _connect(limited)
    try:
        sock.sendall(_request(limited, "room again"))
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
    finally:
        sock.close()


def test_a_chunked_body_past_the_limit_is_a_413_before_it_ends(limited: Served) -> None:
    # On main only Content-Length was checked: a chunked body was buffered whole, however large.
    sock = _connect(limited)
    sent = 0
    stop = threading.Event()

    def send_forever() -> None:
        nonlocal sent
        piece = b"x" * (1 << 20)
        chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
        try:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                         b"authorization: Bearer " + limited.token.encode() + b"\r\n"
                         b"content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
            while not stop.is_set() and sent < 200 * (1 << 20):
                sock.sendall(chunk)
                sent += len(piece)
        except OSError:
            pass

    sender = threading.Thread(target=send_forever, daemon=True)
    sender.start()
    try:
        answer = _read_response(sock, timeout=60)
        at_answer = sent
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"request_too_large" in answer and b"connection: close" in answer.lower()
        assert at_answer < 64 * (1 << 20), "the server read far past the limit before answering"
    finally:
        stop.set()
        sock.close()
        sender.join(10)
    # The server goes on serving.
    done = limited.client().chat.completions.create(
        model="chatroute/auto", messages=[{"role": "user", "content": "after the big body"}])
    assert done.choices[0].message.content


def test_a_wrong_token_closes_the_connection(limited: Served) -> None:
    # On main the 401 kept the connection alive, reading (and dropping) whatever body followed.
    sock = _connect(limited)
    try:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                     b"authorization: Bearer crt-wrong\r\ntransfer-encoding: chunked\r\n\r\n"
                     b"4\r\nabcd\r\n")
        answer = _read_response(sock)
        assert answer.startswith(b"HTTP/1.1 401") and b"connection: close" in answer.lower()
        closed, _ = _closed_within(sock, 2.0)
        assert closed
    finally:
        sock.close()


def test_a_content_length_past_the_limit_is_still_a_413(limited: Served) -> None:
    sock = _connect(limited)
    try:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                     b"authorization: Bearer " + limited.token.encode() + b"\r\n"
                     b"content-type: application/json\r\ncontent-length: 999999999999\r\n\r\n{")
        assert _read_response(sock).startswith(b"HTTP/1.1 413")
    finally:
        sock.close()


def test_limit_options_are_checked(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.serve.conftest import ROOT, serve_env

    for args in (["--header-timeout", "0"], ["--header-timeout", "nan"], ["--max-connections", "0"],
                 ["--shutdown-grace", "-1"]):
        out = subprocess.run([sys.executable, "-m", "chatroute", "serve", "--port", "0", *args], cwd=ROOT,
                             env=serve_env(tmp_path), capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and args[0] in out.stderr, out.stderr


def test_a_body_trickled_in_is_a_408_at_its_deadline(limited: Served) -> None:
    """With a valid token, the body a byte at a time: past 3 × the header timeout a 408, and the
    connection closes. (Before, only --max-connections bounded such clients.)"""
    request = _request(limited, "slow body")
    head, _, body = request.partition(b"\r\n\r\n")
    sock = _connect(limited)
    stop = threading.Event()

    def trickle() -> None:
        try:
            for byte in body:
                if stop.wait(0.3):
                    return
                sock.sendall(bytes([byte]))
        except OSError:
            return  # closed by the server: what is expected

    try:
        started = time.monotonic()
        sock.sendall(head + b"\r\n\r\n")
        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        answer = _read_response(sock, timeout=3 * HEADER_TIMEOUT + 10)
        took = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"connection: close" in answer.lower() and b"request_timeout" in answer
        assert 3 * HEADER_TIMEOUT - 0.5 < took < 3 * HEADER_TIMEOUT + 8
        closed, _ = _closed_within(sock, 3.0)
        assert closed
    finally:
        stop.set()
        sock.close()
    done = limited.client().chat.completions.create(
        model="chatroute/auto", messages=[{"role": "user", "content": "after the slow body"}])
    assert done.choices[0].message.content


def _body(response: bytes) -> dict[str, object]:
    return json.loads(response.partition(b"\r\n\r\n")[2])


def test_a_431_on_the_messages_endpoint_comes_in_anthropics_shape(limited: Served) -> None:
    """Written below the app, it came in OpenAI's shape on every path: an Anthropic client got
    `{"error": {..., "code": ...}}` where it reads `{"type": "error", "error": {"type", "message"}}`."""
    import anthropic
    import openai

    client = anthropic.Anthropic(base_url=limited.url.removesuffix("/v1"), api_key=limited.token, max_retries=0,
                                 timeout=30, default_headers={"x-pad": "a" * 1_000_000})
    with pytest.raises(anthropic.RequestHeaderFieldsTooLargeError) as refused:
        client.messages.create(model="chatroute/auto", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert refused.value.body == {"type": "error", "error": {
        "type": "invalid_request_error", "message": "the request line and headers are larger than 64 KB"}}
    assert refused.value.type == "invalid_request_error"
    # OpenAI's endpoint keeps OpenAI's shape.
    oa = openai.OpenAI(base_url=limited.url, api_key=limited.token, max_retries=0, timeout=30,
                       default_headers={"x-pad": "a" * 1_000_000})
    with pytest.raises(openai.APIStatusError) as too_large:
        oa.chat.completions.create(model="chatroute/auto", messages=[{"role": "user", "content": "hi"}])
    assert too_large.value.status_code == 431
    assert too_large.value.body == {"message": "the request line and headers are larger than 64 KB",
                                    "type": "invalid_request_error", "param": None,
                                    "code": "request_header_fields_too_large"}


@pytest.mark.parametrize("path", [b"/v1/messages", b"/v1/messages/count_tokens", b"/v1/chat/completions"])
def test_a_408_for_headers_that_never_end_comes_in_the_endpoints_shape(limited: Served, path: bytes) -> None:
    """A client stalled mid-headers on /v1/messages got OpenAI's shape; the anthropic SDK reads
    the type from Anthropic's (a 408 is its RequestTimeoutError, `type` timeout_error)."""
    sock = _connect(limited)
    try:
        sock.sendall(b"POST " + path + b" HTTP/1.1\r\nhost: 127.0.0.1\r\nanthropic-version: 2023-06-01\r\n")
        closed, sent = _closed_within(sock, HEADER_TIMEOUT + 5.0)
    finally:
        sock.close()
    assert closed and sent.startswith(b"HTTP/1.1 408"), sent[:200]
    message = "the request headers did not arrive in time"
    if path.startswith(b"/v1/messages"):
        assert _body(sent) == {"type": "error", "error": {"type": "timeout_error", "message": message}}
    else:
        assert _body(sent) == {"error": {"message": message, "type": "invalid_request_error", "param": None,
                                         "code": "request_timeout"}}


def test_a_408_before_the_request_line_is_in_openais_shape(limited: Served) -> None:
    sock = _connect(limited)
    try:
        sock.sendall(b"POST /v1/mess")  # which endpoint is not known yet
        closed, sent = _closed_within(sock, HEADER_TIMEOUT + 5.0)
    finally:
        sock.close()
    assert closed and sent.startswith(b"HTTP/1.1 408")
    assert _body(sent)["error"]["code"] == "request_timeout"  # type: ignore[index]
