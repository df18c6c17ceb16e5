"""sipp (Debian's ``sip-tester``) running one XML scenario against a peer.

Each :class:`Sipp` gets its own free SIP and media ports and writes its
message and error logs into its run directory (read them when a test fails).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

from tests.helpers.ports import HOST, free_port, free_ports
from tests.helpers.processes import kill_group

SIPP = "sipp"
SCENARIOS = Path(__file__).resolve().parent.parent / "interop" / "sipp"


def sipp_binary() -> str | None:
    return shutil.which(SIPP)


class SippError(RuntimeError):
    pass


class Sipp:
    """One sipp process: ``scenario`` (a file name under tests/interop/sipp/).

    ``remote`` is ``host:port`` of the peer for a UAC scenario (None for a UAS).
    ``keys`` become ``-key NAME VALUE`` (``[NAME]`` in the scenario).
    """

    def __init__(self, rundir: Path, scenario: str, *, remote: str | None = None,
                 keys: dict[str, str] | None = None, calls: int = 1,
                 timeout_s: int = 20) -> None:
        self.rundir = rundir
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.scenario = SCENARIOS / scenario
        if not self.scenario.exists():
            raise SippError(f"no scenario {self.scenario}")
        self.remote = remote
        self.keys = keys or {}
        self.calls = calls
        self.timeout_s = timeout_s
        self.port = free_port()
        self.media_port = free_ports(1)[0]
        self.log_path = rundir / "sipp.out"
        self.messages = rundir / "messages.log"
        self.errors = rundir / "errors.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri_host(self) -> str:
        return f"{HOST}:{self.port}"

    def command(self) -> list[str]:
        binary = sipp_binary()
        if binary is None:
            raise SippError("sipp is not installed (apt-get install sip-tester)")
        cmd = [binary, "-sf", str(self.scenario), "-i", HOST, "-p", str(self.port),
               "-mi", HOST, "-mp", str(self.media_port), "-m", str(self.calls),
               "-nostdin", "-timeout", f"{self.timeout_s}s", "-timeout_error",
               "-trace_msg", "-message_file", str(self.messages),
               "-trace_err", "-error_file", str(self.errors)]
        for name, value in self.keys.items():
            cmd += ["-key", name, value]
        if self.remote:
            cmd.append(self.remote)
        return cmd

    def start(self) -> Sipp:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, cwd=self.rundir,
                                     start_new_session=True)
        log.close()
        return self

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the scenario to end; sipp exits 0 when every call succeeded."""
        assert self.proc is not None
        try:
            return self.proc.wait(self.timeout_s + 5 if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise SippError(f"sipp did not finish:\n{self.report()}") from None

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        kill_group(proc, 5)

    def report(self) -> str:
        """The message trace and errors, for assertion messages."""
        parts = []
        for path in (self.errors, self.messages):
            with contextlib.suppress(OSError):
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)
