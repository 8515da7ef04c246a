"""Where chatroute keeps its files.

CHATROUTE_HOME, when set, holds everything (config, database, caches) so tests and
scripts can isolate a run; otherwise the platform's user dirs are used. Set but empty counts
as unset, the XDG Base Directory convention for its own variables: an empty path would
otherwise be the current folder, a different one wherever the command is run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from chatroute.fsutil import private_dir


@dataclass(frozen=True)
class Paths:
    config_file: Path
    data_dir: Path
    cache_dir: Path

    @property
    def database(self) -> Path:
        return self.data_dir / "chatroute.db"

    @property
    def prices_file(self) -> Path:
        """A refreshed price feed; absent until `chatroute prices update` succeeds."""
        return self.data_dir / "prices.json"

    def written_files(self) -> list[Path]:
        """The files in the data folder that chatroute rewrites with fsutil.atomic_write (exports
        aside), checked at start-up so that a link planted at one is said at once. The names are
        repeated here (their modules are heavy to import); tests/hardening/test_owned_files.py
        checks them against the modules."""
        names = ("prices.json", "prices.json.bak", "health.json", "router_preferences.json", "local_models.json",
                 "serve-tokens.json", "serve-state.json", "preferences-reset-at")
        return [self.data_dir / n for n in names]

    def ensure(self) -> None:
        """Create the folders chatroute uses, owner-only when it is the one creating them."""
        for d in (self.config_file.parent, self.data_dir, self.cache_dir):
            private_dir(d)


def resolve_paths() -> Paths:
    home = os.environ.get("CHATROUTE_HOME")
    if home:
        root = Path(home).expanduser()
        return Paths(config_file=root / "config.toml", data_dir=root, cache_dir=root / "cache")
    import platformdirs

    return Paths(
        config_file=Path(platformdirs.user_config_dir("chatroute")) / "config.toml",
        data_dir=Path(platformdirs.user_data_dir("chatroute")),
        cache_dir=Path(platformdirs.user_cache_dir("chatroute")),
    )
