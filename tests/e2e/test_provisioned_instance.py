"""IT's provisioning file reaches a running instance: directory, policies, switches."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import InstanceFactory
from tests.e2e.conftest import api, connect, start_pair
from tests.helpers.api_client import ApiError

pytestmark = pytest.mark.multiprocess


def write_provisioning(path: Path, bob_uri: str, *, session_transfer: bool) -> Path:
    path.write_text(f"""
schema_version = 1

[features]
session_transfer = {str(session_transfer).lower()}
manual_external_transfer = false

[agent]
not_ready_reasons = ["Break", "Coaching"]
wrap_up_seconds = 20

[identity]
agent_id = "alice"

[[directory.agents]]
id = "alice"
name = "Alice"
uri = "sip:alice@127.0.0.1:9"

[[directory.agents]]
id = "bob"
name = "Bob <b>Builder</b>"
uri = "{bob_uri}"

[[directory.groups]]
id = "support"
name = "Support"
members = ["alice", "bob"]
""")
    return path


def test_provisioned_directory_reasons_and_external_policy(softphones: InstanceFactory,
                                                           tone_files, tmp_path):
    bob = softphones("bob")
    prov = write_provisioning(tmp_path / "prov.toml", bob.sip_uri, session_transfer=True)
    alice = softphones("alice", extra_args=["--provisioning", str(prov)])
    directory = api(alice).call("directory.get")
    assert [a["id"] for a in directory["agents"]] == ["alice", "bob"]
    assert directory["agents"][1]["name"] == "Bob <b>Builder</b>"  # literal text
    assert directory["my_groups"] == ["support"]
    with pytest.raises(ApiError) as err:
        api(alice).call("agent.set_state", state="not_ready", reason="Lunch")
    assert "Coaching" in str(err.value.message)
    api(alice).call("agent.set_state", state="not_ready", reason="Coaching")
    # Bob's presence is watched: his state shows in alice's directory.
    api(bob).call("agent.set_state", state="not_ready", reason="Break")
    api(alice).wait_event("directory.agent", lambda e: e["agent_id"] == "bob"
                          and e["state"] == "not_ready")
    # manual_external_transfer = false: a typed URI is refused, the agent is fine.
    a_call, _ = connect(alice, bob)
    with pytest.raises(ApiError) as err:
        api(alice).call("transfer.supervised.start", call_id=a_call,
                        target="sip:someone@127.0.0.1:9")
    assert err.value.data["code"] == "transfer_not_allowed"


def test_session_transfer_switched_off_refuses_transfers(softphones: InstanceFactory,
                                                         tone_files, tmp_path):
    a, b = start_pair(softphones, tone_files)
    prov = write_provisioning(tmp_path / "off.toml", b.sip_uri, session_transfer=False)
    c = softphones("carol", extra_args=["--provisioning", str(prov)])
    c_call, _ = connect(c, a)
    for method in ("transfer.supervised.start", "transfer.unsupervised"):
        with pytest.raises(ApiError) as err:
            api(c).call(method, call_id=c_call, target="agent:bob")
        assert err.value.data["code"] == "transfer_not_allowed"
        assert "switched off" in str(err.value.message)
    (call,) = api(c).call("call.list")["calls"]
    assert (call["state"], call["hold"]) == ("confirmed", "none")


def test_broken_provisioning_file_starts_on_defaults_and_says_why(softphones: InstanceFactory,
                                                                  tmp_path):
    prov = tmp_path / "broken.toml"
    prov.write_text("schema_version = 1\n[features]\nsession_transfer = \"yes\"\n")
    alice = softphones("alice", extra_args=["--provisioning", str(prov)])
    assert api(alice).call("status")["running"] is True
    assert "broken.toml:3" in alice.log_text() and "session_transfer" in alice.log_text()
    assert prov.read_text().endswith('"yes"\n')  # never overwritten
