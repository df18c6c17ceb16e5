"""Figures 1 and 2: start-up to registered, idle memory and idle wake-ups."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bench import peers, util
from bench.figures.common import Log, Samples
from bench.peers import Launched
from tests.helpers.kamailio import Kamailio


def _wait_registered(cap: util.Capture, launched: Launched, kam: Kamailio,
                     timeout: float = 10.0) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if launched.proc.poll() is not None:
            return None
        reg = util.first_register_ok(cap.sip(), launched.t0, kam.udp_port, launched.sip_port)
        if reg is not None:
            return reg
        time.sleep(0.05)
    return None


def startup_and_memory(work: Path, kam: Kamailio, xvfb: util.Xvfb | None, rounds: int,
                       log: Log, idle_wait: float = 10.0, wake_window: float = 5.0
                       ) -> Samples:
    """Interleaved rounds: every app once per round, in the same order."""
    out = Samples()
    apps: list[tuple[str, Callable[[], Launched]]] = [
        ("ours-headless", lambda: peers.ours(work, kam, "1001")),
        ("baresip", lambda: peers.baresip(work, kam, "2001", ctrl=False)),
        ("linphonec", lambda: peers.linphonec(work, kam, "2002")),
    ]
    if xvfb is not None:
        display = xvfb.display
        apps += [
            ("ours-gui", lambda: peers.ours(work, kam, "1001", gui=True, display=display)),
            ("linphone-desktop", lambda: peers.linphone_desktop(work, kam, "2002", display)),
            ("twinkle", lambda: peers.twinkle(work, kam, "2001", display)),
        ]
    for r in range(rounds):
        for name, launch in apps:
            load = util.load_average()
            out.loads.append(load)
            watcher = util.MapWatcher(xvfb.display).start() if (
                xvfb is not None and name in ("ours-gui", "linphone-desktop", "twinkle")) else None
            cap = util.Capture(work / f"start-{name}-{r}.pcap", [kam.udp_port])
            cap.start()
            launched: Launched | None = None
            try:
                launched = launch()
                reg = _wait_registered(cap, launched, kam)
                if reg is not None:
                    out.add(f"{name}:registered_ms", 1000 * (reg - launched.t0))
                if watcher is not None:
                    win = watcher.first_large(launched.t0)
                    if win is not None:
                        out.add(f"{name}:window_ms", 1000 * (win - launched.t0))
                # Idle: 10 s after registering (or after start when it never registered).
                base = reg if reg is not None else launched.t0
                time.sleep(max(0.0, base + idle_wait - time.time()))
                pid = launched.pid
                mem = util.memory(pid)
                out.add(f"{name}:rss_mib", mem.rss_kib / 1024)
                out.add(f"{name}:pss_mib", mem.pss_kib / 1024)
                cpu = util.measure_cpu(pid, wake_window)
                out.add(f"{name}:wakeups_per_s", cpu.wakeups_per_s)
                out.add(f"{name}:idle_cpu_pct", cpu.cpu_percent)
                log(f"  round {r + 1} {name}: registered "
                    f"{'-' if reg is None else f'{1000 * (reg - launched.t0):.0f} ms'}, "
                    f"RSS {mem.rss_kib / 1024:.0f} MiB, PSS {mem.pss_kib / 1024:.0f} MiB, "
                    f"{cpu.wakeups_per_s:.1f} wake-ups/s (load {load:.2f})")
            except Exception as exc:  # a peer failing must not stop the others
                out.notes.append(f"{name} round {r + 1}: {exc}")
                log(f"  round {r + 1} {name}: FAILED {exc}")
            finally:
                cap.stop()
                if watcher is not None:
                    watcher.stop()
                if launched is not None:
                    peers.terminate(launched)
    return out
