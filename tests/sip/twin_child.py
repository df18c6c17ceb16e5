"""Run ``softphone --headless --sip-port 0`` in a private network namespace
whose ephemeral port range is tiny, with TCP listeners holding some of it.

Run as ``unshare -rn python twin_child.py LOW HIGH HELD PROFILE`` (HELD: comma
separated TCP ports to hold). The kernel then picks the instance's UDP port
from LOW..HIGH, so a pick whose TCP twin is taken is no longer luck. Prints
one JSON line: ``exit`` (status after SIGTERM, or at start-up), ``sip_port``
(from api.json, None if it never started), ``retried`` (the log says a pick
was taken), ``stderr``.
"""

from __future__ import annotations

import fcntl
import json
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
# Outside the tiny range, so the automation API cannot take the SIP port's twin.
API_PORT = 20000
START_TIMEOUT = 30.0


def loopback_up() -> None:
    with socket.socket() as s:
        ifr = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def main() -> int:
    low, high, held, profile = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    Path("/proc/sys/net/ipv4/ip_local_port_range").write_text(f"{low} {high}\n")
    loopback_up()
    listeners = []
    for port in filter(None, held.split(",")):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", int(port)))
        s.listen()
        listeners.append(s)
    out, err = profile.with_suffix(".out"), profile.with_suffix(".err")
    with out.open("wb") as out_fh, err.open("wb") as err_fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "softphone", "--headless", "--profile", str(profile),
             "--sip-bind", "127.0.0.1", "--sip-port", "0", "--api-port", str(API_PORT),
             "--null-audio", "--log-level", "DEBUG"], stdout=out_fh, stderr=err_fh)
    api_file = profile / "api.json"
    deadline = time.monotonic() + START_TIMEOUT
    while not api_file.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # polling for the file the instance writes when ready
    sip_port = None
    if api_file.exists():
        sip_port = int(json.loads(api_file.read_text())["sip_uri"].rsplit(":", 1)[1])
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    code = proc.wait(30)
    log = out.read_text(errors="replace") + err.read_text(errors="replace")
    print(json.dumps({"exit": code, "sip_port": sip_port, "stderr": err.read_text()[-3000:],
                      "retried": "is in use; using a free port" in log}), flush=True)
    for s in listeners:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
