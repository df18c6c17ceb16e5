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
from collections.abc import Callable
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

    :meth:`launch` starts the process without waiting (so that a test's
    softphones load side by side); the first use of :attr:`api`,
    :attr:`info`, :attr:`sip_uri` or :attr:`sip_port` waits until it is up,
    through ``ready_hook`` when given (the factory's: it waits for every
    sibling, so that no test step runs while one is still loading).

    Attributes:
        name: label used for its profile dir and log file.
        profile: its --profile directory (api.json lives there).
        api: an authenticated :class:`ApiClient` (waits until it is up).
        info: the contents of its api.json (waits until it is up).
        sip_uri: the local account's URI from api.json (waits until it is up).
        sip_port: the SIP port it bound (UDP and TCP), from api.json.
        null_audio: pass ``--null-audio``; None: unless both audio files are given.
    """

    def __init__(self, base: Path, name: str, *, audio_in: Path | None = None,
                 audio_out: Path | None = None, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None, null_audio: bool | None = None,
                 ready_hook: Callable[[], None] | None = None) -> None:
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
        self._ready_hook = ready_hook
        self._api: ApiClient | None = None
        self._info: dict[str, Any] = {}
        self._stop_requested = False
        self._launched_at = 0.0

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

    def launch(self) -> HeadlessInstance:
        """Start the process; does not wait for it to be up."""
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONUNBUFFERED="1")
        env.update(self.env or {})
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         env=env)
        self._launched_at = time.monotonic()
        return self

    def wait_ready(self) -> HeadlessInstance:
        """Wait until it has written api.json (at once when it has already)."""
        if self._api is not None:
            return self
        assert self.proc is not None, f"{self.name} was never launched"
        api_file = self.profile / "api.json"
        deadline = self._launched_at + START_TIMEOUT
        while not api_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} at start:\n"
                                   + self.log_text()[-3000:])
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start in {START_TIMEOUT} s")
            time.sleep(0.02)
        self._info = json.loads(api_file.read_text())
        self._api = ApiClient(self._info["port"], self._info["token"])
        return self

    def start(self) -> HeadlessInstance:
        """Launch and wait until it is up."""
        return self.launch().wait_ready()

    def _ready(self) -> None:
        if self._api is None:
            if self._ready_hook is not None:
                self._ready_hook()  # the siblings too
            self.wait_ready()

    @property
    def api(self) -> ApiClient:
        self._ready()
        assert self._api is not None
        return self._api

    @property
    def info(self) -> dict[str, Any]:
        self._ready()
        return self._info

    @property
    def sip_uri(self) -> str:
        return str(self.info["sip_uri"])

    @property
    def sip_port(self) -> int:
        return int(self.sip_uri.rsplit(":", 1)[1])

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def request_stop(self) -> None:
        """Ask for a clean shutdown (SIGTERM) without waiting for it."""
        if self.proc is not None and self.proc.poll() is None and not self._stop_requested:
            self.proc.send_signal(signal.SIGTERM)
            self._stop_requested = True

    def stop(self, timeout: float = 15.0, use_signal: bool = True) -> int:
        """Ask for a clean shutdown (unless :meth:`request_stop` did) and
        return the exit status."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None and not self._stop_requested:
            if use_signal:
                self.request_stop()
            else:
                self.api.call("app.quit")
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"{self.name} did not exit in {timeout} s") from None
        finally:
            if self._api is not None:
                self._api.close()
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._api is not None:
            self._api.close()
