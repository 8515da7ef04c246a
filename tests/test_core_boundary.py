"""The core (routing, cache, pricing, store, providers, engine, CLI) must not need Textual."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "chatroute"

CORE_MODULES = [
    "chatroute.engine",
    "chatroute.config",
    "chatroute.catalog",
    "chatroute.catalog.cost",
    "chatroute.catalog.prices",
    "chatroute.catalog.tokens",
    "chatroute.store",
    "chatroute.providers",
    "chatroute.providers.openai",
    "chatroute.providers.anthropic",
    "chatroute.routing.policy",
    "chatroute.routing.health",
    "chatroute.cache",
    "chatroute.embed",
    "chatroute.cli",
    "chatroute.commands.ask",
]


def test_core_imports_without_textual() -> None:
    # A fresh interpreter where importing textual fails outright: any core import of it breaks.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'textual' or name.startswith('textual.'):\n"
        "            raise ImportError('textual is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for m in {CORE_MODULES!r}:\n"
        "    __import__(m)\n"
        "assert not any(k == 'textual' or k.startswith('textual.') for k in sys.modules)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_no_core_source_imports_textual() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "tui" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "textual" or n.startswith("textual.") for n in names):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []
