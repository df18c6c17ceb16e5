from __future__ import annotations

import pytest

from softphone.core.directory import Directory
from softphone.core.errors import InvalidParamsError


def test_watch_order_puts_my_groups_first():
    d = Directory.from_json({
        "agents": [{"id": f"a{i}", "name": f"A{i}", "uri": f"sip:a{i}@h"} for i in range(6)],
        "groups": [{"id": "g1", "name": "G1", "members": ["a4", "a5"]},
                   {"id": "g2", "name": "G2", "members": ["a2", "a4"]}],
        "my_groups": ["g2"],
    })
    assert [a.agent_id for a in d.watch_order()] == ["a2", "a4", "a5", "a0", "a1", "a3"]


@pytest.mark.parametrize("data", [
    {"agents": [{"id": "bad id", "name": "x", "uri": "sip:x@h"}]},
    {"agents": [{"id": "a", "name": "x", "uri": "not a uri"}]},
    {"groups": [{"id": "g", "name": "G", "members": ["ghost"]}]},
    {"groups": [{"id": "g", "name": "G", "presence_list": "not a uri"}]},
    {"groups": [{"id": "g", "name": "G", "presence_list": 5}]},
    {"presets": [{"id": "p", "name": "P", "number": "1", "group": "nope"}]},
    {"my_groups": ["nope"]},
    [],
])
def test_bad_directories_are_refused(data):
    with pytest.raises(InvalidParamsError):
        Directory.from_json(data)


def test_agent_by_uri_ignores_brackets_and_params():
    d = Directory.from_json({"agents": [{"id": "b", "name": "B", "uri": "sip:b@H:5062"}]})
    agent = d.agent_by_uri("<sip:b@h:5062;transport=udp>")
    assert agent is not None and agent.agent_id == "b"


def test_group_presence_list_round_trips():
    d = Directory.from_json({
        "agents": [{"id": "a", "name": "A", "uri": "sip:a@h"}],
        "groups": [{"id": "sales", "name": "Sales", "members": ["a"],
                    "presence_list": "sip:sales-list@example.com"},
                   {"id": "other", "name": "Other"}],
    })
    assert d.groups["sales"].presence_list == "sip:sales-list@example.com"
    assert d.groups["other"].presence_list == ""
    again = Directory.from_json(d.to_json())
    assert again.groups["sales"].presence_list == "sip:sales-list@example.com"
    assert again.to_json() == d.to_json()


def test_provisioned_group_carries_its_presence_list():
    from softphone.config.provisioning import build_directory
    from softphone.config.schema import Provisioning

    p = Provisioning.model_validate({"directory": {
        "agents": [{"id": "a", "name": "A", "uri": "sip:a@example.com"}],
        "groups": [{"id": "sales", "name": "Sales", "members": ["a"],
                    "presence_list": "sip:sales-list@example.com"}],
    }})
    assert build_directory(p).groups["sales"].presence_list == "sip:sales-list@example.com"
