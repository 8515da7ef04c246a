"""What trained a shipped artefact: the library versions a retraining must match to reproduce it
bit for bit (scikit-learn's solvers and numpy's BLAS both move the weights between versions)."""

from __future__ import annotations

import platform
from importlib import metadata

LIBRARIES = ("numpy", "scipy", "scikit-learn")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
