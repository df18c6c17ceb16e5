"""Subprocess for the endpoint-configuration tests: one real SipEngine with the
shipped defaults, asked what PJSIP was actually configured with.

Run as ``python endpoint_child.py``. Prints one JSON line:

- ``codecs``: ``[[codec id, priority], ...]`` from ``ep.codecEnum2()``;
- ``stream``: codec, clock rate and VAD setting of the audio stream of a
  real call (the engine calls its own local account and answers);
- ``default_vad``: the G722 codec's own VAD default (what noVad overrides);
- ``max_live_calls``: how many pjsua calls were alive at once when
  ``makeCall`` started refusing, and ``refusal``: its error;
- ``configured_max_calls`` / ``endpoint_max_calls``: EngineConfig's value and
  what the endpoint says pjsua allows;
- ``idle_clock_wakeups`` / ``call_clock_wakeups``: wake-ups of PJSIP's media
  clock thread over 1 s, idle 1.5 s after start-up and during the first call,
  and ``rtp_sent_in_1s``: RTP packets the caller sent in that second of the call.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable


def clock_wakeups() -> int:
    """Voluntary context switches so far of the threads PJSIP names "clock"."""
    total = 0
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/comm") as comm:
            if comm.read().strip() != "clock":
                continue
        with open(f"/proc/self/task/{task}/status") as status:
            total += sum(int(line.split()[1]) for line in status
                         if line.startswith("voluntary_ctxt_switches"))
    return total


def main() -> int:
    from PySide6.QtCore import QCoreApplication

    from softphone.core.calls import CallDirection, CallState
    from softphone.core.errors import SipError
    from softphone.sip.config import AudioConfig, EngineConfig
    from softphone.sip.engine import SipEngine

    app = QCoreApplication([])
    engine = SipEngine(EngineConfig(bind_address="127.0.0.1", sip_port=0,
                                    audio=AudioConfig(use_soundcard=False)))
    engine.start()
    calls = engine.calls

    def pump_until(done: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError("the engine did not get there in time")
            engine.endpoint.ep.libHandleEvents(10)  # waits for network events
            app.processEvents()

    def inbound(state: CallState) -> list[str]:
        return [r.call_id for r in calls.records()
                if r.direction == CallDirection.INBOUND and r.state == state]

    ep = engine.endpoint.ep
    result: dict[str, object] = {
        "codecs": [[str(c.codecId), int(c.priority)] for c in ep.codecEnum2()],
        "default_vad": bool(ep.codecGetParam("G722/16000/1").setting.vad),
        "configured_max_calls": engine.config.max_calls,
        "endpoint_max_calls": engine.endpoint.max_calls,
    }
    def clock_wakeups_over_1s() -> int:
        before = clock_wakeups()
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            ep.libHandleEvents(10)
            app.processEvents()
        return clock_wakeups() - before

    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        ep.libHandleEvents(10)
    result["idle_clock_wakeups"] = clock_wakeups_over_1s()
    # A real call: the codec negotiated and the stream's VAD setting.
    out = calls.make_call(engine.local_uri, hold_others=False)
    pump_until(lambda: bool(inbound(CallState.INCOMING) or inbound(CallState.EARLY)))
    (ringing,) = inbound(CallState.INCOMING) or inbound(CallState.EARLY)
    calls.answer(ringing)
    out_rec = calls.get(out)
    pump_until(lambda: out_rec.state == CallState.CONFIRMED and out_rec.media_active)
    assert out_rec.pj_call is not None
    si = out_rec.pj_call.getStreamInfo(0)
    param = si.audCodecParam
    result["stream"] = {"codec": str(si.codecName), "clock_rate": int(si.codecClockRate),
                        "vad": bool(param.setting.vad)}
    sent_before = int(out_rec.pj_call.getStreamStat(0).rtcp.txStat.pkt)
    result["call_clock_wakeups"] = clock_wakeups_over_1s()
    result["rtp_sent_in_1s"] = int(out_rec.pj_call.getStreamStat(0).rtcp.txStat.pkt) - sent_before
    # More calls until pjsua refuses one (each self-call is two pjsua calls).
    def live() -> int:
        return len([r for r in calls.records() if r.state != CallState.DISCONNECTED])

    def both_legs_up(before: int) -> Callable[[], bool]:
        return lambda: live() >= before + 2 or bool(inbound(CallState.DISCONNECTED))

    refusal = ""
    for _ in range(40):
        up = both_legs_up(live())
        try:
            calls.make_call(engine.local_uri, hold_others=False)
        except SipError as exc:
            refusal = str(exc)
            break
        pump_until(up)
    result["max_live_calls"] = live()
    result["refusal"] = refusal
    print(json.dumps(result), flush=True)
    engine.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
