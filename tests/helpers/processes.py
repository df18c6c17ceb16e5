"""Starting and stopping third-party peer processes (baresip, linphone, sipp)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def connect_while_running(proc: subprocess.Popen[bytes], connect: Callable[[], T], *,
                          timeout: float, what: str, log_text: Callable[[], str],
                          error: type[Exception]) -> T:
    """Retry ``connect`` until it succeeds; raise ``error`` (with the log's
    tail) if the process exits first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise error(f"{what} exited with {proc.returncode}:\n" + log_text()[-3000:])
        try:
            return connect()
        except OSError:
            if time.monotonic() > deadline:
                raise error(f"{what}'s control connection did not open in {timeout} s:\n"
                            + log_text()[-3000:]) from None
            time.sleep(0.02)


def kill_group(proc: subprocess.Popen[bytes], wait: float) -> None:
    """SIGTERM the process's group, wait up to ``wait`` s, then SIGKILL it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
