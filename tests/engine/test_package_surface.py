"""`chatroute.engine` is a package; what callers imported from the old module still imports."""

from __future__ import annotations

from chatroute.providers.base import ErrorKind, ProviderError


def test_the_old_module_names_still_import() -> None:
    from chatroute.engine import (
        NO_MODELS_HELP,
        PREFS_RESET_FILE,
        Engine,
        _Attempt,
        _error_line,
        _short,
        preferences_reset_at,
    )
    from chatroute.engine.core import Engine as FrontDoor
    from chatroute.engine.records import Attempt

    assert Engine is FrontDoor
    assert _Attempt is Attempt and _Attempt().text == ""
    assert _short("anthropic/claude-haiku-4-5") == "claude-haiku-4-5"
    err = ProviderError(ErrorKind.RATE_LIMITED, "slow down", status=429, retry_after=20)
    line = _error_line("openai/gpt-4o", err, "error")
    assert line == "openai/gpt-4o: rate limited (429, retry after 20 s): slow down"
    assert "{config}" in NO_MODELS_HELP
    assert PREFS_RESET_FILE == "preferences-reset-at" and callable(preferences_reset_at)
