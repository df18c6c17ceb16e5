"""Validation of provisioning files: the example, and each kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from softphone.config.errors import ConfigError, ConfigIssue
from softphone.config.provisioning import build_directory, validate_provisioning_text
from softphone.core.agent_state import AgentStateMachine

MINIMAL = """\
schema_version = 1

[[directory.agents]]
id = "a1"
name = "Alice"
uri = "sip:alice@pbx.example.com"

[[directory.agents]]
id = "a2"
name = "Bob"
uri = "sip:bob@pbx.example.com"

[[directory.groups]]
id = "g1"
name = "Billing"
members = ["a1", "a2"]
"""


def issues_of(text: str, source: str = "prov.toml") -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        validate_provisioning_text(text, source)
    return info.value.issues


def line_number(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def test_example_file_is_valid_and_builds_the_core_directory(example_text):
    provisioning = validate_provisioning_text(example_text, "example.toml")
    directory = build_directory(provisioning)
    assert len(directory.groups) == 3
    assert len(directory.agents) == 12
    assert len(directory.presets) == 3
    assert directory.my_groups == ["billing"]  # derived from identity.agent_id
    assert [a.agent_id for a in directory.members("retention")] == [
        "i.rossi", "j.kowalski", "k.mensah"]
    assert directory.groups["billing"].uri == "sip:billing@pbx.example.com"
    assert directory.presets["field-service"].number == "+33170364922"
    assert directory.presets["fraud-desk"].group_id == "billing"
    agent = directory.agent_by_uri("sip:4203@pbx.example.com")
    assert agent is not None and agent.name == "Gen Tanaka"
    # The agent-state settings feed the core state machine as they are.
    machine = AgentStateMachine(wrap_up_seconds=provisioning.agent.wrap_up_seconds,
                                wrap_up_returns_to=provisioning.agent.wrap_up_returns_to,
                                reasons=provisioning.agent.not_ready_reasons)
    assert machine.wrap_up_seconds == 45 and "Coaching" in machine.reasons


def test_empty_file_is_valid_with_documented_defaults():
    provisioning = validate_provisioning_text("", "empty.toml")
    assert provisioning.features.session_transfer is True
    assert provisioning.features.four_way_conference is False
    assert provisioning.transfer.queued_max_hold_seconds == 60
    assert [p.name for p in provisioning.dial_plan.patterns] == ["E.164", "Internal extension"]
    assert build_directory(provisioning).agents == {}


def test_malformed_toml_names_the_line():
    text = MINIMAL + '\n[features]\nsession_transfer = tru e\n'
    (issue,) = issues_of(text)
    assert issue.file == "prov.toml"
    assert issue.line == line_number(text, "session_transfer")
    assert "not valid TOML" in issue.message


def test_wrong_type_names_file_line_and_key():
    text = MINIMAL + '\n[agent]\nwrap_up_seconds = "30"\n'
    (issue,) = issues_of(text)
    assert (issue.line, issue.key) == (line_number(text, "wrap_up_seconds"),
                                       "agent.wrap_up_seconds")
    assert "integer" in issue.message
    assert str(issue).startswith(f"prov.toml:{issue.line}: agent.wrap_up_seconds: ")


def test_yes_is_not_a_boolean():
    (issue,) = issues_of('[features]\nsession_transfer = "yes"\n')
    assert issue.key == "features.session_transfer" and issue.line == 2
    assert "boolean" in issue.message and "'yes'" in issue.message


def test_unknown_key_lists_the_allowed_ones():
    text = MINIMAL + "\n[features]\nfour_way = true\n"
    (issue,) = issues_of(text)
    assert issue.key == "features.four_way"
    assert issue.line == line_number(text, "four_way")
    assert "unknown key" in issue.message and "four_way_conference" in issue.message


def test_unknown_table_is_reported():
    (issue,) = issues_of("[featurs]\nsession_transfer = true\n")
    assert (issue.key, issue.line) == ("featurs", 1)
    assert "unknown key" in issue.message


def test_password_in_provisioning_is_refused_pointing_to_the_keyring():
    text = ('[[accounts]]\nid = "main"\naor = "sip:1001@pbx.example.com"\n'
            'password = "hunter2"\n')
    (issue,) = issues_of(text)
    assert (issue.key, issue.line) == ("accounts[0].password", 4)
    assert "keyring" in issue.message and "never" in issue.message
    assert "hunter2" not in str(issue)


def test_password_anywhere_is_refused():
    (issue,) = issues_of('[crm]\nurl_template = ""\nsecret = "s3cr3t"\n')
    assert issue.key == "crm.secret" and "keyring" in issue.message


@pytest.mark.parametrize("uri", ["sip:bob pbx", "http://example.com", "sip:bob@"])
def test_bad_agent_uri(uri):
    text = MINIMAL.replace("sip:bob@pbx.example.com", uri)
    (issue,) = issues_of(text)
    assert issue.key == "directory.agents[1].uri"
    assert issue.line == line_number(text, f'uri = "{uri}"')


def test_bad_account_aor_and_server_in_inline_tables():
    text = ('accounts = [\n'
            '  { id = "a", aor = "sip:1@pbx.example.com" },\n'
            '  { id = "b", aor = "sip:2@pbx.example.com", server = "sip:x@pbx" },\n'
            ']\n')
    (issue,) = issues_of(text)
    assert (issue.key, issue.line) == ("accounts[1].server", 3)
    assert "without a user part" in issue.message


def test_member_that_is_not_an_agent():
    text = MINIMAL.replace('members = ["a1", "a2"]', 'members = ["a1",\n  "zz"]')
    (issue,) = issues_of(text)
    assert issue.key == "directory.groups[0].members[1]"
    assert issue.line == line_number(text, '"zz"')
    assert "'zz' is not the id of an agent" in issue.message


def test_preset_of_unknown_group_and_identity_of_unknown_agent():
    text = (MINIMAL + '\n[[directory.presets]]\nid = "p"\nname = "P"\nnumber = "+441234567"\n'
            'group = "nope"\n\n[identity]\nagent_id = "ghost"\n')
    issues = issues_of(text)
    assert {(i.key, i.line) for i in issues} == {
        ("directory.presets[0].group", line_number(text, 'group = "nope"')),
        ("identity.agent_id", line_number(text, 'agent_id = "ghost"')),
    }


def test_duplicate_agent_id():
    text = MINIMAL.replace('id = "a2"', 'id = "a1"')
    issues = issues_of(text)
    assert issues[0].key == "directory.agents[1].id"
    assert issues[0].line == line_number(text, 'id = "a1"', 2)
    assert "duplicate" in issues[0].message


def test_invalid_dial_plan_regex():
    text = ("[dial_plan]\n\n[[dial_plan.patterns]]\nname = \"ok\"\nregex = '^\\d+$'\n\n"
            "[[dial_plan.patterns]]\nname = \"broken\"\nregex = '^(\\d+$'\n")
    (issue,) = issues_of(text)
    assert (issue.key, issue.line) == ("dial_plan.patterns[1].regex", 9)
    assert "regular expression" in issue.message


def test_tls_required_needs_tls_accounts():
    text = ('[security]\ntls_required = true\n\n[[accounts]]\nid = "a"\n'
            'aor = "sip:1@pbx.example.com"\ntransport = "udp"\n')
    (issue,) = issues_of(text)
    assert (issue.key, issue.line) == ("accounts[0].transport", 7)


def test_crm_template_must_be_http():
    (issue,) = issues_of('[crm]\nurl_template = "javascript:alert({number})"\n')
    assert issue.key == "crm.url_template" and "https://" in issue.message


def test_several_errors_are_all_reported(tmp_path: Path):
    text = ('[features]\nsession_transfer = 1\nfour_way_conference = "no"\n'
            '[transfer]\nqueued_max_hold_seconds = 0\n')
    keys = [i.key for i in issues_of(text)]
    assert keys == ["features.session_transfer", "features.four_way_conference",
                    "transfer.queued_max_hold_seconds"]
