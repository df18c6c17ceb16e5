"""Fixtures for widget tests: a real in-process engine (``runtime``, from
tests/helpers/runtime.py), or a fake one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from tests.helpers.runtime import runtime  # noqa: F401  (a fixture)
from tests.helpers.tools import require_tool
from tests.helpers.xvfb import private_xvfb
from tests.ui.fakes import FakeEngine


@pytest.fixture
def fake_engine(qtbot: QtBot) -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def x_display() -> Iterator[str]:
    """A private Xvfb server (its display name); the widgets stay offscreen."""
    with private_xvfb(require_tool("Xvfb", "xvfb"), "640x480x24") as display:
        yield display
