"""benchmarks/startup_bench.py times the CLI of the checkout it sits in, not whichever tree the
venv's `chatroute` script (an editable install) points at."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _load_bench() -> ModuleType:
    bench_dir = ROOT / "benchmarks"
    if str(bench_dir) not in sys.path:
        sys.path.insert(0, str(bench_dir))
    spec = importlib.util.spec_from_file_location("startup_bench", bench_dir / "startup_bench.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_cli_figures_run_this_checkouts_chatroute(tmp_path: Path) -> None:
    bench = _load_bench()
    env = {"PATH": "/usr/bin:/bin", "CHATROUTE_HOME": str(tmp_path / "home"), "PYTHONPATH": "/elsewhere"}
    cmd, cmd_env = bench.cli_command(["--help"], env)
    assert cmd == [sys.executable, "-m", "chatroute", "--help"], cmd
    assert cmd_env["PYTHONPATH"].split(os.pathsep) == [str(ROOT), "/elsewhere"]
    # That environment imports chatroute from this checkout, wherever the process starts.
    where = subprocess.run([sys.executable, "-c", "import chatroute; print(chatroute.__file__)"], cwd=tmp_path,
                           env=cmd_env, capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).parent == ROOT / "chatroute", where
    done = subprocess.run(cmd, cwd=tmp_path, env=cmd_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "usage" in done.stdout.lower(), done
