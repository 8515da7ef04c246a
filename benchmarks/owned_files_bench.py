"""What the hardened file writes and the open-wait notice cost (issue 13's leftovers).

- `fsutil.atomic_write` of a 4 KB file, durable (fsync of the file and its folder) and not,
  median of 200 writes in a folder on the same disk as the checkout;
- how long `Store.open` waits, behind a stopped process holding the write lock, before its
  `on_wait` notice arrives (the notice is due after 0.5 s), median of 5.

Run: python benchmarks/owned_files_bench.py  (say the machine's load, `uptime`, with the figures)
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chatroute.fsutil import atomic_write
from chatroute.store import Store

HOLDER = """
import os, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


def writes(folder: Path) -> None:
    data = "x" * 4096
    for durable in (False, True):
        times = []
        for _ in range(200):
            started = time.perf_counter()
            atomic_write(folder / "health.json", data, durable=durable)
            times.append(time.perf_counter() - started)
        print(f"atomic_write 4 KB, durable={durable}: median {statistics.median(times) * 1e3:.3f} ms")


def notice_delay(folder: Path) -> None:
    delays = []
    for i in range(5):
        db = folder / f"wait{i}.db"  # a new file: opening must switch it to WAL, under the lock
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE)
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        told: list[float] = []

        def on_wait(line: str | None, told: list[float] = told) -> None:
            if line:
                told.append(time.monotonic())

        started = time.monotonic()
        try:
            Store.open(db, busy_retry_s=1.0, on_wait=on_wait)
        except Exception:  # the timeout is expected: the holder never lets go
            pass
        finally:
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait()
        delays.append(told[0] - started)
    print(f"Store.open behind a stopped lock holder: notice after median {statistics.median(delays) * 1e3:.0f} ms "
          f"(min {min(delays) * 1e3:.0f}, max {max(delays) * 1e3:.0f})")


def main() -> None:
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as tmp:
        writes(Path(tmp))
        notice_delay(Path(tmp))


if __name__ == "__main__":
    main()
