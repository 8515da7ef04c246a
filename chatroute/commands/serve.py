"""`chatroute serve`: the OpenAI- and Anthropic-compatible endpoints (see chatroute.serve)."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import re
import signal
import socket
import sys
from types import FrameType
from typing import Any, TextIO

import uvicorn

from chatroute.errors import ConfigError

# After a second Ctrl+C: how long the cancelled requests get to record their partial answers.
STOP_NOW_WAIT_S = 3.0


# A DNS name (RFC 1123 labels): anything else that is not an IP address cannot be bound.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?")


def is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return _HOST_NAME.fullmatch(host) is not None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from chatroute.paths import resolve_paths
    from chatroute.serve.tokens import add_client_token, ensure_tokens, token_path

    paths = resolve_paths()
    paths.ensure()
    if args.client_token is not None:
        token = add_client_token(paths.data_dir, args.client_token)
        print(f"token for client {args.client_token!r} (shown once; requests with it are counted as that client):",
              file=sys.stderr)
        print(token)
        return 0
    if not is_host(args.host):
        raise ConfigError(f"--host {args.host!r}: not an IP address or a host name")
    if not is_loopback(args.host) and not args.allow_remote:
        raise ConfigError(f"{args.host} is not a loopback address: anyone who can reach it could spend through "
                          "your keys; pass --allow-remote to bind it anyway")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: not a port number")
    if not 0 < args.header_timeout <= 3600:  # also refuses nan
        raise ConfigError(f"--header-timeout {args.header_timeout}: give seconds, more than 0 and at most 3600")
    if args.max_connections < 1:
        raise ConfigError(f"--max-connections {args.max_connections}: give at least 1")
    if not 0 <= args.shutdown_grace <= 3600:  # also refuses nan
        raise ConfigError(f"--shutdown-grace {args.shutdown_grace}: give seconds, 0 or more and at most 3600")
    if args.rotate_token:
        _, shown = ensure_tokens(paths.data_dir, rotate=True)
        print(f"new bearer token (shown once, kept in {token_path(paths.data_dir)}); the old one stops working, "
              "in a running server too:", file=sys.stderr)
        print(shown)
        return 0
    _, shown = ensure_tokens(paths.data_dir)
    return _serve(args, shown)


def _serve(args: argparse.Namespace, shown: str | None) -> int:
    from chatroute.commands.common import cache_damage_notice, open_engine, reembed_notice
    from chatroute.serve.app import create_app
    from chatroute.serve.limits import Limits
    from chatroute.serve.state import LiveState
    from chatroute.serve.tokens import TokenSource

    engine = open_engine()  # as every command: the config's and the catalogue's warnings on stderr
    engine.on_cache_reembed = reembed_notice  # the warm-up before "ready" may take seconds once
    engine.on_cache_damaged = cache_damage_notice
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{port}/v1"
    state = LiveState(engine.paths.data_dir, url)
    err = sys.stderr
    limits = Limits(header_timeout_s=args.header_timeout, max_connections=args.max_connections)
    app = create_app(engine, TokenSource(engine.paths.data_dir), on_served=state.served,
                     body_timeout_s=limits.body_timeout_s,
                     on_active=lambda delta: state.began() if delta > 0 else state.ended(),
                     on_ready=lambda: print(f"listening on {url}", file=err, flush=True))
    if not is_loopback(args.host):
        print(f"chatroute: warning: serving on {args.host}, reachable from other machines; the bearer token is "
              "all that stands between them and your provider keys", file=err)
    print(f"chatroute serve: {url}  (models: chatroute/auto, chatroute/frugal|balanced|best, or any configured "
          "model)", file=err)
    if shown:
        print(f"bearer token (shown once, kept in {engine.paths.data_dir / 'serve-tokens.json'}; "
              "`chatroute serve --rotate-token` replaces it):", file=err)
        print(shown, flush=True)
    else:
        print("bearer token: the one shown when it was made (`chatroute serve --rotate-token` makes a new one)",
              file=err)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=args.shutdown_grace, **limits.uvicorn_options())
    quiet = _QuietShutdown()
    logging.getLogger("uvicorn.error").addFilter(quiet)
    server = _Server(config)
    state.start()
    # uvicorn puts back the handler it found once it has shut down: with this one, a Ctrl+C that
    # comes after (while the store closes) counts as the second and cannot cut the closing short.
    previous = _set_sigint(server.late_interrupt)
    # uvicorn stops gracefully on SIGINT and SIGTERM only; a closed terminal (SIGHUP) would end the
    # process with its streams unrecorded, though the providers billed them.
    previous_hup = _set_signal("SIGHUP", server.handle_exit)
    try:
        server.run(sockets=[sock])
    finally:
        state.stop()
        engine.store.close()
        if previous is not None:
            _set_sigint(previous)
        if previous_hup is not None:
            _set_signal("SIGHUP", previous_hup)
    if server.forced:
        _say("chatroute serve: stopped at once (Ctrl+C twice); requests still running were recorded as "
             "interrupted", err)
        return 130  # what the CLI answers any other interruption with
    if quiet.cut_off:
        _say(f"chatroute serve: stopped; {quiet.cut_off} request(s) still streaming after the "
             f"{args.shutdown_grace:g} s grace were cut off and recorded as interrupted", err)
    else:
        _say("chatroute serve: stopped", err)
    return 0


def _say(line: str, err: TextIO) -> None:
    try:  # after SIGHUP the terminal may be gone; what was to be saved is saved
        print(line, file=err)
    except OSError:
        pass


class _QuietShutdown(logging.Filter):
    """Drops uvicorn's reports of requests cancelled at shutdown. A stream still running when the
    graceful wait ends is cancelled, recorded as interrupted with its cost, and the client's SDK
    says the stream ended unfinished; uvicorn would print the cancellation as "Exception in ASGI
    application" with a traceback through the app, and "Cancel N running task(s), timeout
    graceful shutdown exceeded" in its own log format. The count is kept for chatroute's own line."""

    cut_off = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, asyncio.CancelledError):
            return False
        if str(record.msg).startswith("Cancel ") and "graceful shutdown exceeded" in str(record.msg):
            count = record.args[0] if isinstance(record.args, tuple) and record.args else 1
            self.cut_off += count if isinstance(count, int) else 1
            return False
        return True


