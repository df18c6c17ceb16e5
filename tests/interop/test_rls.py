"""Presence of a whole agent group through ONE resource-list subscription
(RFC 4662) to Kamailio's RLS, and the fall back to per-agent subscriptions
when the server does not offer the list.

Kamailio's RLS sends list NOTIFYs from a timer that runs every ``waitn_time``
seconds (1, its minimum; see tests/helpers/kamailio.py): a change waits for the
next tick, up to a second. Here each change is made right after the previous
one was seen, i.e. right after a tick, so each waits the whole second plus the
transit (measured 1.000-1.005 s): the list path is held to
:data:`LIST_BOUND_S`, the server's second plus transit. Per-agent NOTIFYs
leave at once and are held to the plain second.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import InstanceFactory
from tests.helpers.instance import HeadlessInstance
from tests.helpers.kamailio import Kamailio, TlsFiles
from tests.interop.conftest import Lab, _require_kamailio, api

pytestmark = pytest.mark.multiprocess

MEMBERS = {"bob": "1002", "carol": "1003"}
# Kamailio's 1 s RLS timer tick plus transit through the server and the phones.
LIST_BOUND_S = 1.1


def _directory(lab: Lab, presence_list: str) -> dict[str, Any]:
    return {
        "agents": [{"id": "alice", "name": "Alice", "uri": lab.kam.aor("1001")},
                   {"id": "bob", "name": "Bob", "uri": lab.kam.aor("1002")},
                   {"id": "carol", "name": "Carol", "uri": lab.kam.aor("1003")}],
        "groups": [{"id": "support", "name": "Support", "members": ["bob", "carol"],
                    "uri": lab.kam.group_uri("support"), "presence_list": presence_list}],
        "presets": [],
        "my_groups": ["support"],
    }


def _start(lab: Lab, presence_list: str) -> dict[str, HeadlessInstance]:
    phones = {name: lab.phone(name) for name in ("alice", "bob", "carol")}
    for name, user in (("alice", "1001"), *MEMBERS.items()):
        lab.register(phones[name], user, publish=True)
    a = api(phones["alice"])
    mark = a.mark()
    a.call("directory.set", directory=_directory(lab, lab.kam.list_uri(presence_list)))
    for name in MEMBERS:  # their first PUBLISH says Available
        def available(e: dict[str, Any], n: str = name) -> bool:
            return bool(e["agent_id"] == n and e["state"] == "available")

        a.wait_event("directory.agent", available, timeout=5, since=mark)
    return phones


def _changes_are_seen_within(phones: dict[str, HeadlessInstance], bound: float) -> None:
    a = api(phones["alice"])
    for name, state, reason in (("bob", "not_ready", "Break"), ("carol", "not_ready", "Lunch"),
                                ("bob", "available", ""), ("carol", "available", "")):
        mark = a.mark()
        started = time.monotonic()
        api(phones[name]).call("agent.set_state", state=state,
                               **({"reason": reason} if reason else {}))

        def is_state(e: dict[str, Any], n: str = name, s: str = state) -> bool:
            return bool(e["agent_id"] == n and e["state"] == s)

        ev = a.wait_event("directory.agent", is_state, timeout=3, since=mark)
        elapsed = time.monotonic() - started
        assert elapsed < bound, f"{name} {state} seen after {elapsed:.3f} s"
        assert ev["reason"] == reason, ev
        listed = {g["id"]: g for g in a.call("directory.get")["agents"]}
        assert (listed[name]["state"], listed[name]["reason"]) == (state, reason), listed


def _subscribes(kam: Kamailio, user: str) -> list[tuple[str, str]]:
    """(source address, Call-ID) of every SUBSCRIBE to ``user`` Kamailio handled
    (the phones send each initial SUBSCRIBE twice: without, then with credentials)."""
    pattern = re.compile(rf"REQ SUBSCRIBE sip:{re.escape(user)}@\S+ from (\S+)/\w+ "
                         r"\(From \S+, Call-ID (\S+)\)")
    return [(m[1], m[2]) for m in pattern.finditer(kam.log_text())]


def test_group_states_arrive_through_one_list_subscription(lab: Lab):
    phones = _start(lab, "support-list")
    _changes_are_seen_within(phones, LIST_BOUND_S)

    kam = lab.kam
    server = f"{kam.host}:{kam.udp_port}"
    # Alice subscribed to the list once (one dialog) ...
    to_list = _subscribes(kam, "support-list")
    assert len({call_id for _, call_id in to_list}) == 1, kam.log_tail()
    assert all(source != server for source, _ in to_list)
    # ... and nobody but the RLS itself (back-end SUBSCRIBEs from Kamailio's own
    # port) subscribed to the members: no per-agent SUBSCRIBE from Alice's phone.
    for user in MEMBERS.values():
        sources = {source for source, _ in _subscribes(kam, user)}
        assert sources == {server}, (user, sources, kam.log_tail())
    alice_log = phones["alice"].log_text()
    assert "list sip:support-list@" in alice_log and "active (2 agents)" in alice_log


def test_unknown_list_falls_back_to_per_agent_subscriptions(lab: Lab):
    # The server's RLS has no such list: it hands the SUBSCRIBE to the presence
    # server, which treats the URI as a presentity and NOTIFYs without RLMI.
    phones = _start(lab, "nosuch-list")
    _per_agent_fallback(lab, phones, "nosuch-list")


@pytest.fixture
def kamailio_without_rls(tmp_path: Path, test_pki: TlsFiles) -> Iterator[Kamailio]:
    _require_kamailio()
    kam = Kamailio(tmp_path / "kamailio", tls=test_pki, rls=False)
    kam.start()
    try:
        yield kam
    finally:
        kam.stop()


def test_server_without_rls_falls_back_to_per_agent_subscriptions(
        kamailio_without_rls: Kamailio, softphones: InstanceFactory):
    lab = Lab(kamailio_without_rls, softphones)
    phones = _start(lab, "support-list")
    _per_agent_fallback(lab, phones, "support-list")


def _per_agent_fallback(lab: Lab, phones: dict[str, HeadlessInstance], list_name: str) -> None:
    _changes_are_seen_within(phones, 1.0)
    kam = lab.kam
    alice = phones["alice"]
    assert len({call_id for _, call_id in _subscribes(kam, list_name)}) == 1, kam.log_tail()
    for user in MEMBERS.values():
        sources = {source for source, _ in _subscribes(kam, user)}
        assert f"{kam.host}:{alice.sip_port}" in sources, (user, sources, kam.log_tail())
    assert "watching its members one by one" in alice.log_text()


@pytest.fixture
def kamailio_short_list(tmp_path: Path, test_pki: TlsFiles) -> Iterator[Kamailio]:
    """A server whose support list lacks Carol (IT's group has her)."""
    _require_kamailio()
    kam = Kamailio(tmp_path / "kamailio", tls=test_pki, lists={"support-list": ["1002"]})
    kam.start()
    try:
        yield kam
    finally:
        kam.stop()


def test_members_missing_from_the_servers_list_are_watched_one_by_one(
        kamailio_short_list: Kamailio, softphones: InstanceFactory):
    lab = Lab(kamailio_short_list, softphones)
    phones = _start(lab, "support-list")
    _changes_are_seen_within(phones, LIST_BOUND_S)
    kam = lab.kam
    phone = f"{kam.host}:{phones['alice'].sip_port}"
    assert phone not in {s for s, _ in _subscribes(kam, "1002")}  # Bob: the list
    assert phone in {s for s, _ in _subscribes(kam, "1003")}  # Carol: her own
    assert "not on it, watched one by one: carol" in phones["alice"].log_text()


# Well past pjsua's 256-buddy table (and the 250 the per-agent path watches);
# 2,000 took this lab server ~20 s of back-end subscriptions for no more proof
# (the benchmark's figure 7 runs the large directory).
BIG = 600


@pytest.fixture
def kamailio_big_list(tmp_path: Path, test_pki: TlsFiles) -> Iterator[Kamailio]:
    """A server whose list holds Bob and 1,999 colleagues who never log in."""
    _require_kamailio()
    others = [f"9{i:04d}" for i in range(BIG - 1)]
    kam = Kamailio(tmp_path / "kamailio", tls=test_pki,
                   lists={"everyone-list": ["1002", *others]})
    kam.start()
    try:
        yield kam
    finally:
        kam.stop()


def test_a_group_beyond_pjsuas_buddy_table_needs_no_per_agent_subscription(
        kamailio_big_list: Kamailio, softphones: InstanceFactory):
    lab = Lab(kamailio_big_list, softphones)
    kam = lab.kam
    alice, bob = lab.phone("alice"), lab.phone("bob")
    lab.register(alice, "1001", publish=True)
    lab.register(bob, "1002", publish=True)
    agents = [{"id": "bob", "name": "Bob", "uri": kam.aor("1002")}]
    agents += [{"id": f"a{i}", "name": f"Agent {i}", "uri": kam.aor(f"9{i:04d}")}
               for i in range(BIG - 1)]
    a = api(alice)
    mark = a.mark()
    a.call("directory.set", directory={
        "agents": agents, "presets": [], "my_groups": ["everyone"],
        "groups": [{"id": "everyone", "name": "Everyone", "members": [x["id"] for x in agents],
                    "presence_list": kam.list_uri("everyone-list")}]})
    a.wait_event("directory.agent", lambda e: e["agent_id"] == "bob"
                 and e["state"] == "available", timeout=10, since=mark)
    # The RLS subscribes to every member itself: let this small lab server get
    # through those back-end subscriptions (a NOTIFY back to it for each)
    # before timing a change.
    deadline = time.monotonic() + 60
    while kam.log_text().count("REQ NOTIFY sip:rls@") < BIG:
        assert time.monotonic() < deadline, kam.log_tail()
        time.sleep(0.1)
    mark = a.mark()
    started = time.monotonic()
    api(bob).call("agent.set_state", state="not_ready", reason="Break")
    a.wait_event("directory.agent", lambda e: e["agent_id"] == "bob"
                 and e["state"] == "not_ready", timeout=5, since=mark)
    assert time.monotonic() - started < LIST_BOUND_S

    # The list counts as complete 2 s after its first full state (the server
    # spreads a big one over several NOTIFYs): wait for that verdict.
    deadline = time.monotonic() + 10
    while f"active ({BIG} agents)" not in (log := alice.log_text()):
        assert time.monotonic() < deadline, log[-3000:]
        time.sleep(0.1)
    assert "pjsua can watch" not in log  # nobody left over for per-agent buddies
    phone = f"{kam.host}:{alice.sip_port}"
    assert not [s for s, _ in _subscribes(kam, "1002") if s == phone]
    assert len(a.call("directory.get")["agents"]) == BIG
