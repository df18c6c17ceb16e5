"""Fixtures for widget tests: a real in-process engine (``runtime``, from
tests/helpers/runtime.py), or a fake one."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from tests.helpers.runtime import runtime  # noqa: F401  (a fixture)
from tests.helpers.tools import require_tool
from tests.ui.fakes import FakeEngine


@pytest.fixture
def fake_engine(qtbot: QtBot) -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def x_display() -> Iterator[str]:
    """A private Xvfb server (its display name); the widgets stay offscreen."""
    xvfb = require_tool("Xvfb", "xvfb")
    read_fd, write_fd = os.pipe()
    # -displayfd: Xvfb picks a free display and writes its number once it
    # accepts clients, so there is nothing to poll and no race on a number;
    # -noreset: no server reset (refusing clients for a moment) each time the
    # last client leaves.
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write_fd), "-screen", "0", "640x480x24", "-nolisten", "tcp",
         "-noreset"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write_fd)
    with os.fdopen(read_fd) as reader:
        number = reader.readline().strip()
    if not number:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"Xvfb did not start: {err.decode(errors='replace')}")
    try:
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
