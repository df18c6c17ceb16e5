"""The real desktop app as a process: starts offscreen, quits cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.api_client import ApiClient

START_TIMEOUT = 20.0


class GuiProcess:
    def __init__(self, tmp_path: Path, *extra: str) -> None:
        self.profile = tmp_path / "profile"
        self.log_path = tmp_path / "gui.log"
        cmd = [sys.executable, "-m", "softphone", "--profile", str(self.profile),
               "--sip-bind", "127.0.0.1", "--null-audio", *extra]
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONUNBUFFERED="1")
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_api(self) -> ApiClient:
        api_file = self.profile / "api.json"
        deadline = time.monotonic() + START_TIMEOUT
        while not api_file.exists():
            assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.log()}"
            assert time.monotonic() < deadline, "GUI did not start:\n" + self.log()
            time.sleep(0.05)
        return ApiClient.from_profile(self.profile)

    def wait(self, timeout: float = 15.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("GUI did not exit:\n" + self.log())


@pytest.fixture
def gui_process(tmp_path: Path):
    started: list[GuiProcess] = []

    def start(*extra: str) -> GuiProcess:
        started.append(GuiProcess(tmp_path, *extra))
        return started[-1]

    yield start
    for gui in started:
        if gui.proc.poll() is None:
            gui.proc.kill()
            gui.proc.wait()


def test_gui_starts_and_quits_over_the_api(gui_process):
    gui = gui_process("--sip-port", "0", "--api-port", "0")
    api = gui.wait_api()
    try:
        status = api.call("status")
        assert status["running"] is True
        assert status["audio_mode"] == "null"
        assert status["local_uri"].startswith("sip:agent@127.0.0.1:")
        assert api.call("app.quit") == {"quitting": True}
        assert gui.wait() == 0, gui.log()
    finally:
        api.close()
    log = gui.log()
    assert "SIP engine started" in log and "SIP engine stopped" in log
    assert "Traceback" not in log
    assert not (gui.profile / "api.json").exists()


def test_gui_quits_cleanly_on_sigterm(gui_process):
    gui = gui_process("--sip-port", "0", "--api-port", "0")
    gui.wait_api().close()
    gui.proc.send_signal(signal.SIGTERM)
    assert gui.wait() == 0, gui.log()
    assert "SIP engine stopped" in gui.log()


def test_gui_startup_error_exits_2_with_message(gui_process):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        gui = gui_process("--sip-port", str(port))
        assert gui.wait() == 2
    assert f"SIP UDP port {port} on 127.0.0.1 is already in use" in gui.log()
