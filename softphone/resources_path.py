"""Find the app's data files (icons, examples) from source, a wheel or a PyInstaller bundle.

The files live in the repository's top-level ``resources/`` directory, outside
the Python package, so that the installers can ship them as ordinary files.
PyInstaller copies that directory next to the bundled code (``sys._MEIPASS``);
from a source checkout it is the package's parent directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: Overrides the search (a relocated install, tests).
RESOURCES_ENV = "SOFTPHONE_RESOURCES"
ICON_NAME = "softphone"


def is_frozen() -> bool:
    """True inside a PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def candidate_dirs() -> list[Path]:
    """Where ``resources/`` may be, most specific first."""
    dirs: list[Path] = []
    override = os.environ.get(RESOURCES_ENV)
    if override:
        dirs.append(Path(override))
    if is_frozen():
        dirs.append(Path(str(sys._MEIPASS)) / "resources")  # type: ignore[attr-defined]
    dirs.append(Path(__file__).resolve().parent.parent / "resources")
    # A wheel installed with pip (see [tool.setuptools.data-files]).
    dirs.append(Path(sys.prefix) / "share" / "softphone" / "resources")
    return dirs


def resources_dir() -> Path | None:
    """The first existing resources directory, None when there is none (a bare wheel)."""
    for directory in candidate_dirs():
        if (directory / "icons").is_dir():
            return directory
    return None


def resource_path(*parts: str) -> Path | None:
    """The path of one resource file, None when it cannot be found."""
    base = resources_dir()
    if base is None:
        return None
    path = base.joinpath(*parts)
    return path if path.exists() else None


def icon_path(size: int = 256) -> Path | None:
    """The app icon as a PNG of ``size`` pixels (16, 24, 32, 48, 64, 128, 256 or 512)."""
    return resource_path("icons", f"{ICON_NAME}-{size}.png")
