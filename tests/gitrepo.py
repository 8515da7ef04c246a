"""A folder written by a test, committed as a git repository: the data builders read their
sources at a pinned commit with `git show`, so their tests hand them one made here."""

from __future__ import annotations

import subprocess
from pathlib import Path


def commit_all(repo: Path) -> str:
    """Commit everything under `repo` (a new repository) and return the commit's hash."""
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "fixture"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
