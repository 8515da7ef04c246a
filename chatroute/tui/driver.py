"""A terminal driver that survives the terminal going away.

When the terminal closes (SIGHUP), chatroute still has work to do: stop the stream and save
the turn (app._catch_stop_signals). Textual's output thread writes each frame to the terminal;
the first write after the hang-up raises EIO and ends that thread, and its bounded queue then
fills with the frames drawn while the app winds down, so the final stop() blocks forever and
the process never exits. Output to a terminal that is gone has nowhere to go: drop it.
"""

from __future__ import annotations

from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver

from chatroute.tui.textual_compat import wrap_driver_output


class _TerminalOutput:
    """The driver's output file, minus the errors of a terminal that has gone."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._file.write(text)
            except OSError:  # EIO/EBADF: the terminal closed
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._file.flush()
            except OSError:
                self.gone = True

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, ...
        return getattr(self._file, name)


class HangupSafeDriver(LinuxDriver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        wrap_driver_output(self, _TerminalOutput)
