"""Fixtures for widget tests: a real in-process engine, or a fake one.

pjsua2 allows one endpoint per process and pytest-qt runs widgets in the test
process, so at most one real engine lives here at a time: each test gets a
fresh one and it is destroyed before the next is created. libCreate after
libDestroy works, but only once the previous ``pj.Endpoint`` object is freed
(its C++ destructor clears pjsua2's process-wide instance); otherwise creating
the next one throws pj::Error from a constructor and the process aborts.
"""

from __future__ import annotations

import gc
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication
from pytestqt.qtbot import QtBot

from softphone.runtime import Runtime, RuntimeOptions
from softphone.sip.config import AudioConfig, EngineConfig
from tests.helpers.tools import require_tool
from tests.ui.fakes import FakeEngine


def release_engine(runtime: Runtime) -> None:
    """Shut down and free the pjsua2 endpoint so another may be created."""
    runtime.shutdown()
    assert not runtime.engine.pump._timer.isActive()
    # The call manager drops calls from zero-delay timers whose closures keep
    # the engine (and so the endpoint) alive until they have run.
    QCoreApplication.processEvents()
    # A failed test's traceback can keep the Runtime alive; cut the endpoint
    # loose so its destructor runs now anyway.
    runtime.engine.endpoint.ep = None
    gc.collect()


@pytest.fixture
def runtime(qtbot: QtBot, tmp_path: Path) -> Iterator[Runtime]:
    """A started in-process Runtime (null audio, free SIP port, API off)."""
    gc.collect()
    options = RuntimeOptions(
        profile=tmp_path / "gui", api_port=None,
        engine=EngineConfig(sip_port=0, audio=AudioConfig(use_soundcard=False)),
    )
    options.profile.mkdir()
    rt = Runtime(options)
    rt.start()
    try:
        yield rt
    finally:
        release_engine(rt)


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
