"""User-facing errors: each carries the one line shown on stderr and the CLI exit code."""

from __future__ import annotations


class ChatrouteError(Exception):
    """An error whose message is fit to show a user as it stands."""

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(ChatrouteError):
    """Bad configuration or usage: exit code 2 by the CLI contract."""

    exit_code = 2


class UsageError(ChatrouteError):
    exit_code = 2


class StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP where Ctrl+C would be a KeyboardInterrupt: before a command's event loop
    has its own handlers (opening the database may wait for its lock). A KeyboardInterrupt, so
    whatever Ctrl+C there unwinds (`ask --json` printing its object) unwinds the same way."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
