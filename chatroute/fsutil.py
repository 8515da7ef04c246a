"""Atomic file replacement shared by every file chatroute rewrites (prices, config, health, prefs,
exports), and the owner-only folders they live in."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import IO, Any


def private_dir(path: Path) -> Path:
    """Make sure the folder `path` exists; if chatroute has to create it, it is owner-only (0700),
    since what goes in it (conversations, exports, a config that may hold a key) is private.

    A folder that already exists keeps its mode: it may be one the user made or chose. Missing
    parents get the default mode, as they may be shared ones (~/.local/share).
    """
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            # Another chatroute process may have made it meanwhile; a file in the way is an error.
            if not path.is_dir():
                raise
    return path


def atomic_write(path: Path, data: str | bytes, *, mode: int | None = None, durable: bool = True) -> None:
    """Replace `path` with `data` so a reader sees the old file or the new one, never half of it.

    The temporary file is created 0600 (mkstemp), so the result stays private unless `mode` says
    otherwise. `durable` fsyncs before the rename: worth it for files a user cannot regenerate
    (config, prices), skipped for state rewritten after every turn (health, preferences).
    """
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # newline="": text is written exactly as given (a config keeps its CRLF endings).
        fh: IO[Any] = os.fdopen(fd, "w", encoding="utf-8", newline="") if isinstance(data, str) else os.fdopen(fd, "wb")
        with fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def broken_link(path: Path) -> str | None:
    """What is wrong when `path` is a symbolic link that leads nowhere (dangling, or a loop),
    else None. Such a path must never be replaced by a file of ours: the link is the user's
    (a dotfile manager's, a mount not there yet), and replacing it would silently drop what it
    pointed to."""
    if not path.is_symlink():
        return None
    try:
        path.stat()
    except OSError as exc:
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        if exc.errno == errno.ELOOP:
            return f"is a symbolic link that loops (-> {target})"
        if exc.errno == errno.ENOENT:
            return f"is a symbolic link to {target}, which does not exist"
        return f"is a symbolic link to {target}, which cannot be reached ({exc.strerror or exc})"
    return None


def create_new(path: Path, data: str, *, mode: int = 0o600) -> bool:
    """Write `data` to `path` only if nothing at all is there (not even a dangling link), whole
    or not at all. False when something already is."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        try:
            os.link(tmp, path)  # unlike rename, never replaces what is there
        except FileExistsError:
            return False
        except OSError:  # a filesystem without hard links: O_EXCL also refuses any existing path
            try:
                out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            except FileExistsError:
                return False
            with os.fdopen(out, "w", encoding="utf-8") as fh:
                fh.write(data)
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)
