"""Figure 7's stall probe: ``status`` to the app every 10 ms on its own API
connection, in its own process (``python -m bench.pinger PORT TOKEN OUT``).

The API is served on the app's Qt main thread, so a reply waits for whatever
holds the event loop: each round trip bounds the stall at that moment. Its own
process keeps the benchmark's other threads (reading thousands of events) off
the probe's clock; event lines on this connection are skipped unparsed.

Runs until stdin is closed, then writes ``[[sent_at, reply_ms], ...]``
(``sent_at`` = ``time.monotonic()``, the same clock in every process) to OUT.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

INTERVAL_S = 0.010
REPLY_PREFIX = b'{"jsonrpc":"2.0","id":'


def main(argv: list[str] | None = None) -> int:
    port_text, token, out = (argv if argv is not None else sys.argv[1:])[:3]
    sock = socket.create_connection(("127.0.0.1", int(port_text)), timeout=120)
    stop = threading.Event()
    def wait_for_eof() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    buf = b""

    def call(req_id: int, method: str, params: dict[str, str]) -> None:
        nonlocal buf
        sock.sendall(json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method,
                                 "params": params}).encode() + b"\n")
        while True:
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.startswith(REPLY_PREFIX):
                    return
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("the app closed the API connection")
            buf += chunk

    call(1, "auth", {"token": token})
    samples: list[tuple[float, float]] = []
    req_id = 1
    print("ready", flush=True)
    while not stop.is_set():
        req_id += 1
        t0 = time.monotonic()
        call(req_id, "status", {})
        t1 = time.monotonic()
        samples.append((t0, 1000 * (t1 - t0)))
        time.sleep(max(0.0, INTERVAL_S - (t1 - t0)))
    sock.close()
    with open(out, "w") as fh:
        json.dump(samples, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
