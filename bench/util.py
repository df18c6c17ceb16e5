"""Measurement plumbing: statistics, /proc readings, the wire (tcpdump), Xvfb, the machine."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import signal
import statistics
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- statistics -------------------------------------------------------------------------

def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (p95 of 50 values = the 48th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-pct * len(ordered) // 100)))
    return ordered[min(rank, len(ordered)) - 1]


def load_average() -> float:
    return os.getloadavg()[0]


def wait_calm(max_load: float, timeout: float = 60.0) -> float:
    """Wait (up to ``timeout``) until the 1-minute load average is below ``max_load``."""
    deadline = time.monotonic() + timeout
    load = load_average()
    while load > max_load and time.monotonic() < deadline:
        time.sleep(2.0)
        load = load_average()
    return load


# -- /proc ------------------------------------------------------------------------------

@dataclass
class Memory:
    rss_kib: int
    pss_kib: int


def memory(pid: int) -> Memory:
    """RSS and PSS of ``pid`` from /proc/PID/smaps_rollup."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            values[parts[0][:-1]] = int(parts[1])
    return Memory(values.get("Rss", 0), values.get("Pss", 0))


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (every thread) from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def context_switches(pid: int) -> int:
    """Voluntary context switches summed over every thread of ``pid``.

    A thread that sleeps and wakes up switches out voluntarily once per wake-up, so
    the voluntary count's rate is the process's wake-ups per second.
    """
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
    return total


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (via /proc/*/stat parent ids)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2:].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def find_process(root: int, name: str) -> int | None:
    """``root`` or its first descendant whose command name is ``name``."""
    for pid in [root, *children(root)]:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == name[:15]:
                return pid
    return None


def udp_receive_drops() -> int:
    """UDP datagrams the kernel dropped for want of socket buffer space
    (RcvbufErrors in /proc/net/snmp, every socket of the machine)."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()
             if line.startswith("Udp:")]
    if len(lines) < 2 or "RcvbufErrors" not in lines[0]:
        return 0
    return int(lines[1][lines[0].index("RcvbufErrors")])


@dataclass
class CpuWindow:
    """CPU share and wake-ups of a process over a measured window."""

    cpu_percent: float
    wakeups_per_s: float
    seconds: float


def measure_cpu(pid: int, seconds: float) -> CpuWindow:
    c0, w0, t0 = cpu_seconds(pid), context_switches(pid), time.monotonic()
    time.sleep(seconds)  # the measurement window itself
    c1, w1, t1 = cpu_seconds(pid), context_switches(pid), time.monotonic()
    dt = t1 - t0
    return CpuWindow(100.0 * (c1 - c0) / dt, (w1 - w0) / dt, dt)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0,
                 sig: int = signal.SIGTERM, group: bool = False) -> None:
    """Signal ``proc`` (or its own process group) and wait; SIGKILL after ``timeout``."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        proc.wait(5)


# -- the wire ---------------------------------------------------------------------------

@dataclass
class SipPacket:
    """One SIP message seen on the loopback interface."""

    time: float  # wall clock (epoch seconds), as tcpdump stamped it
    src: int
    dst: int
    first_line: str
    cseq: str
    call_id: str
    text: str


class Capture:
    """``tcpdump`` on ``lo`` for some ports, written to a pcap file and parsed after.

    Timestamps are the kernel's (wall clock), so they compare with ``time.time()``
    taken in this process when it launched or commanded something.
    """

    def __init__(self, path: Path, ports: list[int], snaplen: int = 4096) -> None:
        self.path = path
        self.ports = ports
        self.snaplen = snaplen
        self.proc: subprocess.Popen[bytes] | None = None
        self.err = path.with_suffix(".err")

    def __enter__(self) -> Capture:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        tcpdump = shutil.which("tcpdump") or "/usr/sbin/tcpdump"
        expr = " or ".join(f"port {p}" for p in self.ports)
        with self.err.open("wb") as err:
            # -U: write each packet at once; -Z root: do not drop privileges (file in /tmp).
            self.proc = subprocess.Popen(
                [tcpdump, "-i", "lo", "-n", "-U", "--immediate-mode", "-Z", "root",
                 "-s", str(self.snaplen), "-w", str(self.path), expr],
                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        deadline = time.monotonic() + 10
        while "listening on" not in self.err.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tcpdump did not start: {self.err.read_text()}")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.proc is not None:
            time.sleep(0.3)  # let the last packets reach the file
            stop_process(self.proc, sig=signal.SIGINT)

    def packets(self) -> list[tuple[float, int, int, bytes]]:
        return read_pcap_udp(self.path)

    def sip(self) -> list[SipPacket]:
        out: list[SipPacket] = []
        for ts, src, dst, payload in self.packets():
            text = payload.decode("utf-8", errors="replace")
            if not (text.startswith("SIP/2.0 ") or " sip:" in text.split("\r\n", 1)[0]):
                continue
            out.append(SipPacket(ts, src, dst, text.split("\r\n", 1)[0],
                                 _header(text, ("CSeq",)), _header(text, ("Call-ID", "i")),
                                 text))
        return out


def _header(text: str, names: tuple[str, ...]) -> str:
    for line in text.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() in {n.lower() for n in names}:
            return value.strip()
    return ""


def read_pcap_udp(path: Path) -> list[tuple[float, int, int, bytes]]:
    """(time, source port, destination port, payload) of every IPv4 UDP/TCP packet."""
    data = path.read_bytes() if path.exists() else b""
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    offset = 24
    out: list[tuple[float, int, int, bytes]] = []
    while offset + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[offset:offset + 16])
        offset += 16
        frame = data[offset:offset + incl]
        offset += incl
        ts = sec + frac / (1e9 if nano else 1e6)
        if linktype == 1:  # Ethernet (lo is shown as Ethernet with zero addresses)
            if len(frame) < 14 or frame[12:14] != b"\x08\x00":
                continue
            ip = frame[14:]
        elif linktype == 113:  # Linux cooked capture
            ip = frame[16:]
        else:
            ip = frame
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] not in (6, 17):
            continue
        ihl = (ip[0] & 0x0F) * 4
        src, dst = struct.unpack("!HH", ip[ihl:ihl + 4])
        if ip[9] == 17:
            payload = ip[ihl + 8:]
        else:  # TCP: PJSIP sends large requests (INVITE with SDP) over TCP
            payload = ip[ihl + (ip[ihl + 12] >> 4) * 4:]
            if not payload:
                continue
        out.append((ts, src, dst, payload))
    return out


def first_register_ok(packets: list[SipPacket], since: float, from_port: int,
                      to_port: int | None = None) -> float | None:
    """Time of the first ``200`` to a REGISTER sent from ``from_port`` (the registrar)."""
    for p in packets:
        if (p.time >= since and p.src == from_port and (to_port is None or p.dst == to_port)
                and p.first_line.startswith("SIP/2.0 200") and p.cseq.endswith("REGISTER")):
            return p.time
    return None


# -- X ----------------------------------------------------------------------------------

class Xvfb:
    """One Xvfb server on a free display number."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.display = ""
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Xvfb:
        for number in range(90, 200):
            if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
                continue
            self.display = f":{number}"
            log = (self.workdir / "xvfb.log").open("wb")
            self.proc = subprocess.Popen(
                ["Xvfb", self.display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp",
                 "-noreset"], stdout=log, stderr=log, start_new_session=True)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                if subprocess.run(["xdpyinfo", "-display", self.display],
                                  capture_output=True).returncode == 0:
                    return self
                time.sleep(0.05)
            stop_process(self.proc)
        raise RuntimeError("could not start Xvfb")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


@dataclass
class MapWatcher:
    """Times when top-level windows are mapped on a display, from ``xev`` (event driven).

    ``xev -root -event substructure`` reports CreateNotify/ConfigureNotify (with sizes)
    and MapNotify for children of the root window; each line is stamped on arrival.
    """

    display: str
    min_width: int = 200
    min_height: int = 150
    mapped: list[tuple[float, str, int, int]] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    _sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    _thread: threading.Thread | None = None

    def start(self) -> MapWatcher:
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "xev", "-display", self.display, "-root", "-event", "substructure"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        time.sleep(0.3)  # xev has connected and selected its events
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        size_re = re.compile(r"window (0x[0-9a-f]+),.*?width (\d+), height (\d+)")
        map_re = re.compile(r"window (0x[0-9a-f]+)")
        kind = ""
        for raw in self.proc.stdout:
            now = time.time()
            line = raw.decode(errors="replace")
            if line and not line[0].isspace():
                kind = line.split(" event", 1)[0]
                continue
            if kind in ("CreateNotify", "ConfigureNotify"):
                m = size_re.search(line)
                if m:
                    self._sizes[m.group(1)] = (int(m.group(2)), int(m.group(3)))
            elif kind == "MapNotify" and "window 0x" in line:
                m = map_re.search(line.split("event 0x", 1)[-1].split(",", 1)[-1])
                if m:
                    w, h = self._sizes.get(m.group(1), (0, 0))
                    self.mapped.append((now, m.group(1), w, h))
                kind = ""

    def first_large(self, since: float) -> float | None:
        for ts, _, w, h in self.mapped:
            if ts >= since and w >= self.min_width and h >= self.min_height:
                return ts
        return None

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


# -- the machine ------------------------------------------------------------------------

def machine() -> dict[str, str]:
    info: dict[str, str] = {"kernel": platform.release()}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core"):
                info[key.strip()] = value.strip()
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["RAM"] = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                info["OS"] = line.split("=", 1)[1].strip('"')
    return info


@contextlib.contextmanager
def timed(label: str, log: list[str]) -> Iterator[None]:
    t0 = time.monotonic()
    try:
        yield
    finally:
        log.append(f"{label}: {time.monotonic() - t0:.1f} s (load {load_average():.2f})")
