"""Third-party peers for the interop tests: availability checks and a floor of
agents (our headless softphones) registered at Kamailio."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import tones
from tests.helpers.instance import HeadlessInstance
from tests.interop.conftest import Lab, api

# Customer, agent 1, agent 2, agent 3: distinct tones inside G.711's band.
TONES = {"customer": 600.0, "alice": 1000.0, "bob": 1450.0, "carol": 2100.0}
FREQS = list(TONES.values())
USERS = {"alice": "1001", "bob": "1002", "carol": "1003"}




@dataclass
class Agents:
    """Our softphones registered at Kamailio; alice (agent 1) has the directory."""

    lab: Lab
    phones: dict[str, HeadlessInstance] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> HeadlessInstance:
        return self.phones[name]


def start_agents(lab: Lab, tone_dir: Path, names: tuple[str, ...] = ("alice", "bob"),
                 transport: str = "udp", extra_args: list[str] | None = None,
                 **register: Any) -> Agents:
    agents = Agents(lab)
    for name in names:
        tone = tones.write_tone(tone_dir / f"{name}.wav", TONES[name])
        inst = lab.phone(name, audio_in=tone, audio_out=lab.softphones.base / f"{name}-all.wav",
                         extra_args=list(extra_args or []))
        agents.phones[name] = inst
        agents.accounts[name] = lab.register(inst, USERS[name], transport, **register)
    colleagues = [n for n in names if n != "alice"]
    directory = {
        "agents": [{"id": n, "name": n.title(), "uri": lab.kam.aor(USERS[n])}
                   for n in colleagues],
        "groups": [{"id": "support", "name": "Support", "members": colleagues,
                    "uri": lab.kam.group_uri("support")}],
        "presets": [],
        "my_groups": ["support"],
    }
    if "alice" in agents.phones:
        api(agents["alice"]).call("directory.set", directory=directory)
    return agents
