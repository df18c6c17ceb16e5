"""Figure 5: CPU share of a 2-party call and of a 4-party conference host."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import peers, util
from bench.figures.common import Log, Samples, api, connect, local, start_conference
from bench.peers import Launched
from tests.helpers import tones
from tests.helpers.kamailio import Kamailio


def cpu_share(work: Path, kam: Kamailio, rounds: int, window: float, log: Log,
              pulse_env: dict[str, str] | None) -> Samples:
    """CPU of the caller during a 2-party G.711/G.722 call through Kamailio, and of
    the conference host (agent 1) during a 4-party local conference."""
    out = Samples()
    tone = tones.write_tone(work / "tone-600.wav", 600.0)
    # baresip's aufile source plays 8 kHz files only (G.711's rate).
    tone8k = tones.write_tone(work / "tone-600-8k.wav", 600.0, rate=8000)
    callee = peers.baresip(work, kam, "1002", answer="auto", name="callee",
                           audio_source=f"aufile,{tone8k}")
    target = kam.aor("1002")
    try:
        for r in range(rounds):
            out.loads.append(util.load_average())
            variants: list[tuple[str, Callable[[], Launched]]] = [
                ("ours-null", lambda: peers.ours(
                    work, kam, "1001", extra_args=["--audio-in", str(tone),
                                                   "--audio-out", str(work / "o.wav")])),
                ("baresip", lambda: peers.baresip(work, kam, "2001",
                                                  audio_source=f"aufile,{tone8k}",
                                                  audio_player="alsa,null")),
            ]
            if pulse_env is not None:
                penv = {"PULSE_SERVER": pulse_env["PULSE_SERVER"]}
                variants.insert(1, ("ours-soundcard", functools.partial(
                    peers.ours, work, kam, "1001",
                    extra_args=["--mic", "mic.monitor", "--speaker", "spk"], env_extra=penv)))
            for name, launch in variants:
                p = launch()
                try:
                    if p.api is not None:
                        api(p).wait_event("registration", lambda e: e["state"] == "registered")
                        mark = api(p).mark()
                        cid = api(p).call("call.make", uri=target)["call_id"]
                        api(p).wait_call_state(cid, "confirmed", since=mark)
                    else:
                        assert p.ctrl is not None
                        time.sleep(0.5)
                        p.ctrl.send("dial", target)
                        p.ctrl.wait_event("CALL_ESTABLISHED")
                    time.sleep(1.0)
                    cpu = util.measure_cpu(p.pid, window)
                    out.add(f"{name}:call_cpu_pct", cpu.cpu_percent)
                    out.add(f"{name}:call_wakeups_per_s", cpu.wakeups_per_s)
                    log(f"  round {r + 1} 2-party {name}: {cpu.cpu_percent:.2f} % "
                        f"(load {util.load_average():.2f})")
                except Exception as exc:
                    out.notes.append(f"2-party {name} round {r + 1}: {exc}")
                    log(f"  round {r + 1} 2-party {name}: FAILED {exc}")
                finally:
                    peers.terminate(p)
            conf = _conference_cpu(work, window)
            out.add("conference:host_cpu_pct", conf.cpu_percent)
            out.add("conference:host_wakeups_per_s", conf.wakeups_per_s)
            log(f"  round {r + 1} 4-party host: {conf.cpu_percent:.2f} % "
                f"(load {util.load_average():.2f})")
    finally:
        peers.terminate(callee)
    return out


@dataclass
class Floor:
    customer: Launched
    alice: Launched
    bob: Launched
    carol: Launched

    def all(self) -> list[Launched]:
        return [self.customer, self.alice, self.bob, self.carol]


def _four_way(work: Path) -> Floor:
    floor = Floor(*(
        local(work, name, ["--four-way"] if name == "alice" else None,
              (tones.write_tone(work / f"{name}.wav", f), work / f"{name}-all.wav"))
        for name, f in (("customer", 600.0), ("alice", 1000.0), ("bob", 1450.0),
                        ("carol", 2100.0))))
    _, a_call = connect(floor.customer, floor.alice)
    start_conference(floor.alice, a_call, floor.bob, peers.ours_uri(floor.bob),
                     floor.carol, peers.ours_uri(floor.carol))
    return floor


def _conference_cpu(work: Path, window: float) -> util.CpuWindow:
    floor = _four_way(work)
    try:
        time.sleep(1.0)
        return util.measure_cpu(floor.alice.pid, window)
    finally:
        for p in floor.all():
            peers.terminate(p)
