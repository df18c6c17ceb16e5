"""A private Xvfb server for the tests that need a real X display."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def private_xvfb(binary: str, screen: str) -> Iterator[str]:
    """Run ``binary`` (Xvfb) with one ``screen`` ("1280x800x24") and yield its
    display name (":N").

    -displayfd: Xvfb picks a free display and writes its number once it
    accepts clients, so there is nothing to poll and no race on a number.
    -noreset: without it the server resets each time its last client leaves
    and refuses clients for a moment; a test polling with xdotool (a client
    that comes and goes) then made an app starting at that moment fail with
    "could not connect to display".
    """
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [binary, "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp",
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
