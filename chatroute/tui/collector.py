"""Full garbage collections at quiet moments, not while the user waits on the screen.

A full (generation 2) collection walks every tracked object in the process. In the TUI that
is mostly Textual's render caches: each cached line (Strip) carries seven small caches of
its own, so a few dozen mounted messages are ~150k objects and one full collection pauses
the event loop for 0.1-0.3 s on a small CPU. CPython starts one whenever enough objects
have survived into the old generation, which is exactly while the user pages through a
long conversation (each step mounts and unmounts messages) or an answer streams in.

So automatic full collections are switched off while the app runs; the young generations
are still collected (a few ms each; generation 1 less often while an answer streams, see
STREAMING_YOUNG_THRESHOLD). The app reports input and streams here, and
a timer runs the deferred full collection once nothing happened for IDLE_S and nothing is
streaming. Memory stays bounded: past MAX_DEFERRED young collections without a quiet
moment (a key held down for a long time; MAX_DEFERRED_STREAMING while an answer streams),
the full collection runs anyway.

Textual does the same more bluntly for mouse scrolling (App.PAUSE_GC_ON_SCROLL disables the
collector while a scroll animates).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

# How long without input or streaming before the deferred full collection runs.
IDLE_S = 1.0
# How often the timer looks (a collection starts at most this late after the quiet began).
CHECK_INTERVAL_S = 0.25
# Young (generation 1) collections since the last full one before a quiet-time collection
# is worth its pause: CPython's own default threshold for generation 2.
MIN_DEFERRED = 10
# ... and the most before it runs regardless, so a long busy spell cannot grow memory
# without bound. Paging non-stop (benchmarks/load_bench.py), a higher cap gave fewer but
# longer pauses and more memory. A long freeze reads as a hang, so the shorter, more
# frequent one.
MAX_DEFERRED = 100
# Young collections while an answer streams count towards MAX_DEFERRED_STREAMING instead:
# rendering a long answer runs them fast, so the forced pause landed in the middle of the
# stream or as it ended. A stream ends with its answer, so its share waits for the next quiet
# moment: a long Markdown answer leaves a few hundred young collections and tens of MB of
# cyclic garbage (mostly render caches) behind. The cap still bounds a pathological stream.
MAX_DEFERRED_STREAMING = 1000
# While an answer streams, generation 1 is collected after this many generation-0 runs
# (CPython's default is 10). Each frame redraws the rows on screen, and Textual's strips
# reference themselves through their caches, so a row drawn a frame ago is cyclic garbage. A
# generation-1 run moves whatever is alive then, the rows of the frame on screen included, to
# the old generation, which only a full collection frees: at 10, most of a long stream's rows
# ended there, and the full collection after it paused the screen for seconds. Run less often,
# generation 1 frees them itself, each run a little longer.
STREAMING_YOUNG_THRESHOLD = 100
# Automatic full collections off: generation 2 would run after this many generation-1 runs.
_NEVER = 1 << 30


class QuietCollector:
    """One per process (module-level COLLECTOR): gc thresholds are process-wide."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._installed = 0
        self._saved_threshold: int | None = None
        self._saved_young: int | None = None  # generation 1's threshold while a stream runs
        self._busy = 0
        self._busy_from = 0  # young collections pending when the current streams began
        self._excused = 0  # ... run during streams since the last full collection
        self._last_activity = clock()
        self.collections = 0  # full collections run by this collector (for tests and benchmarks)
        self.forced = 0  # ... of which ran at MAX_DEFERRED, not at a quiet moment

    # ---- lifetime (the app's mount and unmount) ----
    def install(self) -> None:
        """Take over full collections; nested installs (several apps in one process, as in
        tests) share one takeover and the last uninstall gives it back."""
        self._installed += 1
        if self._saved_threshold is None:
            t0, t1, t2 = gc.get_threshold()
            self._saved_threshold = t2
            gc.set_threshold(t0, t1, _NEVER)
        self.activity()

    def uninstall(self) -> None:
        self._installed = max(0, self._installed - 1)
        if self._installed == 0 and self._saved_threshold is not None:
            self._restore_young()
            t0, t1, _ = gc.get_threshold()
            gc.set_threshold(t0, t1, self._saved_threshold)
            self._saved_threshold = None
            self._busy = 0

    def _restore_young(self) -> None:
        if self._saved_young is not None:
            t0, _, t2 = gc.get_threshold()
            gc.set_threshold(t0, self._saved_young, t2)
            self._saved_young = None

    @property
    def installed(self) -> bool:
        return self._saved_threshold is not None

    # ---- what the app reports ----
    def activity(self) -> None:
        """A key, click or scroll: the user is waiting on the next frame."""
        self._last_activity = self._clock()

    def begin_busy(self) -> None:
        """A stream started: no full collection until it ends (and IDLE_S after)."""
        if not self._busy:
            self._busy_from = gc.get_count()[2]
            if self.installed:
                t0, self._saved_young, t2 = gc.get_threshold()
                gc.set_threshold(t0, STREAMING_YOUNG_THRESHOLD, t2)
        self._busy += 1

    def end_busy(self) -> None:
        if self._busy == 1:
            self._excused += max(0, gc.get_count()[2] - self._busy_from)
            self._restore_young()
        self._busy = max(0, self._busy - 1)
        self.activity()

    # ---- the timer ----
    def tick(self) -> bool:
        """Run the deferred full collection if now is a good time; True if it ran."""
        if not self.installed:
            return False
        pending = gc.get_count()[2]
        outside_streams = pending - self._excused - (pending - self._busy_from if self._busy else 0)
        if pending >= MAX_DEFERRED_STREAMING or outside_streams >= MAX_DEFERRED:
            self.forced += 1
        elif pending < MIN_DEFERRED or self._busy or self._clock() - self._last_activity < IDLE_S:
            return False
        gc.collect()
        self.collections += 1
        self._busy_from = self._excused = 0
        return True


COLLECTOR = QuietCollector()
