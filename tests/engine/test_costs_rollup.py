"""`chatroute costs` stays a light command: it must not load the router (numpy), the TUI, the
provider SDKs or sqlite-utils, since a fresh process has to answer in well under 300 ms."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from chatroute.store import Store, TurnRecord
from tests.engine.helpers import write_config
from tests.fakeserver import FakeServer

HEAVY = ("numpy", "textual", "httpx", "openai", "anthropic", "sqlite_utils", "chatroute.routing.policy",
         "chatroute.engine")

_PROBE = """
import contextlib, io, json, sys
from chatroute.cli import main
out = io.StringIO()
codes = []
with contextlib.redirect_stdout(out):
    for args in (["--by", "model"], ["--by", "conversation", "--format", "json"],
                 ["--since", "week", "--format", "csv"], ["--baseline", "anthropic/claude-haiku-4-5"]):
        codes.append(main(["costs", *args]))
print(json.dumps({"codes": codes, "loaded": [m for m in sys.argv[1:] if m in sys.modules], "out": out.getvalue()}))
"""


def test_costs_command_does_not_import_the_router(chatroute_home: Path, fake_server: FakeServer) -> None:
    # A budget cap, so the budget line of the report is computed too.
    write_config(chatroute_home, fake_server, extra="[budget]\ndaily_usd = 0.01\nmonthly_usd = 5.0\n")
    with Store.open(chatroute_home / "chatroute.db") as store:
        conv = store.create_conversation("priced")
        for cost in (0.004, 0.009, None):
            store.add_turn(TurnRecord(conversation_id=conv.id, message_id=None, model="openai/gpt-4o",
                                      provider="openai", input_tokens=100, output_tokens=50, cost_usd=cost))
    proc = subprocess.run([sys.executable, "-c", _PROBE, *HEAVY], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["codes"] == [0, 0, 0, 0]
    assert "openai/gpt-4o" in result["out"] and "budget reached" in result["out"]  # the report really ran
    assert result["loaded"] == []


def test_importing_the_costs_command_is_light() -> None:
    code = ("import sys, chatroute.commands.costs, chatroute.accounting; "
            "print(sorted(m for m in sys.argv[1:] if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code, *HEAVY], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
