"""benchmarks/load_bench.py times the chatroute of the checkout it sits in, whatever else the
environment would import: its children ran `python -m chatroute` (and `python -c`) with no
PYTHONPATH, relying on the working folder being searched first, which PYTHONSAFEPATH turns off;
then another copy (one on PYTHONPATH, or the venv's install) was timed, or none was found."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_bench() -> ModuleType:
    bench_dir = ROOT / "benchmarks"
    if str(bench_dir) not in sys.path:
        sys.path.insert(0, str(bench_dir))
    spec = importlib.util.spec_from_file_location("load_bench", bench_dir / "load_bench.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_load_bench_children_run_this_checkouts_chatroute(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    decoy = tmp_path / "elsewhere" / "chatroute"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("")  # another copy of the package, with no CLI in it
    monkeypatch.setenv("PYTHONPATH", str(decoy.parent))
    monkeypatch.setenv("PYTHONSAFEPATH", "1")  # the working folder is not searched
    bench = _load_bench()
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    assert bench.cli_once(["--version"], home) > 0  # before: "No module named chatroute.__main__"
    where = subprocess.run([sys.executable, "-c", "import chatroute; print(chatroute.__file__)"], cwd=tmp_path,
                           env=bench.bench_env(home), capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).parent == ROOT / "chatroute", where
