"""Who holds the database's write lock: the process named in a notice while we wait for it,
and in the error when we give up.

SQLite locks with POSIX advisory locks (fcntl), so F_GETLK names the pid of a process holding
one. In WAL mode the write, checkpoint and recovery locks are bytes 120-128 of the -shm file;
before WAL is on (a new file) they are the pending, reserved and shared bytes of the database
file itself at 1 GiB. The probe asks for a shared lock, which only an exclusive lock (a writer)
conflicts with, so readers are never named. Locks held by this process are invisible to it
(POSIX locks are per process): a second connection in this process shows as "unknown".
Linux only (the layout of struct flock differs elsewhere); elsewhere the holder is unknown.
"""

from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from chatroute.store.liveness import proc_stat

_SHM_LOCKS = (120, 9)  # UNIX_SHM_BASE, the 8 WAL locks and the DMS byte (sqlite3 os_unix.c)
_PENDING_BYTE = 0x40000000
_DB_LOCKS = (_PENDING_BYTE, 2 + 510)  # pending, reserved, then the shared range


@dataclass(frozen=True)
class LockHolder:
    pid: int
    command: str  # its command line, shortened; "" when it cannot be read
    stopped: bool  # SIGSTOP, a debugger, a suspended job: it will not let go by itself

    @property
    def is_chatroute(self) -> bool:
        return "chatroute" in self.command

    def describe(self) -> str:
        """'another chatroute (pid 12, chatroute ask …)', in words for a notice or an error."""
        who = "another chatroute" if self.is_chatroute else "another process"
        command = f", {self.command}" if self.command else ""
        return f"{who} (pid {self.pid}{command})"

    def advice(self) -> str:
        if self.stopped:
            return (f"it is stopped: resume it (kill -CONT {self.pid}, or `fg` in its terminal) "
                    f"or end it (kill {self.pid}), then retry")
        return f"let it finish, or close it (pid {self.pid}), then retry"


def lock_holder(db_path: Path) -> LockHolder | None:
    """The other process holding the write lock of the database at `db_path`, None when there
    is none or it cannot be told."""
    if not sys.platform.startswith("linux"):
        return None
    for path, (start, length) in ((Path(f"{db_path}-shm"), _SHM_LOCKS), (db_path, _DB_LOCKS)):
        pid = _conflicting_pid(path, start, length)
        if pid:
            return LockHolder(pid, _command(pid), _stopped(pid))
    return None


def _conflicting_pid(path: Path, start: int, length: int) -> int | None:
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        # struct flock on Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid.
        probe = struct.pack("hhqqi4x", fcntl.F_RDLCK, os.SEEK_SET, start, length, 0)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, probe)
        l_type, _, _, _, pid = struct.unpack("hhqqi4x", answer)
    except OSError:
        return None
    finally:
        os.close(fd)
    return int(pid) if l_type != fcntl.F_UNLCK and pid > 0 else None


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read(4096).split(b"\0")
    except OSError:
        return ""
    words = [os.path.basename(a.decode("utf-8", "replace")) if i == 0 else a.decode("utf-8", "replace")
             for i, a in enumerate(argv) if a]
    if len(words) >= 3 and words[1] == "-m":  # python -m chatroute ask: say "chatroute ask"
        words = words[2:]
    elif len(words) >= 2 and words[0].startswith("python") and "chatroute" in words[1]:
        words = ["chatroute", *words[2:]]  # …/bin/python …/bin/chatroute ask
    text = " ".join(words)
    printable = " ".join("".join(c if c.isprintable() else " " for c in text).split())  # it goes to a terminal
    return printable if len(printable) <= 60 else printable[:59] + "…"


def _stopped(pid: int) -> bool:
    fields = proc_stat(pid)
    return fields is not None and bool(fields) and fields[0] in (b"T", b"t")
