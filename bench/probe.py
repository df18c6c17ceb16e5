"""A click-train probe on pjsua2 for the one-way delay figure (``python -m bench.probe``).

One process, two call legs, one conference-bridge clock: a WAV with a click every
second is sent on the *out* leg; a recorder in the same bridge takes what the *in*
leg receives plus (quietly) the click file itself as a time reference. Both reach the
recorder in the same bridge tick, so in the recording each click appears twice: the
reference at delay 0 and the copy that travelled out and back after the path's delay.

  * direct: the probe calls itself (out leg -> in leg): the baseline path, a pjsua2
    sender and a pjsua2 receiver with nothing in between.
  * relay:  the out leg is the customer of our softphone, which mixes it in its
    conference bridge and sends it on to the in leg (the probe is also the target).

Added delay of the hop = relay - direct (our receive half + bridge + send half).

Commands on stdin, one per line: ``call URI``, ``record PATH``, ``stop``, ``quit``.
Lines on stdout: ``ready PORT``, ``confirmed out|in``, ``recorded PATH``.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from typing import Any

import pjsua2 as pj

REFERENCE_LEVEL = 0.25


class Probe:
    def __init__(self, port: int, clicks: str) -> None:
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = 8
        cfg.logConfig.level = 1
        cfg.logConfig.consoleLevel = 1
        cfg.medConfig.noVad = True
        self.ep.libInit(cfg)
        tc = pj.TransportConfig()
        tc.port = port
        tc.boundAddress = "127.0.0.1"
        self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        for c in self.ep.codecEnum2():
            self.ep.codecSetPriority(c.codecId, 0)
        self.ep.codecSetPriority("PCMU/8000", 255)
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:probe@127.0.0.1:{port}"
        acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        self.acc = Account(self)
        self.acc.create(acfg)
        self.player = pj.AudioMediaPlayer()
        self.player.createPlayer(clicks)  # loops
        self.recorder: pj.AudioMediaRecorder | None = None
        self.out_call: Call | None = None
        self.in_calls: list[Call] = []

    def media(self, call: Call | None) -> Any:
        if call is None:
            return None
        ci = call.getInfo()
        for i, m in enumerate(ci.media):
            if m.type == pj.PJMEDIA_TYPE_AUDIO and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                return call.getAudioMedia(i)
        return None

    def relink(self) -> None:
        out = self.media(self.out_call)
        if out is not None:
            self.player.startTransmit(out)

    def record(self, path: str) -> None:
        self.recorder = pj.AudioMediaRecorder()
        self.recorder.createRecorder(path)
        prm = pj.AudioMediaTransmitParam()
        prm.level = REFERENCE_LEVEL
        self.player.startTransmit2(self.recorder, prm)
        for call in self.in_calls:
            m = self.media(call)
            if m is not None:
                m.startTransmit(self.recorder)

    def stop(self) -> None:
        if self.recorder is not None:
            self.player.stopTransmit(self.recorder)
            for call in self.in_calls:
                m = self.media(call)
                if m is not None:
                    m.stopTransmit(self.recorder)
            self.recorder = None


class Account(pj.Account):  # type: ignore[misc]
    def __init__(self, probe: Probe) -> None:
        super().__init__()
        self.probe = probe

    def onIncomingCall(self, prm: Any) -> None:
        call = Call(self.probe, "in", prm.callId)
        self.probe.in_calls.append(call)
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)


class Call(pj.Call):  # type: ignore[misc]
    def __init__(self, probe: Probe, leg: str, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(probe.acc, call_id)
        self.probe = probe
        self.leg = leg

    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            print(f"confirmed {self.leg}", flush=True)

    def onCallMediaState(self, prm: Any) -> None:
        self.probe.relink()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clicks", required=True)
    args = parser.parse_args()
    probe = Probe(args.port, args.clicks)
    commands: queue.Queue[str] = queue.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            commands.put(line.strip())
        commands.put("quit")

    threading.Thread(target=read_stdin, daemon=True).start()
    print(f"ready {args.port}", flush=True)
    while True:
        probe.ep.libHandleEvents(5)
        try:
            cmd = commands.get_nowait()
        except queue.Empty:
            continue
        verb, _, arg = cmd.partition(" ")
        if verb == "call":
            probe.out_call = Call(probe, "out")
            probe.out_call.makeCall(arg, pj.CallOpParam(True))
        elif verb == "record":
            probe.record(arg)
        elif verb == "stop":
            probe.stop()
            print("recorded", flush=True)
        elif verb == "quit":
            break
    probe.ep.hangupAllCalls()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        probe.ep.libHandleEvents(10)
    probe.out_call = None
    probe.in_calls.clear()
    del probe.player
    probe.ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)


if __name__ == "__main__":
    main()
