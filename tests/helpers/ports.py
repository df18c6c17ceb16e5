"""Free local ports picked at run time (other processes may hold 5060/5061)."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

HOST = "127.0.0.1"
# Lowest port we pick: below are our softphones' RTP ports (10000-19999,
# softphone.sip.accounts), well-known and registered services.
PRIVATE_LOW = 20000
# Ports handed out lately by this test process: a fixture that picked one has
# usually not bound it yet, so the next pick must not return it again.
_RECENT: dict[int, float] = {}
RECENT_S = 120.0


def _bindable(port: int, kind: int, host: str = HOST) -> bool:
    s = socket.socket(socket.AF_INET, kind)
    try:
        if kind == socket.SOCK_STREAM:
            # Servers (Kamailio, PJSIP) set SO_REUSEADDR: a port whose old
            # connections linger in TIME_WAIT is free for them, so for us too.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def port_is_free(port: int, *, udp: bool = True, tcp: bool = True, host: str = HOST) -> bool:
    """True when ``port`` can be bound on ``host`` for the protocols asked for."""
    return ((not udp or _bindable(port, socket.SOCK_DGRAM, host))
            and (not tcp or _bindable(port, socket.SOCK_STREAM, host)))


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(*, udp: bool = True, tcp: bool = True, exclude: set[int] | None = None,
              host: str = HOST) -> int:
    """A port number free for UDP and/or TCP on ``host`` right now.

    Chosen below the kernel's ephemeral range when possible: a server that is
    restarted on the same port (Kamailio) must not find it taken in between
    by some process's outgoing connection, which gets an ephemeral port.
    """
    now = time.monotonic()
    for port, when in list(_RECENT.items()):
        if now - when > RECENT_S:
            del _RECENT[port]
    exclude = (exclude or set()) | set(_RECENT)
    port = _pick(udp=udp, tcp=tcp, exclude=exclude, host=host)
    _RECENT[port] = now
    return port


def _pick(*, udp: bool, tcp: bool, exclude: set[int], host: str) -> int:
    low, _ = _ephemeral_range()
    if low > PRIVATE_LOW + 1000:
        for _ in range(200):
            port = random.randrange(PRIVATE_LOW, low)
            if port not in exclude and port_is_free(port, udp=udp, tcp=tcp, host=host):
                return port
    # Fall back to a port the kernel picks.
    for _ in range(200):
        kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if port not in exclude and port_is_free(port, udp=udp, tcp=tcp, host=host):
            return port
    raise RuntimeError("no free port found")


def free_ports(count: int, *, udp: bool = True, tcp: bool = True, host: str = HOST) -> list[int]:
    """``count`` distinct free ports."""
    ports: list[int] = []
    for _ in range(count):
        ports.append(free_port(udp=udp, tcp=tcp, exclude=set(ports), host=host))
    return ports


def wait_ports_free(ports: list[tuple[int, bool, bool]], timeout: float = 10.0,
                    host: str = HOST) -> None:
    """Wait until every ``(port, udp, tcp)`` can be bound again (after a server stopped)."""
    deadline = time.monotonic() + timeout
    while True:
        busy = [p for p, udp, tcp in ports if not port_is_free(p, udp=udp, tcp=tcp, host=host)]
        if not busy:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"ports {busy} on {host} still in use after {timeout} s")
        time.sleep(0.05)
