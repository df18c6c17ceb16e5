"""Third-party peers for the interop tests: availability checks and a floor of
agents (our headless softphones) registered at Kamailio."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.helpers import tones
from tests.helpers.instance import HeadlessInstance
from tests.helpers.tools import require_tool
from tests.interop.conftest import Lab, api

if TYPE_CHECKING:
    from tests.sip.audio.audio_helpers import PulseServer

# Customer, agent 1, agent 2, agent 3: distinct tones inside G.711's band.
TONES = {"customer": 600.0, "alice": 1000.0, "bob": 1450.0, "carol": 2100.0}
FREQS = list(TONES.values())
# Kamailio users: agents 1001-1003; the softphone customer is one of the
# customers' lines (2001 is baresip's, see test_baresip_customer.py).
USERS = {"alice": "1001", "bob": "1002", "carol": "1003", "customer": "2002"}
# baresip's aufile source ends the call when its file ends ("audio error
# (0,end of file)"): its tone files must outlast every call of a test.
BARESIP_TONE_S = 60.0


@dataclass
class Agents:
    """Our softphones registered at Kamailio; alice (agent 1) has the directory."""

    lab: Lab
    phones: dict[str, HeadlessInstance] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> HeadlessInstance:
        return self.phones[name]

    def all(self) -> list[HeadlessInstance]:
        return list(self.phones.values())


def start_agents(lab: Lab, tone_dir: Path, names: tuple[str, ...] = ("alice", "bob"),
                 transport: str = "udp", extra_args: list[str] | None = None,
                 args: dict[str, list[str]] | None = None,
                 colleagues: dict[str, str] | None = None, **register: Any) -> Agents:
    """Start and register ``names`` (each with its tone); alice's directory lists
    the other agents (not the customer), the ``support`` group of them, and
    ``colleagues`` (directory id -> Kamailio user: third-party phones)."""
    agents = Agents(lab)
    for name in names:
        tone = tones.write_tone(tone_dir / f"{name}.wav", TONES[name])
        inst = lab.phone(name, audio_in=tone, audio_out=lab.softphones.base / f"{name}-all.wav",
                         extra_args=[*(extra_args or []), *(args or {}).get(name, [])])
        agents.phones[name] = inst
        agents.accounts[name] = lab.register(inst, USERS[name], transport, **register)
    ours = [n for n in names if n not in ("alice", "customer")]
    others = colleagues or {}
    directory = {
        "agents": [{"id": n, "name": n.title(), "uri": lab.kam.aor(USERS[n])} for n in ours]
        + [{"id": n, "name": n.title(), "uri": lab.kam.aor(user)} for n, user in others.items()],
        "groups": [{"id": "support", "name": "Support", "members": ours,
                    "uri": lab.kam.group_uri("support")}],
        "presets": [],
        "my_groups": ["support"],
    }
    if "alice" in agents.phones:
        api(agents["alice"]).call("directory.set", directory=directory)
    return agents


def next_second() -> None:
    """Wait for the clock's next second (a wait for the clock, not an event).

    baresip's sndfile names recordings by the second a stream starts; two
    streams starting in the same second (a cancelled branch's early media and
    the answered call, a consult and the call replacing it) write one file.
    """
    time.sleep(1.0 - time.time() % 1.0 + 0.01)


@contextlib.contextmanager
def pulse_server(base: Path) -> Iterator[PulseServer]:
    """A private PulseAudio daemon with null sinks: linphone-daemon's sound card,
    so that the test hears what it hears (tests/helpers/linphone.py)."""
    from tests.sip.audio.audio_helpers import PulseServer

    for tool in ("pulseaudio", "pactl", "pacat", "parec"):
        require_tool(tool, "pulseaudio pulseaudio-utils")
    server = PulseServer(base)
    server.start()
    try:
        yield server
    finally:
        server.stop()
