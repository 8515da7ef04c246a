"""pyproject.toml builds with what it asks for: the README's quick start is `pip install .`."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

# setuptools reads `license = "Apache-2.0"` (an SPDX expression, PEP 639) from 77.0 on; before it
# the [project] table is refused ("project.license must be valid exactly by one definition").
SPDX_LICENSE_SINCE = Version("77")


def _lowest_allowed(requirement: Requirement) -> Version:
    floors = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==", "~=")]
    assert floors, f"{requirement} sets no lower bound"
    return max(floors)


def test_the_build_backend_floor_reads_the_project_table() -> None:
    """`requires = ["setuptools>=68"]` let pip (or a build without isolation, or a constraints file)
    pick setuptools 68–76, which refuse the [project] table's SPDX license string: `pip install .`
    failed with a metadata error before building anything."""
    doc = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    assert isinstance(doc["project"]["license"], str)  # the SPDX form, not {text = ...} or {file = ...}
    setuptools = next(Requirement(r) for r in doc["build-system"]["requires"] if Requirement(r).name == "setuptools")
    assert _lowest_allowed(setuptools) >= SPDX_LICENSE_SINCE
