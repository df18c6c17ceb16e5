"""Subprocess driven by the sound-card tests: one pj.Endpoint plus a SoundCardBridge.

Run as ``python bridge_child.py CONFIG_JSON``. pjsua2 allows one endpoint per
process and sounddevice scans devices at import, so each scenario gets its own
process with its audio environment already set.

Config keys: capture, playback (device names or null), clock_rate, tone_wav
(played into bridge.media), record_wav (bridge.media recorded), no_portaudio
(make ``import sounddevice`` fail).

Protocol: one JSON object per stdout line. The child prints
``{"event": "ready", ...}`` (or ``{"event": "unavailable", "error": ...}`` when
``open()`` raised SoundCardUnavailable, then shuts down). Then it reads commands
from stdin, one per line, while pumping ``libHandleEvents``:
``status`` prints the bridge status; ``check`` calls ``bridge.check()`` first;
``quit`` shuts down in order and prints ``{"event": "bye"}``.
"""

from __future__ import annotations

import gc
import json
import os
import select
import sys
from typing import Any


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    config = json.loads(sys.argv[1])
    if config.get("no_portaudio"):
        sys.modules["sounddevice"] = None  # type: ignore[assignment]

    import pjsua2 as pj

    from softphone.sip.audio.devices import list_devices
    from softphone.sip.audio.soundcard import SoundCardBridge, SoundCardUnavailable

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    ep.libStart()

    bridge = SoundCardBridge(config.get("capture"), config.get("playback"),
                             clock_rate=config.get("clock_rate", 16000))
    player = recorder = None
    devices = [d.to_json() for d in list_devices()]
    try:
        bridge.open()
    except SoundCardUnavailable as exc:
        emit({"event": "unavailable", "error": str(exc), "devices": devices})
    else:
        if config.get("tone_wav"):
            player = pj.AudioMediaPlayer()
            player.createPlayer(config["tone_wav"], 0)
            player.startTransmit(bridge.media)
        if config.get("record_wav"):
            recorder = pj.AudioMediaRecorder()
            recorder.createRecorder(config["record_wav"])
            bridge.media.startTransmit(recorder)
        emit({"event": "ready", "devices": devices, "status": bridge.status()})
        serve(ep, bridge)
        if player is not None:
            player.stopTransmit(bridge.media)
        if recorder is not None:
            bridge.media.stopTransmit(recorder)

    bridge.close()
    del player, recorder, bridge
    gc.collect()
    ep.libDestroy()
    emit({"event": "bye"})
    return 0


def serve(ep: Any, bridge: Any) -> None:
    stdin = sys.stdin.fileno()
    pending = b""
    while True:
        ep.libHandleEvents(10)
        readable, _, _ = select.select([stdin], [], [], 0)
        if not readable:
            continue
        chunk = os.read(stdin, 4096)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            command = line.decode().strip()
            if command == "quit":
                return
            if command == "check":
                healthy = bridge.check()
                emit({"event": "status", "healthy": healthy, "status": bridge.status()})
            elif command == "status":
                emit({"event": "status", "status": bridge.status()})


if __name__ == "__main__":
    sys.exit(main())
