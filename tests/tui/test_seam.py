"""The TUI reads the engine through the typed `EngineAPI` seam (chatroute/engine_api.py), not by
probing objects for whatever attribute they happen to have."""

from __future__ import annotations

import ast
from pathlib import Path

import chatroute.tui
from chatroute.tui.data import Backend, Branch, conv_title, hit_fields, msg_text, reroute_lines
from tests.tui.fake_engine import FakeEngine, FakeStore, Reply, seed_conversation

TUI = Path(chatroute.tui.__file__).parent
# Names under which the TUI holds the engine, its store, catalogue and config, and their records.
CORE_NAMES = ("engine", "store", "catalog", "config", "paths", "record", "backend", "conv", "msg", "hit", "turn")


def _probes(path: Path) -> list[str]:
    found = []
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            target = ast.unparse(node.args[0]) if node.args else ""
            if any(name in target.lower() for name in CORE_NAMES):
                found.append(f"{path.relative_to(TUI)}:{node.lineno}: {ast.unparse(node)}")
        if isinstance(node, ast.ImportFrom) and node.module == "chatroute.format":
            found += [f"{path.relative_to(TUI)}:{node.lineno}: imports format.attr"
                      for alias in node.names if alias.name == "attr"]
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__" and path.name == "data.py":
            found.append(f"{path.relative_to(TUI)}:{node.lineno}: a __getattr__ forwarder")
    return found


def test_no_module_in_the_tui_probes_engine_objects() -> None:
    probes = [p for path in sorted(TUI.rglob("*.py")) for p in _probes(path)]
    assert probes == []


async def test_the_backend_reads_the_fake_through_the_seam() -> None:
    """A turn on the fake, read back page by page the way the chat view reads the real store."""
    store = FakeStore()
    conv = seed_conversation(store, "Seam", [("first question", "first answer")])
    engine = FakeEngine(store)
    engine.script.append(Reply(text="rerouted answer", reroutes=[("openai/gpt-4o", "429", "openai/gpt-4o-mini")]))
    backend = Backend(engine)
    events = [ev async for ev in backend.run_turn(conv.id, "second question")]
    record = events[-1].record
    assert reroute_lines(record.route) == ["gpt-4o 429 → gpt-4o-mini"]
    branch = Branch(backend, conv.id)
    page = branch.page(0, len(branch))
    assert [msg_text(m) for m, _, _ in page] == ["first question", "first answer", "second question",
                                                  "rerouted answer"]
    assert page[3][1] is not None and page[3][1].model == "openai/gpt-4o-mini"
    backend.set_pin(conv.id, "openai/gpt-4o")
    assert backend.pin_of(conv.id) == "openai/gpt-4o"
    assert [conv_title(c) for c in backend.conversations()] == ["Seam"]
    assert [hit_fields(h)[2:] for h in backend.search("rerouted")] == [("rerouted answer", "Seam")]
    assert backend.unknown_override("@no-such-model hi") is not None and backend.unknown_override("@gpt-4o hi") is None
