"""A customer and agents as separate processes, with a directory for agent 1."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import InstanceFactory
from tests.e2e.conftest import api
from tests.helpers import tones
from tests.helpers.instance import HeadlessInstance

# Customer, agent 1, agent 2, agent 3: distinct tones inside G.711's band.
TONES = {"customer": 600.0, "alice": 1000.0, "bob": 1450.0, "carol": 2100.0}


@dataclass
class Floor:
    customer: HeadlessInstance
    alice: HeadlessInstance
    bob: HeadlessInstance
    carol: HeadlessInstance | None = None

    def all(self) -> list[HeadlessInstance]:
        return [i for i in (self.customer, self.alice, self.bob, self.carol) if i is not None]


def start_floor(softphones: InstanceFactory, tone_dir: Path, *, carol: bool = False,
                alice_args: list[str] | None = None, bob_args: list[str] | None = None,
                carol_args: list[str] | None = None) -> Floor:
    def start(name: str, extra: list[str] | None = None) -> HeadlessInstance:
        tone = tones.write_tone(tone_dir / f"{name}.wav", TONES[name])
        return softphones(name, audio_in=tone, audio_out=softphones.base / f"{name}-all.wav",
                          extra_args=extra)

    floor = Floor(start("customer"), start("alice", alice_args), start("bob", bob_args),
                  start("carol", carol_args) if carol else None)
    agents = [{"id": "bob", "name": "Bob", "uri": floor.bob.sip_uri}]
    members = ["bob"]
    if floor.carol is not None:
        agents.append({"id": "carol", "name": "Carol", "uri": floor.carol.sip_uri})
        members.append("carol")
    directory = {
        "agents": agents,
        "groups": [{"id": "support", "name": "Support", "members": members}],
        "presets": [{"id": "legal", "name": "Legal", "number": "sip:legal@127.0.0.1:9"}],
        "my_groups": ["support"],
    }
    api(floor.alice).call("directory.set", directory=directory)
    return floor


def customer_calls_alice(floor: Floor, pop: dict[str, str] | None = None) -> tuple[str, str]:
    """The customer calls agent 1, who answers; returns (customer id, agent 1 id)."""
    c, a = api(floor.customer), api(floor.alice)
    mark = a.mark()
    out = c.call("call.make", uri=floor.alice.sip_uri)["call_id"]
    incoming = a.wait_call_state(None, "incoming", since=mark)
    a.call("call.answer", call_id=incoming["call_id"])
    c.wait_call_state(out, "confirmed")
    a.wait_call_state(incoming["call_id"], "confirmed")
    if pop:
        a.call("call.screen_pop", call_id=incoming["call_id"], set=pop)
    return out, incoming["call_id"]


def wait_transfer(inst: HeadlessInstance, phase: str, since: int = 0,
                  timeout: float = 15.0) -> dict[str, Any]:
    return api(inst).wait_event("transfer.progress", lambda e: e["phase"] == phase,
                                timeout=timeout, since=since)


def only_call(inst: HeadlessInstance) -> dict[str, Any]:
    calls: list[dict[str, Any]] = api(inst).call("call.list")["calls"]
    assert len(calls) == 1, calls
    return calls[0]
