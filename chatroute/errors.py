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


def stop_signals() -> list[int]:
    """SIGTERM (kill, a service manager, a container stopping) and SIGHUP (the terminal closed),
    where the platform has them (no SIGHUP on Windows): they stop a command the way Ctrl+C does,
    what streamed and its cost saved, the exit code 128 + the signal's number, as a shell reports
    a process the signal ended."""
    import signal

    return [sig for name in ("SIGTERM", "SIGHUP") if (sig := getattr(signal, name, None)) is not None]


class StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP where Ctrl+C would be a KeyboardInterrupt: before a command's event loop
    has its own handlers (opening the database may wait for its lock). A KeyboardInterrupt, so
    whatever Ctrl+C there unwinds (`ask --json` printing its object) unwinds the same way."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
