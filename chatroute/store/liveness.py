"""Is the process that wrote a 'streaming' message still alive?

Each streaming message carries its writer's tag (host:pid:start). A later open of the store
uses it to tell a live stream of another chatroute from one abandoned by a killed process;
on Linux the start time from /proc tells a reused pid from the writer itself.
"""

from __future__ import annotations

import os
import socket
import sys
from datetime import timedelta

# A 'streaming' message whose writer has not touched it for this long is treated as abandoned
# even if we cannot tell whether its process is alive (other host, pid reuse).
STALE_STREAMING_AFTER = timedelta(minutes=10)


def writer_tag() -> str:
    """Identifies the process writing a streaming message, so a later open can tell a live
    stream from one abandoned by a killed process: host:pid, plus when that process started
    where we can tell (so a pid reused after the writer died is not mistaken for it)."""
    pid = os.getpid()
    started = process_start(pid)
    return f"{socket.gethostname()}:{pid}" + (f":{started}" if started else "")


def parse_writer(writer: str) -> tuple[str, str, str | None]:
    """host, pid, start (None for tags written before the start was recorded)."""
    parts = writer.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return parts[0], parts[1], parts[2]
    host, _, pid = writer.rpartition(":")
    return host, pid, None


def _read_boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()[:8]
    except OSError:
        return ""


BOOT_ID = _read_boot_id()


def proc_stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (field 3, the state, first), or None
    where it cannot be read. The name is cut at its last ')': it may hold spaces and brackets."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_start(pid: int) -> str | None:
    """When process `pid` started (Linux: boot id and start time in clock ticks), or None where
    /proc is not available. Containers make pid reuse common: chatroute as the entrypoint is
    pid 1 in every run, under the same hostname when one is set."""
    fields = proc_stat(pid)
    if fields is None or len(fields) < 20:
        return None
    return f"{BOOT_ID}.{fields[19].decode()}"  # field 22, starttime


def pid_alive(pid: int) -> bool:
    if sys.platform == "win32":
        return True  # os.kill(pid, 0) would terminate it on Windows; rely on staleness instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists but belongs to someone else
    # A killed child not yet reaped by its parent is a zombie: dead for our purposes.
    fields = proc_stat(pid)
    return fields is None or not fields or fields[0] != b"Z"


def process_gone(writer: str, *, host: str) -> bool:
    """Whether the process of `writer` (a writer_tag) has certainly exited: it ran on this
    machine (`host`) and its pid is gone or now belongs to another process. False where that
    cannot be told (another host, no /proc)."""
    w_host, w_pid, w_start = parse_writer(writer)
    if w_host != host or not w_pid.isdigit():
        return False
    if not pid_alive(int(w_pid)):
        return True
    # The writer died and its pid now belongs to another process.
    return bool(w_start) and process_start(int(w_pid)) not in (w_start, None)


def writer_gone(writer: str | None, updated_at: str, *, host: str, cutoff: str) -> bool:
    """Whether the stream written by `writer` (last saved at `updated_at`) is abandoned.
    `host` is this machine's name; `cutoff` the timestamp before which a stream that cannot
    be checked is given up (STALE_STREAMING_AFTER ago)."""
    if not writer or process_gone(writer, host=host):
        return True
    # Another host, a live pid we cannot check further (no /proc, or an old tag), or a hung
    # writer: abandoned once nothing has been saved for STALE_STREAMING_AFTER.
    return updated_at < cutoff
