"""A customer and agents as separate processes, with a directory for agent 1."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import InstanceFactory
from tests.e2e.conftest import api, record
from tests.helpers import tones
from tests.helpers.instance import HeadlessInstance

# Customer, agent 1, agent 2, agent 3, a second customer: distinct,
# non-harmonic tones inside G.711's band.
TONES = {"customer": 600.0, "alice": 1000.0, "bob": 1450.0, "carol": 2100.0, "dan": 2850.0}
FREQS = list(TONES.values())


@dataclass
class Floor:
    customer: HeadlessInstance
    alice: HeadlessInstance
    bob: HeadlessInstance
    carol: HeadlessInstance | None = None
    directory: dict[str, Any] | None = None

    def all(self) -> list[HeadlessInstance]:
        return [i for i in (self.customer, self.alice, self.bob, self.carol) if i is not None]


def start_one(softphones: InstanceFactory, tone_dir: Path, name: str,
              extra: list[str] | None = None) -> HeadlessInstance:
    """A softphone playing its own tone (TONES[name]) as the microphone."""
    tone = tones.write_tone(tone_dir / f"{name}.wav", TONES[name])
    return softphones(name, audio_in=tone, audio_out=softphones.base / f"{name}-all.wav",
                      extra_args=extra)


def start_floor(softphones: InstanceFactory, tone_dir: Path, *, carol: bool = False,
                alice_args: list[str] | None = None, bob_args: list[str] | None = None,
                carol_args: list[str] | None = None,
                customer_args: list[str] | None = None) -> Floor:
    def start(name: str, extra: list[str] | None = None) -> HeadlessInstance:
        return start_one(softphones, tone_dir, name, extra)

    floor = Floor(start("customer", customer_args), start("alice", alice_args),
                  start("bob", bob_args), start("carol", carol_args) if carol else None)
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
    floor.directory = directory
    api(floor.alice).call("directory.set", directory=directory)
    return floor


def customer_calls_alice(floor: Floor, pop: dict[str, str] | None = None, *,
                         baseline: bool = False) -> tuple[str, str]:
    """The customer calls agent 1, who answers; returns (customer id, agent 1 id).

    ``baseline``: first prove by tones that the two hear each other (so a
    later check that fails is about the transfer, not the call)."""
    ids = calls(floor.customer, floor.alice, pop)
    if baseline:
        assert_talking(floor.customer, floor.alice, "baseline")
    return ids


def calls(caller: HeadlessInstance, agent: HeadlessInstance,
          pop: dict[str, str] | None = None) -> tuple[str, str]:
    """``caller`` calls ``agent``, who answers; returns (caller id, agent id)."""
    c, a = api(caller), api(agent)
    mark = a.mark()
    out = c.call("call.make", uri=agent.sip_uri)["call_id"]
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


def assert_talking(x: HeadlessInstance, y: HeadlessInstance, tag: str,
                   others: list[HeadlessInstance] | None = None) -> dict[str, dict[float, float]]:
    """By tones: ``x`` and ``y`` hear each other, and neither hears any of
    ``others`` (nor do ``others`` hear them)."""
    others = others or []
    levels = record([x, y, *others], tag, freqs=FREQS)
    tx, ty = TONES[x.name], TONES[y.name]
    assert tones.has_tone(levels[x.name], ty) and tones.has_tone(levels[y.name], tx), levels
    for o in others:
        to = TONES[o.name]
        assert not tones.has_tone(levels[x.name], to), (o.name, levels)
        assert not tones.has_tone(levels[y.name], to), (o.name, levels)
        assert not tones.has_tone(levels[o.name], tx), (o.name, levels)
        assert not tones.has_tone(levels[o.name], ty), (o.name, levels)
    return levels


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``predicate`` (e.g. a count in a log file, which sends no event)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def received_responses(inst: HeadlessInstance, code: int, method: str = "INVITE") -> int:
    """How many ``code`` responses to ``method`` ``inst`` received (its log
    needs ``--sip-trace``): PJSIP logs each as ``RX ... Response msg 182/INVITE/...``."""
    needle = f"Response msg {code}/{method}/"
    return sum(1 for line in inst.log_text().splitlines() if "RX " in line and needle in line)