class _Server(uvicorn.Server):
    """uvicorn's server, except that Ctrl+C or SIGTERM makes run() return once it has shut down,
    instead of re-raising the signal (which would end the process before the store is closed),
    and that a second Ctrl+C during the shutdown stops at once but cleanly (see shutdown)."""

    forced = False  # a second Ctrl+C came while shutting down

    def late_interrupt(self, sig: int, frame: FrameType | None) -> None:
        self.forced = True

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.forced = True
        super().handle_exit(sig, frame)
        self._captured_signals.clear()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets=sockets)
        if self.force_exit:
            await self._stop_now()

    async def _stop_now(self) -> None:
        """uvicorn's forced exit neither ends the requests still running nor tells the app to
        shut down: the requests were left to asyncio.run's final cancellation, and the app's
        lifespan task was cancelled as it waited, which Starlette reported with a traceback.
        Here the requests are cancelled (each records its partial answer as interrupted) and
        awaited, then the app shuts down as usual (health saved, provider clients closed)."""
        current = asyncio.current_task()
        running = [t for t in self.server_state.tasks if t is not current and not t.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=STOP_NOW_WAIT_S)
        done = getattr(self.lifespan, "shutdown_event", None)
        if done is None or not done.is_set():
            await self.lifespan.shutdown()


def _set_sigint(handler: Any) -> Any:
    """Install a SIGINT handler; returns the previous one (None off the main thread: unchanged)."""
    return _set_signal("SIGINT", handler)


def _set_signal(name: str, handler: Any) -> Any:
    """Install a handler for the signal `name`; returns the previous one (None where the platform
    has no such signal, or off the main thread: unchanged)."""
    sig = getattr(signal, name, None)
    if sig is None:
        return None
    try:
        return signal.signal(sig, handler)
    except ValueError:
        return None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # The protocol must be named: asyncio sets TCP_NODELAY only on accepted sockets whose proto is
    # IPPROTO_TCP (an accepted socket inherits the listener's), and without it Nagle holds each
    # small SSE write until the client's delayed ACK of the previous one, ~40 ms, often the first token.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets on Linux
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
