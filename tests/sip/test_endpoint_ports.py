"""Which SIP port the endpoint binds when the wanted one is taken."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.ports import HOST, free_port, port_is_free

CHILD = Path(__file__).with_name("port_child.py")
ROOT = Path(__file__).resolve().parents[2]


def run_child(port: int, fallback: bool) -> dict[str, object]:
    proc = subprocess.run([sys.executable, str(CHILD), str(port), "1" if fallback else "0"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env=dict(os.environ, QT_QPA_PLATFORM="offscreen",
                                   PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stdout + proc.stderr[-3000:]
    result: dict[str, object] = json.loads(lines[-1])
    return result


@pytest.fixture
def tcp_only_taken() -> Iterator[int]:
    """A port whose TCP side is held by a listener and whose UDP side is free."""
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, port))
        s.listen()
        assert port_is_free(port, tcp=False)
        yield port


def test_taken_tcp_side_of_an_explicit_port_is_a_clear_error(tcp_only_taken: int):
    result = run_child(tcp_only_taken, fallback=False)
    assert result == {"error": f"SIP TCP port {tcp_only_taken} on 127.0.0.1 is already in use"}


def test_taken_tcp_side_of_the_default_port_falls_back_to_a_free_pair(tcp_only_taken: int):
    result = run_child(tcp_only_taken, fallback=True)
    port = result.get("port")
    assert isinstance(port, int) and port not in (0, tcp_only_taken), result
