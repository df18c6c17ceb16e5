"""Fixtures for the sound-card tests (helpers live in audio_helpers.py)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sip.audio.audio_helpers import PulseServer


@pytest.fixture
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    # Short path: UNIX socket paths are limited to ~100 characters.
    base = Path(os.environ.get("TMPDIR", "/tmp")) / f"pa-{os.getpid()}-{time.monotonic_ns()}"
    server = PulseServer(base)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
