"""SVG snapshots of the main screens (update with `pytest tests/tui --snapshot-update`)."""

from __future__ import annotations

from tests.tui import scenes


def test_snapshot_chat(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, _ = scenes.make_app()
    assert snap_compare(app, terminal_size=(120, 40), run_before=scenes.chat_scene)


def test_snapshot_why_light(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, _ = scenes.make_app(theme="chatroute-light")
    assert snap_compare(app, terminal_size=(120, 40), run_before=scenes.why_scene)


def test_snapshot_help(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, _ = scenes.make_app()
    assert snap_compare(app, terminal_size=(120, 40), run_before=scenes.help_scene)


def test_snapshot_compare(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, _ = scenes.make_app()
    assert snap_compare(app, terminal_size=(120, 40), run_before=scenes.compare_scene)


def test_snapshot_costs(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, _ = scenes.make_app()
    assert snap_compare(app, terminal_size=(120, 40), run_before=scenes.costs_scene)


def test_snapshot_picker(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, _ = scenes.make_app()
    assert snap_compare(app, terminal_size=(120, 40), run_before=scenes.picker_scene)


def test_snapshot_tiny(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, _ = scenes.make_app()
    assert snap_compare(app, terminal_size=(40, 12), run_before=scenes.narrow_scene)


# The smallest common terminal: every main screen must still show what matters at 80x24.
def test_snapshot_chat_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, _ = scenes.make_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=scenes.chat_scene)


def test_snapshot_why_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, _ = scenes.make_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=scenes.why_scene)


def test_snapshot_compare_picker_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, _ = scenes.make_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=scenes.compare_picker_scene)


def test_snapshot_picker_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, _ = scenes.make_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=scenes.picker_scene)


def test_snapshot_costs_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, _ = scenes.make_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=scenes.costs_scene)
