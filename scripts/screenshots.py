"""Render the main screens to screenshots/*.svg (and *.png when rsvg-convert is installed).

    .venv/bin/python scripts/screenshots.py

Uses the scripted fake engine from tests/tui so the pictures are reproducible.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CHATROUTE_HOME", tempfile.mkdtemp(prefix="chatroute-shots-"))

from tests.tui import scenes  # noqa: E402

SHOTS = [
    ("chat", "chatroute-dark", (120, 40), scenes.chat_scene),
    ("why-light", "chatroute-light", (120, 40), scenes.why_scene),
    ("compare", "chatroute-dark", (120, 40), scenes.compare_scene),
    ("costs", "chatroute-dark", (120, 40), scenes.costs_scene),
    ("models", "chatroute-dark", (120, 40), scenes.picker_scene),
    ("help", "chatroute-dark", (120, 40), scenes.help_scene),
    ("tiny-40x12", "chatroute-dark", (40, 12), scenes.narrow_scene),
    ("chat-80x24", "chatroute-dark", (80, 24), scenes.chat_scene),
    ("compare-picker-80x24", "chatroute-dark", (80, 24), scenes.compare_picker_scene),
]


def for_rsvg(svg_text: str) -> str:
    """The same picture, spelled so rsvg-convert spaces it as a browser does.

    Textual writes every space as a no-break space entity. rsvg-convert drops one at the start
    of a text run, so the word after bold, italic or coloured text ran into it in the PNGs
    ("A lifetimenames", "{ x}  else{  y}"). Plain spaces with xml:space="preserve" keep them."""
    return svg_text.replace("&#160;", " ").replace("<svg ", '<svg xml:space="preserve" ', 1)


async def shoot(name: str, theme: str, size: tuple[int, int], scene, out: Path) -> Path:
    app, _ = scenes.make_app(theme=theme)
    async with app.run_test(size=size) as pilot:
        await scene(pilot)
        await pilot.pause()
        path = app.save_screenshot(filename=f"{name}.svg", path=str(out))
    return Path(path)


def main() -> int:
    out = ROOT / "screenshots"
    out.mkdir(exist_ok=True)
    rsvg = shutil.which("rsvg-convert")
    if rsvg is None:
        print("warning: rsvg-convert not found (apt-get install librsvg2-bin); writing SVG only", file=sys.stderr)
    for name, theme, size, scene in SHOTS:
        svg = asyncio.run(shoot(name, theme, size, scene, out))
        print(svg.relative_to(ROOT))
        if rsvg:
            png = svg.with_suffix(".png")
            with tempfile.NamedTemporaryFile("w", suffix=".svg", encoding="utf-8") as tmp:
                tmp.write(for_rsvg(svg.read_text(encoding="utf-8")))
                tmp.flush()
                subprocess.run([rsvg, "-o", str(png), tmp.name], check=True)
            print(png.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
