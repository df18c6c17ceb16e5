"""A real in-process Runtime for tests that run in the pytest process.

pjsua2 allows one endpoint per process and pytest-qt runs widgets in the test
process, so at most one real engine lives here at a time: each test gets a
fresh one and it is destroyed before the next is created. libCreate after
libDestroy works, but only once the previous ``pj.Endpoint`` object is freed
(its C++ destructor clears pjsua2's process-wide instance); otherwise creating
the next one throws pj::Error from a constructor and the process aborts.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication
from pytestqt.qtbot import QtBot

from softphone.runtime import Runtime, RuntimeOptions
from softphone.sip.config import AudioConfig, EngineConfig


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
        profile=tmp_path / "profile", api_port=None,
        engine=EngineConfig(sip_port=0, audio=AudioConfig(use_soundcard=False)),
    )
    options.profile.mkdir()
    rt = Runtime(options)
    rt.start()
    try:
        yield rt
    finally:
        release_engine(rt)
