"""Figures 3 and 4: call setup through Kamailio, transfers on loopback."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

from bench import peers, util
from bench.figures.common import Log, Samples, api, connect, local
from bench.peers import Launched
from tests.helpers.kamailio import Kamailio


def call_setup(work: Path, kam: Kamailio, calls: int, log: Log) -> Samples:
    """Dial to CONFIRMED at the caller, through Kamailio, to one auto-answering baresip.

    Ours: ``call.make`` sent -> ``call.state confirmed`` event read. baresip: ``dial``
    sent on ctrl_tcp -> ``CALL_ESTABLISHED`` read. The callee is the same for both.
    """
    out = Samples()
    callee = peers.baresip(work, kam, "1002", answer="auto", name="callee")
    me = peers.ours(work, kam, "1001")
    bs = peers.baresip(work, kam, "2001")
    try:
        api(me).wait_event("registration", lambda e: e["state"] == "registered", timeout=10)
        time.sleep(1.0)
        target = kam.aor("1002")
        for i in range(calls):
            out.loads.append(util.load_average())
            # ours
            mark = api(me).mark()
            t0 = time.perf_counter()
            cid = api(me).call("call.make", uri=target)["call_id"]
            api(me).wait_call_state(cid, "confirmed", since=mark)
            out.add("ours:setup_ms", 1000 * (time.perf_counter() - t0))
            api(me).call("call.hangup", call_id=cid)
            api(me).wait_call_state(cid, "disconnected", since=mark)
            time.sleep(0.1)
            # baresip
            assert bs.ctrl is not None
            t0 = time.perf_counter()
            bs.ctrl.send("dial", target)
            bs.ctrl.wait_event("CALL_ESTABLISHED")
            out.add("baresip:setup_ms", 1000 * (time.perf_counter() - t0))
            bs.ctrl.send("hangup")
            bs.ctrl.wait_event("CALL_CLOSED")
            time.sleep(0.1)
            if (i + 1) % 10 == 0:
                log(f"  {i + 1} calls each (load {util.load_average():.2f})")
    finally:
        for p in (me, bs, callee):
            peers.terminate(p)
    return out


# -- 4: transfers on loopback -------------------------------------------------------------

def _auto_answer(inst: Launched, stop: threading.Event) -> threading.Thread:
    """Answer every call presented to ``inst`` as soon as its event is read."""
    def run() -> None:
        seen = 0
        while not stop.is_set():
            try:
                ev = api(inst).wait_event("call.state", lambda e: e["state"] == "incoming",
                                          timeout=0.5, since=seen)
            except TimeoutError:
                continue
            seen = api(inst).events.index(ev) + 1
            with contextlib.suppress(Exception):
                api(inst).call("call.answer", call_id=ev["call_id"])

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _ack_to(packets: list[util.SipPacket], dst: int, since: float, src: int | None = None
            ) -> float | None:
    for p in packets:
        if (p.time >= since and p.dst == dst and p.first_line.startswith("ACK ")
                and (src is None or p.src == src)):
            return p.time
    return None


def _first(packets: list[util.SipPacket], since: float, method: str, dst: int | None = None
           ) -> util.SipPacket | None:
    for p in packets:
        if p.time >= since and p.first_line.startswith(method + " ") and (
                dst is None or p.dst == dst):
            return p
    return None


def transfers(work: Path, rounds: int, log: Log) -> Samples:
    out = Samples()
    cust = local(work, "customer")
    alice = local(work, "alice")
    bob = local(work, "bob")
    stop = threading.Event()
    _auto_answer(bob, stop)
    try:
        api(alice).call("directory.set", directory={
            "agents": [{"id": "bob", "name": "Bob", "uri": peers.ours_uri(bob)}],
            "groups": [], "presets": [], "my_groups": []})
        for r in range(rounds):
            out.loads.append(util.load_average())
            ports = [cust.sip_port, alice.sip_port, bob.sip_port]
            # unsupervised: REFER leaves alice -> bob is connected to the customer
            with util.Capture(work / f"xfer-u-{r}.pcap", ports) as cap:
                _, a_call = connect(cust, alice)
                t_cmd = time.time()
                api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
                _wait_one_call(bob, "confirmed")
                time.sleep(0.2)
            pk = cap.sip()
            refer = _first(pk, t_cmd, "REFER", cust.sip_port)
            invite = _first(pk, t_cmd, "INVITE", bob.sip_port)
            if refer and invite:
                ack = _ack_to(pk, bob.sip_port, invite.time, cust.sip_port)
                out.add("unsupervised:refer_to_invite_ms", 1000 * (invite.time - refer.time))
                if ack:
                    out.add("unsupervised:refer_to_connected_ms", 1000 * (ack - refer.time))
                out.add("unsupervised:command_to_refer_ms", 1000 * (refer.time - t_cmd))
            _hangup_all(cust, alice, bob)
            # supervised: complete pressed -> the customer is connected to bob
            with util.Capture(work / f"xfer-s-{r}.pcap", ports) as cap:
                _, a_call = connect(cust, alice)
                mark = api(alice).mark()
                api(alice).call("transfer.supervised.start", call_id=a_call, target="agent:bob")
                api(alice).wait_event("transfer.progress", lambda e: e["phase"] == "consulting",
                                      since=mark)
                time.sleep(0.2)
                t_cmd = time.time()
                api(alice).call("transfer.supervised.complete", call_id=a_call)
                api(alice).wait_event("transfer.progress", lambda e: e["phase"] == "completed",
                                      since=mark)
                time.sleep(0.3)
            pk = cap.sip()
            replaces = next((p for p in pk if p.time >= t_cmd and p.dst == bob.sip_port
                             and p.src == cust.sip_port and p.first_line.startswith("INVITE ")),
                            None)
            if replaces:
                ack = _ack_to(pk, bob.sip_port, replaces.time, cust.sip_port)
                if ack:
                    out.add("supervised:complete_to_connected_ms", 1000 * (ack - t_cmd))
                refer = _first(pk, t_cmd, "REFER", cust.sip_port)
                if refer and ack:
                    out.add("supervised:refer_to_connected_ms", 1000 * (ack - refer.time))
            _hangup_all(cust, alice, bob)
        log(f"  {rounds} rounds of each (load {util.load_average():.2f})")
    finally:
        stop.set()
        for p in (cust, alice, bob):
            peers.terminate(p)
    return out


def _wait_one_call(inst: Launched, state: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls = api(inst).call("call.list")["calls"]
        if any(c["state"] == state for c in calls):
            return
        time.sleep(0.01)
    raise TimeoutError(f"{inst.name}: no {state} call")


def _hangup_all(*insts: Launched) -> None:
    for inst in insts:
        for c in api(inst).call("call.list")["calls"]:
            with contextlib.suppress(Exception):
                api(inst).call("call.hangup", call_id=c["call_id"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not any(api(i).call("call.list")["calls"] for i in insts):
            break
        time.sleep(0.05)
    time.sleep(0.3)
