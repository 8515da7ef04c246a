"""Structural health of the package: no import cycle among chatroute's modules.

A cycle makes import order matter (a module seen half-initialised), and it ties modules that
should be changeable one at a time. The graph is read from the source, not by importing it.

Two graphs: the imports that run when a module is imported (module level, through `if`/`try`
blocks, not under `if TYPE_CHECKING:`) must have no cycle at all; every import that can run,
deferred ones inside functions included, must have none beyond the few listed in
KNOWN_DEFERRED_CYCLES (deferring an import hides a cycle from Python, not from the reader).
Imports under `if TYPE_CHECKING:` never run: a helper module of a package naming its host's
class in an annotation (engine/answer.py annotating `Engine`) is not a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "chatroute"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


# Cycles that only exist through a deferred or type-only import, left for the modules' owners.
# Remove an entry once its cycle is broken.
KNOWN_DEFERRED_CYCLES: list[list[str]] = []


def _every_import(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: at any depth, but not under `if TYPE_CHECKING:`."""
    for node in body:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _every_import(node.orelse)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        else:
            yield from _every_import([c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)])


def _runtime_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run at module import: module level, through `if`/`try`/
    `with` blocks, but not under `if TYPE_CHECKING:` and not inside functions or classes."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _runtime_imports(node.body)
            yield from _runtime_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _runtime_imports(block)
        elif isinstance(node, ast.With):
            yield from _runtime_imports(node.body)


def imported_modules(name: str, path: Path, known: set[str], *, deferred: bool = False) -> set[str]:
    """The chatroute modules that `name` imports at module level. `from a import b` is an edge
    to a.b when b is a submodule, else to a; the parent packages Python initialises on the way
    are not edges (they are initialised first, whatever the order). With `deferred`, imports
    inside functions count too (never those under TYPE_CHECKING)."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: set[str] = set()
    for node in (_every_import if deferred else _runtime_imports)(tree.body):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name in known)
            continue
        if node.level:  # relative: from the module's own package upwards
            base = name.split(".") if is_package else name.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            if sub in known:
                out.add(sub)
            elif target in known:
                out.add(target)
    out.discard(name)
    return out


def import_graph(*, deferred: bool = False) -> dict[str, set[str]]:
    modules = all_modules()
    known = set(modules)
    return {name: imported_modules(name, path, known, deferred=deferred) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def describe(component: list[str], graph: dict[str, set[str]]) -> str:
    members = set(component)
    edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a] & members)]
    return "; ".join(edges)


def test_no_import_cycle_among_chatroute_modules() -> None:
    graph = import_graph()
    assert len(graph) > 50 and graph["chatroute.store"], "the graph was not read"
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(describe(c, graph) for c in found)


def test_no_new_cycle_through_deferred_imports() -> None:
    graph = import_graph(deferred=True)
    found = [c for c in cycles(graph) if c not in KNOWN_DEFERRED_CYCLES]
    assert not found, "import cycles (counting deferred imports):\n" + "\n".join(describe(c, graph) for c in found)


def test_the_cycle_finder_sees_cycles_and_reads_imports(tmp_path: Path) -> None:
    # The checker itself must be able to fail: a two-module and a three-module cycle, a chain
    # that is not one, and imports it must not count.
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"g"}, "g": set()}
    assert cycles(graph) == [["a", "b"], ["c", "d", "e"]]
    source = (
        "from typing import TYPE_CHECKING\n"
        "from chatroute.store import records\n"
        "from chatroute.store.db import Store\n"
        "if TYPE_CHECKING:\n    from chatroute import engine\n"
        "try:\n    import chatroute.format\nexcept ImportError:\n    pass\n"
        "def later():\n    from chatroute import money\n"
    )
    mod = tmp_path / "probe.py"
    mod.write_text(source, encoding="utf-8")
    known = {"chatroute.store", "chatroute.store.records", "chatroute.store.db", "chatroute.engine",
             "chatroute.format", "chatroute.money"}
    assert imported_modules("chatroute.probe", mod, known) == {
        "chatroute.store.records", "chatroute.store.db", "chatroute.format"}
    assert imported_modules("chatroute.probe", mod, known, deferred=True) == {
        "chatroute.store.records", "chatroute.store.db", "chatroute.format", "chatroute.money"}
