"""chatroute.lazy.Lazy: the shared models are built once per process, however many threads ask."""

from __future__ import annotations

import threading
import time

import pytest

from chatroute.lazy import Lazy


def test_threads_asking_at_once_share_one_build() -> None:
    builds: list[object] = []

    def build() -> object:
        time.sleep(0.05)  # long enough for every thread to arrive while the first one builds
        value = object()
        builds.append(value)
        return value

    lazy = Lazy(build)
    start = threading.Barrier(8)
    got: list[object] = []

    def ask() -> None:
        start.wait()
        got.append(lazy.get())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    assert got == [builds[0]] * 8
    assert lazy.get() is builds[0]


def test_a_failed_build_is_tried_again() -> None:
    attempts = []

    def build() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("weights missing")
        return "loaded"

    lazy = Lazy(build)
    with pytest.raises(OSError, match="weights missing"):
        lazy.get()
    assert lazy.get() == "loaded"
    assert lazy.get() == "loaded"
    assert len(attempts) == 2


def test_the_shared_models_are_built_once() -> None:
    from chatroute.embed import get_embedder
    from chatroute.routing.quality import get_quality_model

    assert get_embedder() is get_embedder()
    assert get_quality_model() is get_quality_model()
