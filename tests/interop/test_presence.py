"""Presence through Kamailio's presence server: agents PUBLISH their state,
colleagues SUBSCRIBE through the server (one subscription per agent: the group
here names no resource list).

Resource lists (RFC 4662, one subscription per group through Kamailio's RLS)
and the fall back to these per-agent subscriptions: tests/interop/test_rls.py.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.interop.conftest import Lab, api

pytestmark = pytest.mark.multiprocess


def _directory(lab: Lab) -> dict[str, Any]:
    return {
        "agents": [{"id": "alice", "name": "Alice", "uri": lab.kam.aor("1001")},
                   {"id": "bob", "name": "Bob", "uri": lab.kam.aor("1002")}],
        "groups": [{"id": "support", "name": "Support", "members": ["bob"],
                    "uri": lab.kam.group_uri("support")}],
        "presets": [],
        "my_groups": ["support"],
    }


def test_agent_state_reaches_colleague_through_presence_server(lab: Lab):
    alice = lab.phone("alice")
    bob = lab.phone("bob")
    lab.register(alice, "1001", publish=True)
    lab.register(bob, "1002", publish=True)
    a = api(alice)
    a.call("directory.set", directory=_directory(lab))

    # The first NOTIFY (after bob's initial PUBLISH) says Available.
    a.wait_event("directory.agent", lambda e: e["agent_id"] == "bob"
                 and e["state"] == "available", timeout=5)

    for state, reason in (("not_ready", "Break"), ("available", ""), ("not_ready", "Lunch")):
        mark = a.mark()
        started = time.monotonic()
        params = {"state": state, **({"reason": reason} if reason else {})}
        api(bob).call("agent.set_state", **params)
        def is_state(e: dict[str, Any], s: str = state) -> bool:
            return bool(e["agent_id"] == "bob" and e["state"] == s)

        ev = a.wait_event("directory.agent", is_state, timeout=2, since=mark)
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"{state} seen after {elapsed:.2f} s"
        assert ev["reason"] == reason, ev
        listed = {g["id"]: g for g in a.call("directory.get")["agents"]}
        assert (listed["bob"]["state"], listed["bob"]["reason"]) == (state, reason), listed

    # It went through the server: Kamailio handled bob's PUBLISHes and alice's
    # SUBSCRIBE (the phones' own ports never saw each other's requests).
    log = lab.kam.log_text()
    assert "REQ PUBLISH sip:1002@" in log, lab.kam.log_tail()
    assert "REQ SUBSCRIBE sip:1002@" in log, lab.kam.log_tail()
