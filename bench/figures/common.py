"""What the figures share: the samples they return and the steps of setting up calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import peers
from bench.peers import Launched
from tests.helpers.api_client import ApiClient

Log = Callable[[str], None]


@dataclass
class Samples:
    """Raw per-run values of one metric for one app, in run order."""

    values: dict[str, list[float]] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, value: float | None) -> None:
        if value is not None:
            self.values.setdefault(key, []).append(value)


def api(launched: Launched) -> ApiClient:
    assert launched.api is not None
    return launched.api


def local(work: Path, name: str, extra: list[str] | None = None,
          audio: tuple[Path, Path] | None = None) -> Launched:
    args = ["--sip-user", name, "--wrap-up-seconds", "0", *(extra or [])]
    if audio is not None:
        args += ["--audio-in", str(audio[0]), "--audio-out", str(audio[1])]
    return peers.ours(work, None, None, name=name, extra_args=args, register=False)


def connect(caller: Launched, callee: Launched) -> tuple[str, str]:
    mark = api(callee).mark()
    out = api(caller).call("call.make", uri=peers.ours_uri(callee))["call_id"]
    incoming = api(callee).wait_call_state(None, "incoming", since=mark)
    api(callee).call("call.answer", call_id=incoming["call_id"])
    api(caller).wait_call_state(out, "confirmed")
    api(callee).wait_call_state(incoming["call_id"], "confirmed")
    return out, incoming["call_id"]


def start_conference(host: Launched, customer_call: str, target: Launched | None,
                     target_uri: str, fourth: Launched, fourth_uri: str) -> None:
    mark = api(host).mark()
    tmark = api(target).mark() if target is not None else 0
    api(host).call("transfer.supervised.start", call_id=customer_call, target=target_uri)
    if target is not None:
        ringing = api(target).wait_call_state(None, "incoming", since=tmark)
        api(target).call("call.answer", call_id=ringing["call_id"])
    api(host).wait_event("transfer.progress", lambda e: e["phase"] == "consulting", since=mark)
    fmark = api(fourth).mark()
    api(host).call("conference.add_party", target=fourth_uri)
    ringing = api(fourth).wait_call_state(None, "incoming", since=fmark)
    api(fourth).call("call.answer", call_id=ringing["call_id"])
    api(host).wait_event(
        "conference", lambda e: not e["ended"]
        and sum(p["state"] == "joined" for p in e["parties"]) == 3, timeout=15, since=mark)
