from __future__ import annotations

import pytest

from softphone.core.agent_state import AgentState
from softphone.core.directory import Directory
from softphone.core.errors import (
    InvalidParamsError,
    InvalidStateError,
    NotFoundError,
    TransferNotAllowedError,
)
from softphone.core.screen_pop import ScreenPop
from softphone.core.transfer import (
    Phase,
    TargetKind,
    Transfer,
    TransferKind,
    check_allowed,
    check_kind,
    first_available,
    resolve_target,
    target_kind,
)

DIRECTORY = Directory.from_json({
    "agents": [
        {"id": "bob", "name": "Bob", "uri": "sip:bob@127.0.0.1:5062"},
        {"id": "eve", "name": "Eve", "uri": "sip:eve@127.0.0.1:5064"},
    ],
    "groups": [{"id": "sales", "name": "Sales", "members": ["bob", "eve"]}],
    "presets": [{"id": "legal", "name": "Legal hotline", "number": "+4930111", "group": "sales"}],
    "my_groups": ["sales"],
})


@pytest.mark.parametrize(("text", "kind", "uri"), [
    ("agent:bob", TargetKind.AGENT, "sip:bob@127.0.0.1:5062"),
    ("sip:eve@127.0.0.1:5064", TargetKind.AGENT, "sip:eve@127.0.0.1:5064"),
    ("group:sales", TargetKind.GROUP, ""),
    ("preset:legal", TargetKind.PRESET, "sip:+4930111@pbx.example.com"),
    ("+49 30 222", TargetKind.EXTERNAL, "sip:+4930222@pbx.example.com"),
    ("sip:carol@elsewhere.example", TargetKind.EXTERNAL, "sip:carol@elsewhere.example"),
])
def test_resolve(text, kind, uri):
    target = resolve_target(text, DIRECTORY, default_domain="pbx.example.com")
    assert (target.kind, target.uri) == (kind, uri)


@pytest.mark.parametrize(("text", "error"), [
    ("agent:nobody", NotFoundError), ("group:x", NotFoundError), ("preset:x", NotFoundError),
    ("", InvalidParamsError), ("not a target", Exception),
])
def test_resolve_errors(text, error):
    with pytest.raises(error):
        resolve_target(text, DIRECTORY, default_domain="pbx.example.com")


@pytest.mark.parametrize(("text", "kind"), [
    ("agent:bob", TargetKind.AGENT), ("agent:nobody", TargetKind.AGENT),
    ("group:sales", TargetKind.GROUP), ("preset:legal", TargetKind.PRESET),
    ("preset:nowhere", TargetKind.PRESET), ("1234", TargetKind.EXTERNAL),
    ("+49 30-222", TargetKind.EXTERNAL), ("sip:eve@127.0.0.1:5064", TargetKind.AGENT),
    ("sip:carol@elsewhere.example", TargetKind.EXTERNAL),
])
def test_target_kind_needs_no_domain(text, kind):
    assert target_kind(text, DIRECTORY) == kind


def test_kind_rule_comes_before_dialling_details():
    # With no SIP domain a bare number cannot be resolved; an unsupervised
    # transfer to it is still refused for what it is: not allowed.
    with pytest.raises(InvalidParamsError, match="no SIP domain"):
        resolve_target("1234", DIRECTORY)
    for text in ("1234", "preset:legal", "preset:nowhere"):
        with pytest.raises(TransferNotAllowedError, match="agent or an agent group only"):
            check_kind(TransferKind.UNSUPERVISED, target_kind(text, DIRECTORY))
    with pytest.raises(TransferNotAllowedError, match="manually entered"):
        check_kind(TransferKind.SUPERVISED, target_kind("1234", DIRECTORY),
                   external_allowed=False)
    check_kind(TransferKind.SUPERVISED, target_kind("1234", DIRECTORY))
    check_kind(TransferKind.UNSUPERVISED, target_kind("group:sales", DIRECTORY))


def test_number_without_domain_is_a_clear_error():
    with pytest.raises(InvalidParamsError, match="no SIP domain"):
        resolve_target("1234", DIRECTORY)


@pytest.mark.parametrize("text", ["+4930222", "sip:carol@elsewhere.example", "preset:legal"])
def test_unsupervised_to_external_or_preset_is_refused(text):
    target = resolve_target(text, DIRECTORY, default_domain="pbx.example.com")
    with pytest.raises(TransferNotAllowedError, match="agent or an agent group only"):
        check_allowed(TransferKind.UNSUPERVISED, target)
    check_allowed(TransferKind.SUPERVISED, target)  # allowed supervised


@pytest.mark.parametrize("text", ["agent:bob", "group:sales"])
def test_unsupervised_to_agents_and_groups_is_allowed(text):
    check_allowed(TransferKind.UNSUPERVISED, resolve_target(text, DIRECTORY))


def test_policy_switches():
    external = resolve_target("sip:carol@evil.example", DIRECTORY)
    with pytest.raises(TransferNotAllowedError):
        check_allowed(TransferKind.SUPERVISED, external, external_allowed=False)
    with pytest.raises(TransferNotAllowedError, match=r"evil\.example"):
        check_allowed(TransferKind.SUPERVISED, external, allowed_domains=["example.com"])
    good = resolve_target("sip:carol@pbx.example.com", DIRECTORY)
    check_allowed(TransferKind.SUPERVISED, good, allowed_domains=["example.com"])


def test_first_available_member_in_hunting_order():
    members = DIRECTORY.members("sales")
    assert first_available(members) is None
    members[1].state = AgentState.AVAILABLE
    assert first_available(members) is members[1]
    members[1].state = AgentState.LOGGED_OUT


def test_transfer_phases():
    target = resolve_target("agent:bob", DIRECTORY)
    t = Transfer("xfer-1", TransferKind.SUPERVISED, "call-1", target, ScreenPop())
    assert t.advance(Phase.CONSULT_RINGING)
    assert not t.advance(Phase.CONSULT_RINGING)
    t.advance(Phase.CONSULTING)
    t.advance(Phase.COMPLETING)
    t.advance(Phase.COMPLETED, 200, "OK")
    assert not t.active
    with pytest.raises(InvalidStateError):
        t.advance(Phase.CONSULTING)
    assert t.to_json()["phase"] == "completed"


def test_domain_patterns():
    from softphone.core.transfer import domain_allowed

    assert domain_allowed("pbx.example.com", ["example.com"])
    assert domain_allowed("example.com", ["example.com"])
    assert domain_allowed("a.b.example.com", ["*.example.com"])
    assert not domain_allowed("example.com", ["*.example.com"])
    assert not domain_allowed("badexample.com", ["example.com", "*.example.com"])
    assert not domain_allowed("example.com.evil.net", ["example.com"])


def test_new_call_pending_follows_the_last_notify():
    t = Transfer("xfer-2", TransferKind.UNSUPERVISED, "call-1",
                 resolve_target("agent:bob", DIRECTORY), ScreenPop())
    assert not t.new_call_pending and t.to_json()["notify_code"] == 0
    for code, pending in ((100, True), (182, True), (180, True), (487, False), (200, False)):
        t.notify_code = code
        assert t.new_call_pending is pending, code
    assert t.to_json()["notify_code"] == 200
