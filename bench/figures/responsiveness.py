"""Figure 7: UI responsiveness while the directory loads and presence flows."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import peers, util
from bench.figures.common import Log, Samples, api
from bench.peers import Launched
from tests.helpers.kamailio import Kamailio

DIRECTORY_TIMEOUT_S = 60.0
# The RLS subscribes to every member itself (a back-end SUBSCRIBE and NOTIFY
# each): for 2,000 this lab server takes 10-40 s before every state is in, and
# now and then never subscribes to a few (no new state for this long: stop).
ALL_STATES_TIMEOUT_S = 120.0
NO_NEW_STATE_S = 15.0
FIRST_USER = 90000


class PresenceLoad:
    """``bench.presence_load`` in its own process: PUBLISH for the agents."""

    def __init__(self, work: Path, kam: Kamailio, count: int, rate: float) -> None:
        self.err = (work / "presence-load.log").open("wb")
        self.proc = subprocess.Popen(
            [peers.PYTHON, "-m", "bench.presence_load", "--proxy", f"{kam.host}:{kam.udp_port}",
             "--domain", kam.host, "--first", str(FIRST_USER), "--count", str(count),
             "--rate", str(rate)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, cwd=peers.ROOT,
            text=True)
        self.primed = json.loads(self._line("primed"))

    def _line(self, prefix: str) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith(prefix + " "):
            raise RuntimeError(f"presence load: expected {prefix!r}, got {line!r}")
        return line[len(prefix) + 1:]

    def go(self) -> None:
        """Start the changes."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def sent(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self._line("count"))

    def stop(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            result: dict[str, Any] = json.loads(self._line("done"))
        except (RuntimeError, ValueError):
            result = {}
        self.proc.wait(10)
        self.err.close()
        return result


class Pinger:
    """``bench.pinger`` in its own process: ``status`` every 10 ms to ``app``."""

    def __init__(self, work: Path, app: Launched) -> None:
        assert app.api is not None
        info = json.loads((app.home / "profile" / "api.json").read_text())
        self.out = work / f"pings-{time.monotonic_ns()}.json"
        self.proc = subprocess.Popen(
            [peers.PYTHON, "-m", "bench.pinger", str(info["port"]), info["token"],
             str(self.out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=peers.ROOT)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("pinger did not start")

    def stop(self) -> list[tuple[float, float]]:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(DIRECTORY_TIMEOUT_S + 10)
        return [(float(t), float(v)) for t, v in json.loads(self.out.read_text())]


def _window(samples: list[tuple[float, float]], start: float, end: float) -> list[float]:
    return [v for t, v in samples if start <= t < end]


class RlsLab(Kamailio):
    """The lab Kamailio (tests/helpers/kamailio.py) with more shared memory.

    Its 64 MiB run out here (tm "out of mem", 500s to back-end SUBSCRIBEs)
    while the RLS subscribes to 2,000 presentities at once under 100 PUBLISH/s:
    db_text copies result sets of the big tables into shared memory. A real
    presence server runs with hundreds of MiB; the script is the lab's own.
    """

    SHM_MB = 512

    def _spawn(self, binary: str) -> None:
        self.starts += 1
        for stale in (self.pid_path, self.ctl_socket):
            stale.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [binary, "-f", str(self.cfg_path), "-DD", "-E", "-Y", str(self.rundir),
                 "-P", str(self.pid_path), "-m", str(self.SHM_MB), "-M", "16"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.rundir, start_new_session=True)


def presence_directory(kam: Kamailio, agents: int, groups: int) -> dict[str, Any]:
    """``agents`` agents (users 90000...) in ``groups`` groups, each watched
    through its list on ``kam``; the GUI's own groups are the first one."""
    size = -(-agents // groups)
    ids = [f"a{i}" for i in range(agents)]
    return {
        "agents": [{"id": ids[i], "name": f"Agent {i}", "uri": kam.aor(str(FIRST_USER + i))}
                   for i in range(agents)],
        "groups": [{"id": f"g{g}", "name": f"Group {g}", "members": ids[g * size:(g + 1) * size],
                    "presence_list": kam.list_uri(f"g{g}-list")} for g in range(groups)],
        "presets": [], "my_groups": ["g0"]}


def responsiveness(work: Path, xvfb: util.Xvfb, agents: int, calls: int, log: Log,
                   groups: int = 4, rate: float = 100.0, profile: bool = False) -> Samples:
    """Longest reply of a ``status`` request sent every 10 ms to the GUI while its
    directory receives presence for ``agents`` agents and ``calls`` calls come and go.

    Through a Kamailio of its own whose RLS holds one list per group: the GUI
    (registered as 1001) watches each group with one list subscription. A load
    generator (``bench.presence_load``) has given every agent a first state by
    PUBLISH before the GUI starts. Two windows, each with its longest reply and
    the directory.agent events the GUI emitted:

    * *directory load*: ``directory.set`` until every agent's state has arrived
      (the lists' full states, as the RLS's back-end subscriptions come in);
    * *steady*: the generator PUBLISHes a state change for one of the agents
      ``rate`` times a second (round robin) while another instance (1002) calls
      the GUI ``calls`` times through the proxy; the bench answers and hangs up.
    """
    out = Samples()
    out.loads.append(util.load_average())
    size = -(-agents // groups)
    lists = {f"g{g}-list": [str(FIRST_USER + i) for i in range(g * size,
                                                            min(agents, (g + 1) * size))]
             for g in range(groups)}
    drops0 = util.udp_receive_drops()
    kam = RlsLab(work / "kamailio-rls", lists=lists).start()
    load: PresenceLoad | None = None
    gui: Launched | None = None
    caller: Launched | None = None
    pinger: Pinger | None = None
    spy: subprocess.Popen[bytes] | None = None
    try:
        load = PresenceLoad(work, kam, agents, rate)
        log(f"  presence load: first state of {agents} agents published {load.primed}")
        gui = peers.ours(work, kam, "1001", gui=True, display=xvfb.display, name="gui",
                         extra_args=["--wrap-up-seconds", "0"])
        caller = peers.ours(work, kam, "1002", name="caller")
        for inst in (gui, caller):
            api(inst).wait_event("registration", lambda e: e["state"] == "registered")
        api(gui).timeout = DIRECTORY_TIMEOUT_S
        pinger = Pinger(work, gui)
        t_idle = time.monotonic()
        time.sleep(3.0)
        if profile:
            py_spy = peers.ROOT / ".venv" / "bin" / "py-spy"
            spy = subprocess.Popen(
                [str(py_spy) if py_spy.exists() else "py-spy", "record", "--pid", str(gui.pid),
                 "--format", "raw", "--rate", "250", "-o", str(work / "figure7-gui.pyspy.txt")],
                stdout=subprocess.DEVNULL, stderr=(work / "py-spy.log").open("wb"))
            time.sleep(1.0)
        mark = api(gui).mark()
        t_set = time.monotonic()
        try:
            api(gui).call("directory.set", directory=presence_directory(kam, agents, groups))
        except TimeoutError:
            blocked = time.monotonic() - t_set
            out.add("gui:directory_set_s", blocked)
            out.add("gui:load_ping_max_ms", 1000 * blocked)
            out.notes.append(f"directory.set of {agents} agents: no reply in {blocked:.0f} s "
                             "(GUI event loop blocked; stall is at least that long)")
            return out
        out.add("gui:directory_set_s", time.monotonic() - t_set)
        # Every agent's first state (from the lists' full states).
        known: set[str] = set()
        seen = mark
        deadline = time.monotonic() + ALL_STATES_TIMEOUT_S
        progress: list[str] = []
        next_report = time.monotonic() + 5
        t_known = last_new = time.monotonic()
        while (len(known) < agents and time.monotonic() < deadline
               and time.monotonic() - last_new < NO_NEW_STATE_S):
            time.sleep(0.1)
            events = api(gui).events
            before = len(known)
            known.update(e["agent_id"] for e in events[seen:]
                         if e.get("type") == "directory.agent")
            seen = len(events)
            if len(known) > before:
                t_known = last_new = time.monotonic()
            if time.monotonic() >= next_report:
                progress.append(f"{time.monotonic() - t_set:.0f} s: {len(known)}")
                next_report += 5
        if progress:
            out.notes.append("agents with a state after directory.set: " + ", ".join(progress))
        if len(known) < agents:
            missing = [f"a{i}" for i in range(agents) if f"a{i}" not in known]
            out.notes.append(f"no state for {len(missing)} agents (the lab RLS never got theirs): "
                             f"{', '.join(missing[:30])}")
        out.add("gui:all_states_s", t_known - t_set if len(known) == agents else None)
        out.add("gui:states_in_s", t_known - t_set)  # until the last first state came
        out.add("gui:agents_known", len(known))
        time.sleep(3.0)  # the lists settle (2 s after their first full state)
        load_events = sum(1 for e in api(gui).events[mark:] if e.get("type") == "directory.agent")
        # Steady: calls come and go while states keep changing.
        mark = api(gui).mark()
        sent0 = load.sent()
        load.go()
        t_steady = time.monotonic()
        target = kam.aor("1001")
        for _ in range(calls):
            cmark = api(gui).mark()
            cid = api(caller).call("call.make", uri=target)["call_id"]
            inc = api(gui).wait_call_state(None, "incoming", since=cmark)
            api(gui).call("call.answer", call_id=inc["call_id"])
            api(caller).wait_call_state(cid, "confirmed")
            time.sleep(0.3)
            api(caller).call("call.hangup", call_id=cid)
            api(gui).wait_call_state(inc["call_id"], "disconnected", since=cmark)
            time.sleep(0.2)
        published = load.sent() - sent0
        result = load.stop()
        load = None
        time.sleep(2.5)  # the last changes' list NOTIFY (the RLS's 1 s timer)
        t_end = time.monotonic()
        steady_events = sum(1 for e in api(gui).events[mark:]
                            if e.get("type") == "directory.agent")
        changes: dict[str, int] = result.pop("changes", {})
        # Changes of agents the GUI has a state for (the lab RLS may have missed some).
        with_state = known | {e["agent_id"] for e in api(gui).events[mark:]
                              if e.get("type") == "directory.agent"}
        reachable = sum(n for user, n in changes.items()
                        if f"a{int(user) - FIRST_USER}" in with_state)
        out.notes.append(f"presence load generator: {result}")
        samples = pinger.stop()
        pinger = None
        idle = _window(samples, t_idle, t_set)
        loading = _window(samples, t_set, t_steady)
        steady = _window(samples, t_steady, t_end)
        out.add("gui:idle_ping_median_ms", util.median(idle))
        out.add("gui:idle_ping_max_ms", max(idle) if idle else None)
        out.add("gui:directory_ping_max_ms", max(loading) if loading else None)
        out.add("gui:directory_over_50ms", sum(1 for v in loading if v > 50))
        out.add("gui:directory_events", load_events)
        out.add("gui:load_ping_median_ms", util.median(steady))
        out.add("gui:load_ping_p99_ms", util.percentile(steady, 99))
        out.add("gui:load_ping_max_ms", max(steady) if steady else None)
        out.add("gui:over_50ms", sum(1 for v in steady if v > 50))
        out.add("gui:pings", len(steady))
        out.add("gui:steady_s", t_end - t_steady)
        out.add("gui:presence_published", published)
        out.add("gui:presence_published_known", reachable)
        out.add("gui:presence_events", steady_events)
        log(f"  directory.set {out.values['gui:directory_set_s'][0]:.2f} s; {len(known)} of "
            f"{agents} states in {t_known - t_set:.1f} s ({load_events} events), longest reply "
            f"{max(loading) if loading else 0:.0f} ms; steady {t_end - t_steady:.0f} s: "
            f"{calls} calls, {published} changes published ({reachable} of agents with a state), "
            f"{steady_events} events received, "
            f"longest reply {max(steady) if steady else 0:.0f} ms, median "
            f"{util.median(steady) or 0:.1f} ms (idle median {util.median(idle) or 0:.1f} ms; "
            f"load {util.load_average():.2f})")
    finally:
        if spy is not None:
            util.stop_process(spy, sig=signal.SIGINT)
        if pinger is not None:
            with contextlib.suppress(Exception):
                pinger.stop()
        for p in (caller, gui):
            if p is not None:
                peers.terminate(p)
        if load is not None:
            load.stop()
        kam.stop()
        drops = util.udp_receive_drops() - drops0
        out.add("udp_receive_drops", drops)
        if drops:
            out.notes.append(f"the kernel dropped {drops} UDP datagrams (full socket buffers, "
                             "any process) during figure 7")
    return out
