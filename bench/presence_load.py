"""Presence load for figure 7: PUBLISH with PIDF bodies for many presentities
at a steady rate (``python -m bench.presence_load``).

One UDP socket sends ``PUBLISH`` (``Event: presence``) straight to the lab
Kamailio for the users ``--first`` .. ``--first + --count - 1`` (AORs
``sip:<user>@<domain>``), each with a PIDF document whose tuple note is one of
our agent-state labels (what :func:`softphone.core.agent_state.presence_note`
writes), so a watcher sees a real agent-state change every time. Every
presentity keeps one publication: the ``SIP-ETag`` of its last 200 is sent back
in ``SIP-If-Match`` (a 412 starts a new publication), so the presence server
never aggregates stale tuples.

The lab script (tests/helpers/kamailio.py) challenges requests whose From is in
its domain; a From in another domain addressed to one of its users is let
through without credentials (like a call from outside), so the generator uses
``sip:presence-load@bench.invalid`` and needs no subscriber rows for the 2,000
presentities.

Phases: first every presentity once as fast as ``--prime-rate`` allows (the
contact centre is running when the GUI starts), ``primed`` on stdout; then,
once a line ``go`` arrives on stdin, ``--rate`` changes per second, round robin
in a shuffled order, until stdin is closed (or a line ``stop`` arrives); then
one JSON line of counts on stdout (with the changes published per user).
A line ``count`` is answered ``count N`` (PUBLISH sent so far).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import selectors
import socket
import sys
import time
from dataclasses import dataclass, field

# A state sequence in which every step differs from the one before.
STATES = ("Available", "Talking", "After Call Work", "Available", "Not Ready: Break",
          "Available", "Talking", "After Call Work", "Not Ready: Lunch")
ANSWER_TIMEOUT_S = 4.0


@dataclass
class Presentity:
    user: str
    call_id: str = field(default_factory=lambda: secrets.token_hex(10))
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    cseq: int = 0
    etag: str = ""
    step: int = 0


def pidf(entity: str, note: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="{entity}">'
        f'<tuple id="t{secrets.token_hex(3)}"><status><basic>open</basic></status>'
        f"<note>{note}</note></tuple></presence>").encode()


class Commands:
    """Lines from stdin, read unbuffered (the selector watches the descriptor)."""

    def __init__(self) -> None:
        self.buf = b""

    def lines(self) -> list[str | None]:
        """Complete lines waiting now; None at end of input."""
        data = os.read(sys.stdin.fileno(), 4096)
        if not data:
            return [None]
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        return [line.decode().strip() for line in lines]

    def wait(self) -> str | None:
        """The next line (blocking); None at end of input."""
        while True:
            if b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                return line.decode().strip()
            data = os.read(sys.stdin.fileno(), 4096)
            if not data:
                return None
            self.buf += data


class Publisher:
    def __init__(self, proxy: tuple[str, int], domain: str, users: list[str]) -> None:
        self.stdin = Commands()
        self.proxy = proxy
        self.domain = domain
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((proxy[0], 0))
        self.sock.setblocking(False)
        self.local = self.sock.getsockname()
        self.presentities = {u: Presentity(u) for u in users}
        self.by_call = {p.call_id: p for p in self.presentities.values()}
        self.pending: dict[str, float] = {}  # branch -> sent at
        self.counts: dict[str, int] = {"sent": 0, "ok": 0, "timeouts": 0}

    def publish(self, p: Presentity) -> None:
        p.cseq += 1
        p.step = (p.step + 1) % len(STATES)
        aor = f"sip:{p.user}@{self.domain}"
        body = pidf(aor, STATES[p.step])
        branch = "z9hG4bK" + secrets.token_hex(8)
        lines = [
            f"PUBLISH {aor} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.local[0]}:{self.local[1]};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:presence-load@bench.invalid>;tag={p.tag}",
            f"To: <{aor}>",
            f"Call-ID: {p.call_id}",
            f"CSeq: {p.cseq} PUBLISH",
            "Event: presence",
            "Expires: 3600",
        ]
        if p.etag:
            lines.append(f"SIP-If-Match: {p.etag}")
        lines += ["Content-Type: application/pidf+xml", f"Content-Length: {len(body)}", "", ""]
        data = "\r\n".join(lines).encode() + body
        self.sock.sendto(data, self.proxy)
        self.pending[branch] = time.monotonic()
        self.counts["sent"] += 1

    def read(self) -> None:
        while True:
            try:
                data = self.sock.recv(65535)
            except BlockingIOError:
                break
            self._answer(data.decode("utf-8", "replace"))
        now = time.monotonic()
        for branch, sent in list(self.pending.items()):
            if now - sent > ANSWER_TIMEOUT_S:
                del self.pending[branch]
                self.counts["timeouts"] += 1

    def _answer(self, text: str) -> None:
        head = text.split("\r\n\r\n", 1)[0].split("\r\n")
        if not head[0].startswith("SIP/2.0 "):
            return
        code = int(head[0].split()[1])
        if code < 200:
            return
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        branch = headers.get("via", "").partition("branch=")[2].split(";")[0]
        if self.pending.pop(branch, None) is None:
            return
        p = self.by_call.get(headers.get("call-id", ""))
        if code == 200:
            self.counts["ok"] += 1
            if p is not None:
                p.etag = headers.get("sip-etag", p.etag)
        else:
            key = f"status_{code}"
            self.counts[key] = self.counts.get(key, 0) + 1
            if p is not None and code == 412:
                p.etag = ""  # the publication is gone: start a new one

    def run(self, rate: float, until: selectors.BaseSelector, order: list[Presentity],
            once: bool = False) -> bool:
        """Publish at ``rate`` per second round robin over ``order`` (once through
        it if ``once``); returns False when told to stop."""
        interval = 1.0 / rate
        next_at = time.monotonic()
        i = 0
        while True:
            timeout = max(0.0, next_at - time.monotonic())
            for key, _ in until.select(timeout):
                if key.fileobj is self.sock:
                    self.read()
                    continue
                for line in self.stdin.lines():
                    if line is None or line == "stop":
                        return False
                    if line == "count":
                        print(f"count {self.counts['sent']}", flush=True)
            now = time.monotonic()
            while now >= next_at:
                self.publish(order[i % len(order)])
                i += 1
                next_at += interval
                if once and i >= len(order):
                    return True
            if next_at < now - 1.0:  # fell behind by more than a second: do not burst
                next_at = now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.presence_load", description=__doc__)
    parser.add_argument("--proxy", required=True, help="HOST:PORT of the presence server (UDP)")
    parser.add_argument("--domain", required=True, help="domain of the presentities' AORs")
    parser.add_argument("--first", type=int, required=True, help="first user (a number)")
    parser.add_argument("--count", type=int, required=True, help="how many presentities")
    parser.add_argument("--rate", type=float, default=100.0, help="changes per second")
    parser.add_argument("--prime-rate", type=float, default=1000.0,
                        help="PUBLISH per second while giving everyone a first state")
    args = parser.parse_args(argv)
    host, _, port = args.proxy.rpartition(":")
    users = [str(args.first + i) for i in range(args.count)]
    pub = Publisher((host, int(port)), args.domain, users)
    sel = selectors.DefaultSelector()
    sel.register(pub.sock, selectors.EVENT_READ)
    sel.register(sys.stdin, selectors.EVENT_READ)
    order = list(pub.presentities.values())
    started = time.monotonic()
    going = pub.run(args.prime_rate, sel, order, once=True)
    # The last answers of the first round.
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while pub.pending and time.monotonic() < deadline:
        sel.select(0.05)
        pub.read()
    primed = dict(pub.counts)
    print(f"primed {json.dumps(primed)}", flush=True)
    random.Random(9).shuffle(order)
    while going:  # changes start on a line "go"
        line = pub.stdin.wait()
        if line == "count":
            print(f"count {pub.counts['sent']}", flush=True)
            continue
        going = line == "go"
        break
    steady_start = time.monotonic()
    steady_sent = pub.counts["sent"]
    if going:
        pub.run(args.rate, sel, order)
    time.sleep(0.2)
    pub.read()
    elapsed = time.monotonic() - steady_start
    result = {**pub.counts, "primed": primed, "seconds": round(time.monotonic() - started, 1),
              "steady_rate": round((pub.counts["sent"] - steady_sent) / elapsed, 1)
              if elapsed > 0 else 0.0,
              # user -> state changes published after the first state
              "changes": {p.user: p.cseq - 1 for p in pub.presentities.values() if p.cseq > 1}}
    print("done " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
