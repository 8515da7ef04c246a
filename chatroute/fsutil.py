"""Atomic file replacement shared by every file chatroute rewrites (prices, config, health, prefs)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: str | bytes, *, mode: int | None = None, durable: bool = True) -> None:
    """Replace `path` with `data` so a reader sees the old file or the new one, never half of it.

    The temporary file is created 0600 (mkstemp), so the result stays private unless `mode` says
    otherwise. `durable` fsyncs before the rename: worth it for files a user cannot regenerate
    (config, prices), skipped for state rewritten after every turn (health, preferences).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if isinstance(data, str):
            # newline="": text is written exactly as given (a config keeps its CRLF endings).
            fh = os.fdopen(fd, "w", encoding="utf-8", newline="")
        else:
            fh = os.fdopen(fd, "wb")
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
