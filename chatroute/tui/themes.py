"""Themes from TOML files: the packaged ones (chatroute/tui/themes/*.toml) plus any the user
drops in <config dir>/themes/. Each file is one textual.theme.Theme."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.theme import Theme

PACKAGED = Path(__file__).with_name("themes")


def theme_from_toml(path: Path) -> Theme:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    name = str(data.get("name") or path.stem)
    # The name is listed in the command palette, which reads it as markup, and written to the
    # config: a control, an escape or a direction override in it would drive the terminal or make
    # it read as another name, and "[b]" would be drawn as a style.
    if not name.isprintable() or "[" in name:
        raise ValueError(f"{path}: a theme's name must be one printable line without '['")
    if "primary" not in data:
        raise ValueError(f"{path}: a theme needs at least `primary`")

    def colour(key: str) -> str | None:
        return str(data[key]) if key in data else None

    return Theme(
        name=name,
        primary=str(data["primary"]),
        secondary=colour("secondary"),
        warning=colour("warning"),
        error=colour("error"),
        success=colour("success"),
        accent=colour("accent"),
        foreground=colour("foreground"),
        background=colour("background"),
        surface=colour("surface"),
        panel=colour("panel"),
        boost=colour("boost"),
        dark=bool(data.get("dark", True)),
        variables=dict(data.get("variables", {})),
    )


def load_themes(extra_dirs: list[Path] | None = None) -> list[Theme]:
    """Packaged themes first; a user theme with the same name replaces it. Bad files are skipped."""
    found: dict[str, Theme] = {}
    for folder in [PACKAGED, *(extra_dirs or [])]:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = theme_from_toml(path)
            except (OSError, ValueError, tomllib.TOMLDecodeError):
                continue  # one broken user file must not stop the app
            found[theme.name] = theme
    return list(found.values())
