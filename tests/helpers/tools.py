"""Tools the tests need from the machine (Debian packages, test extras).

``scripts/test.sh`` installs every one of them and sets
``SOFTPHONE_REQUIRE_TOOLS=1``, so there (and wherever ``CI`` is set) a
missing tool fails its test; a developer running plain ``pytest`` without
them gets a skip that says what to install.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def tools_required() -> bool:
    return bool(os.environ.get("SOFTPHONE_REQUIRE_TOOLS") or os.environ.get("CI"))


def missing(reason: str) -> NoReturn:
    """Fail where every tool must be installed, skip elsewhere."""
    if tools_required():
        pytest.fail(f"{reason}; scripts/test.sh installs it", pytrace=False)
    pytest.skip(reason)


def require_tool(binary: str, package: str) -> str:
    """The path of ``binary`` (from Debian's ``package``)."""
    path = shutil.which(binary)
    if path is None:
        missing(f"{binary} is not installed (apt-get install {package})")
    return path
