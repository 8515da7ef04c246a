"""The bearer tokens of `chatroute serve`: one main token, and optional named ones per client.

They live in one owner-only file (0600) in the data folder, like the database whose spend they
guard. A per-client token names the client in the ledger; with the main token the request's
User-Agent does. A token is shown once, when it is made; tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from chatroute.errors import ConfigError
from chatroute.fsutil import UnsafeFileError, WriteFailedError, atomic_write, unsafe_reason

TOKEN_FILE = "serve-tokens.json"
TOKEN_PREFIX = "crt-"
MAX_CLIENT_NAME = 64


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass
class Tokens:
    main: str
    clients: dict[str, str] = field(default_factory=dict)  # name -> token

    def client_for(self, presented: str) -> tuple[bool, str | None]:
        """(accepted, client name from a per-client token or None). Every stored token is
        compared, so the time taken says nothing about which one nearly matched."""
        ok = hmac.compare_digest(presented.encode(), self.main.encode())
        name = None
        for client, token in self.clients.items():
            if hmac.compare_digest(presented.encode(), token.encode()):
                ok, name = True, client
        return ok, name

    def to_json(self) -> str:
        return json.dumps({"token": self.main, "clients": self.clients}, indent=2) + "\n"


def token_path(data_dir: Path) -> Path:
    return data_dir / TOKEN_FILE


def load_tokens(data_dir: Path) -> Tokens | None:
    path = token_path(data_dir)
    why = unsafe_reason(path)
    if why is not None:  # tokens read through a planted link would be tokens someone else knows
        raise ConfigError(f"{path}: it {why}; the token file must be chatroute's own file. Remove it, then "
                          "`chatroute serve --rotate-token` makes a new one")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable token file ({exc}); `chatroute serve --rotate-token` "
                          "makes a new one") from exc
    token = raw.get("token") if isinstance(raw, dict) else None
    clients = raw.get("clients", {}) if isinstance(raw, dict) else {}
    if not isinstance(token, str) or len(token) < 16 or not isinstance(clients, dict):
        raise ConfigError(f"{path}: malformed token file; `chatroute serve --rotate-token` makes a new one")
    return Tokens(token, {str(k): str(v) for k, v in clients.items() if isinstance(v, str) and len(v) >= 16})


def save_tokens(data_dir: Path, tokens: Tokens) -> None:
    atomic_write(token_path(data_dir), tokens.to_json(), secret=True)


LOCK_WAIT_S = 10.0


@contextmanager
def _changing(data_dir: Path) -> Iterator[None]:
    """Held while the file is read, changed and written: two `--client-token` runs at once each
    printed a token, and the one that wrote last dropped the other's."""
    tokens = token_path(data_dir)
    lock_path = Path(f"{tokens}.lock")
    what = unsafe_reason(lock_path)
    if what is not None:  # a link planted there: said, as at the tokens themselves, never followed
        raise UnsafeFileError(f"{lock_path}: not used: it {what}; chatroute only locks with its own regular files. "
                              "Remove it (or move it aside) and retry")
    lock = FileLock(str(lock_path), timeout=LOCK_WAIT_S, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise ConfigError(f"{tokens}: another chatroute has been changing it for over {LOCK_WAIT_S:.0f} s "
                          f"(it holds {lock_path}); retry when it is done") from None
    except OSError as exc:  # a folder chatroute may not write in: the tokens cannot be written either
        raise WriteFailedError(tokens, exc, existed=tokens.exists()) from exc
    try:
        yield
    finally:
        lock.release()


def ensure_tokens(data_dir: Path, *, rotate: bool = False) -> tuple[Tokens, str | None]:
    """The tokens, made on first use or renewed by `rotate` (per-client tokens are kept). The
    second value is a new main token to show the user once, or None."""
    if not rotate:
        tokens = load_tokens(data_dir)  # the usual case, read without the lock
        if tokens is not None:
            return tokens, None
    with _changing(data_dir):
        return _ensure_tokens_locked(data_dir, rotate=rotate)


def _ensure_tokens_locked(data_dir: Path, *, rotate: bool) -> tuple[Tokens, str | None]:
    tokens = None if rotate else load_tokens(data_dir)
    if tokens is not None:
        return tokens, None
    old = None
    if rotate:
        try:
            old = load_tokens(data_dir)
        except ConfigError:
            old = None
    tokens = Tokens(new_token(), dict(old.clients) if old else {})
    save_tokens(data_dir, tokens)
    return tokens, tokens.main


def add_client_token(data_dir: Path, name: str) -> str:
    """A new token naming `name` in the ledger (replacing that client's old one)."""
    name = name.strip()
    if not name or len(name) > MAX_CLIENT_NAME or not name.isprintable():
        raise ConfigError(f"a client name is 1 to {MAX_CLIENT_NAME} printable characters")
    with _changing(data_dir):
        tokens, _ = _ensure_tokens_locked(data_dir, rotate=False)
        tokens.clients[name] = new_token()
        save_tokens(data_dir, tokens)
    return tokens.clients[name]


class TokenSource:
    """The tokens as the file says now: a rotation (or a new client token) applies to a running
    server at its next request. Re-read only when the file changes (a stat per request)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._stamp: tuple[int, int] | None = None
        self._tokens: Tokens | None = None

    def current(self) -> Tokens | None:
        try:
            st = token_path(self.data_dir).stat()
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_ino)
        if stamp != self._stamp:
            try:
                self._tokens = load_tokens(self.data_dir)
            except ConfigError:
                self._tokens = None  # unreadable: refuse everyone until it is fixed
            self._stamp = stamp
        return self._tokens
