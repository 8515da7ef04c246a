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
