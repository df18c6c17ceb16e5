"""Run the real app as a separate headless process and drive it by its API.

pjsua2 allows one endpoint per process, so every softphone in a test is its
own process talking SIP on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.helpers.api_client import ApiClient

START_TIMEOUT = 20.0


class HeadlessInstance:
    """One ``softphone --headless`` process.

    Its SIP and API ports are always picked by the kernel at bind time
    (``--sip-port 0 --api-port 0``) and read back from ``api.json``: a port
    number chosen beforehand can be taken by another process (a parallel
    test, another test run on the machine) before the instance binds it.

    Attributes:
        name: label used for its profile dir and log file.
        profile: its --profile directory (api.json lives there).
        api: an authenticated :class:`ApiClient` once started.
        sip_uri: the local account's URI from api.json.
        sip_port: the SIP port it bound (UDP and TCP), from api.json.
        null_audio: pass ``--null-audio``; None: unless both audio files are given.
    """

    def __init__(self, base: Path, name: str, *, audio_in: Path | None = None,
                 audio_out: Path | None = None, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None, null_audio: bool | None = None) -> None:
        self.name = name
        self.base = base
        self.profile = base / name
        self.profile.mkdir(parents=True, exist_ok=True)
        self.log_path = base / f"{name}.log"
        self.audio_in = audio_in
        self.audio_out = audio_out
        self.extra_args = extra_args or []
        self.env = env
        self.null_audio = null_audio
        self.proc: subprocess.Popen[bytes] | None = None
        self.api: ApiClient | None = None
        self.sip_uri = ""
        self.sip_port = 0
        self.info: dict[str, Any] = {}

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "softphone", "--headless", "--profile", str(self.profile),
               "--api-port", "0", "--sip-bind", "127.0.0.1", "--sip-port", "0",
               "--sip-user", self.name, "--log-level", "DEBUG"]
        if self.audio_in:
            cmd += ["--audio-in", str(self.audio_in)]
        if self.audio_out:
            cmd += ["--audio-out", str(self.audio_out)]
        null_audio = self.null_audio
        if null_audio is None:
            null_audio = not (self.audio_in and self.audio_out)
        if null_audio:
            cmd += ["--null-audio"]
        return cmd + self.extra_args

    def start(self) -> HeadlessInstance:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONUNBUFFERED="1")
        env.update(self.env or {})
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         env=env)
        api_file = self.profile / "api.json"
        deadline = time.monotonic() + START_TIMEOUT
        while not api_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} at start:\n"
                                   + self.log_text()[-3000:])
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start in {START_TIMEOUT} s")
            time.sleep(0.02)
        self.info = json.loads(api_file.read_text())
        self.sip_uri = self.info["sip_uri"]
        self.sip_port = int(self.sip_uri.rsplit(":", 1)[1])
        self.api = ApiClient(self.info["port"], self.info["token"])
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0, use_signal: bool = True) -> int:
        """Ask for a clean shutdown and return the exit status."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            if use_signal:
                self.proc.send_signal(signal.SIGTERM)
            else:
                assert self.api is not None
                self.api.call("app.quit")
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"{self.name} did not exit in {timeout} s") from None
        finally:
            if self.api is not None:
                self.api.close()
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.api is not None:
            self.api.close()
