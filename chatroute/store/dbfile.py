"""The database file itself: created private, checked before SQLite touches it, faults named.

SQLite's own messages ("file is not a database", "database disk image is malformed", "unable
to open database file") name neither the file nor what to do, and they surface as tracebacks
from wherever the first query happens to run. Here a bad file is recognised before it is
opened (without writing to it: not even its mode changes) and SQLite's errors are turned into
one line that names the file and the fault (exit 2: bad input, not a provider failure).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from chatroute.errors import ChatrouteError
from chatroute.fsutil import broken_link

_MAGIC = b"SQLite format 3\x00"
_HEADER_SIZE = 100
_RECHECKS = 3
_RECHECK_PAUSE_S = 0.05


class StoreError(ChatrouteError):
    """The store could not do what was asked (defined here so file faults can be store errors)."""


class DatabaseFileError(StoreError):
    """The database file cannot be used as it is: one line naming the file and the fault."""

    exit_code = 2

    def __init__(self, path: Path | str, fault: str) -> None:
        super().__init__(f"{path}: {fault}")
        self.path = Path(path)
        self.fault = fault


def check_file(path: Path) -> None:
    """Raise DatabaseFileError if `path` exists and is not a SQLite database chatroute can use.
    Reads at most the 100-byte header; writes nothing."""
    problem = broken_link(path)
    if problem is not None:
        raise DatabaseFileError(path, f"{problem}; fix the link or remove it")
    try:
        st = path.stat()
    except FileNotFoundError:
        return  # created on open
    except OSError as exc:
        raise DatabaseFileError(path, f"cannot be reached ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DatabaseFileError(path, "is a directory, not a database file; move it away")
    if not stat.S_ISREG(st.st_mode):
        raise DatabaseFileError(path, "is not a regular file (a pipe, socket or device), not a database")
    try:
        with open(path, "rb") as fh:
            header = fh.read(_HEADER_SIZE)
    except OSError as exc:
        raise DatabaseFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    if st.st_size == 0:
        return  # SQLite treats an empty file as a new database
    if header[: len(_MAGIC)] != _MAGIC[: len(header)]:
        raise DatabaseFileError(path, "is not a SQLite database (its header is wrong); "
                                "move it away to start a new one, or restore a backup")
    if len(header) < _HEADER_SIZE:
        raise DatabaseFileError(path, f"is truncated ({st.st_size} bytes, shorter than a SQLite header); "
                                "restore a backup or move it away")
    fault = _header_fault(header, st.st_size, wal_pending=_has_content(sidecar(path, "-wal")))
    # Another process checkpointing writes page 1 before the pages it counts and then empties its
    # -wal, so a header read mid-checkpoint can look truncated for a moment: only a fault that
    # persists across fresh reads is one.
    for _ in range(_RECHECKS):
        if fault is None:
            break
        time.sleep(_RECHECK_PAUSE_S)
        try:
            with open(path, "rb") as fh:
                header = fh.read(_HEADER_SIZE)
            size = path.stat().st_size
        except OSError:
            break
        if len(header) < _HEADER_SIZE:
            break
        fault = _header_fault(header, size, wal_pending=_has_content(sidecar(path, "-wal")))
    if fault is not None:
        raise DatabaseFileError(path, fault)
    if sys.platform != "win32" and not os.access(path, os.W_OK):
        raise DatabaseFileError(path, "is read-only (no write permission); chatroute needs to write to it")


def _header_fault(header: bytes, size: int, *, wal_pending: bool) -> str | None:
    raw_page = int.from_bytes(header[16:18], "big")
    page_size = 65536 if raw_page == 1 else raw_page
    if page_size < 512 or page_size & (page_size - 1):
        return f"is damaged (page size {raw_page} in its header); restore a backup or move it away"
    pages = int.from_bytes(header[28:32], "big")
    # The page count is valid only when the change counter matches version-valid-for (SQLite's
    # rule). With a -wal to replay, a checkpoint cut short may have left the file short for now:
    # SQLite recovers that itself, and reports real damage as "malformed" (see explain).
    if pages and not wal_pending and header[24:28] == header[92:96] and size < pages * page_size:
        return (f"is truncated ({size:,} of {pages * page_size:,} bytes); "
                "restore a backup or move it away")
    return None


def _has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def explain(path: Path, exc: sqlite3.Error) -> DatabaseFileError | None:
    """SQLite's error as a one-line fault of the file, or None when it is not about the file
    (a busy lock, a bug in a query)."""
    text = str(exc).lower()
    if "malformed" in text or "corrupt" in text:
        return DatabaseFileError(path, f"is damaged ({exc}); restore a backup or move it away")
    if "not a database" in text:
        return DatabaseFileError(path, "is not a SQLite database; move it away to start a new one, or restore a backup")
    if "readonly" in text or "read-only" in text:
        return DatabaseFileError(path, f"is read-only ({exc}); chatroute needs to write to it and its folder")
    if "unable to open" in text:
        return DatabaseFileError(path, f"cannot be opened ({exc}); check the file and its folder")
    if "disk is full" in text:
        return _disk_full(path, exc)
    if "disk i/o error" in text:
        # With no byte left SQLite cannot size the -shm it maps, and says only "disk I/O error".
        free = _free_bytes(path)
        if free is not None and free < _FULL_BELOW:
            return _disk_full(path, exc)
        return DatabaseFileError(path, f"cannot be read or written ({exc})")
    return None


# Less room than this left on a disk is a full disk to SQLite: a write needs whole pages of
# its -wal and the -shm index.
_FULL_BELOW = 64 * 1024


def _disk_full(path: Path, exc: sqlite3.Error) -> DatabaseFileError:
    from chatroute.format import fmt_size

    free = _free_bytes(path)
    room = "" if free is None else f", {fmt_size(free)} free"
    # SQLite rolled the failed transaction back: what was stored before is all there.
    return DatabaseFileError(path, f"cannot be written: the disk is full ({exc}{room}); what it holds is intact; "
                             "free some space on that disk and retry")


def _free_bytes(path: Path) -> int | None:
    if not hasattr(os, "statvfs"):
        return None
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def private_db_file(path: Path) -> None:
    """The database holds every conversation: owner-only (0600). Created here with that mode
    before SQLite opens it, since SQLite gives its -wal and -shm files the main file's
    permissions; a file from an older version is tightened, its -wal and -shm with it."""
    if sys.platform == "win32" or str(path) == ":memory:":
        return
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        for p in (path, sidecar(path, "-wal"), sidecar(path, "-shm")):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            if st.st_mode & 0o077 and st.st_uid == os.getuid():
                os.chmod(p, 0o600)
    except OSError:
        pass  # e.g. a read-only folder: sqlite3.connect reports what is wrong


def sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


@dataclass
class WalWatch:
    """Notices the -wal or -shm file being deleted (or replaced) while a connection has it open.

    SQLite keeps writing to the deleted file's inode, which no other process can see, and
    what was written there is lost. There is no SQLite API for this from Python, so the files'
    identities are recorded once the connection has them open and compared after each write.
    """

    path: Path
    ids: dict[str, tuple[int, int]]

    @classmethod
    def start(cls, path: Path) -> WalWatch:
        return cls(path, {suffix: ident for suffix in ("-wal", "-shm")
                          if (ident := _identity(sidecar(path, suffix))) is not None})

    def check(self) -> None:
        for suffix, ident in self.ids.items():
            now = _identity(sidecar(self.path, suffix))
            if now != ident:
                what = "was deleted" if now is None else "was replaced"
                raise DatabaseFileError(
                    self.path, f"its {suffix} file {what} while chatroute had it open, so what was saved since "
                    "is not in the database; stop every chatroute process, then start again (do not delete "
                    "-wal/-shm files of an open database)")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
    return (st.st_dev, st.st_ino)
