"""Digest authentication of the resource-list SUBSCRIBEs (softphone.sip.rls_auth):
against the scripted server, then the rules on their own."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from pytestqt.qtbot import QtBot

from softphone.sip.rls_auth import (
    MAX_CHAIN,
    Chain,
    CredentialsRefused,
    DigestAnswers,
    digest_username,
)
from softphone.sip.rls_message import SipMessage, digest_authorization, parse_challenge
from tests.helpers.rls_server import (
    FakeServer,
    accept,
    account,
    challenge,
    digest_fields,
    subscribe,
)


def test_wrong_password_fails_at_the_first_refusal(qtbot: QtBot, server: FakeServer):
    # A challenge to our answer without stale=true: the password is wrong.
    # Trying again (each time with a new nonce) went on forever.
    sub, rec, req, addr = subscribe(qtbot, server, account(server, password="wrong"))
    challenge(server, req, addr, "n1")
    req, addr = server.expect(qtbot, "SUBSCRIBE")
    assert digest_fields(req)["nonce"] == "n1"
    challenge(server, req, addr, "n2")
    qtbot.waitUntil(lambda: rec.failures != [])
    assert "credentials" in rec.failures[0] and not sub.transient_failure
    server.quiet(qtbot)


def test_a_stale_nonce_is_answered_once_more(qtbot: QtBot, server: FakeServer):
    sub, rec, req, addr = subscribe(qtbot, server, account(server))
    challenge(server, req, addr, "n1")
    req, addr = server.expect(qtbot, "SUBSCRIBE")
    challenge(server, req, addr, "n2", stale=True)
    req, addr = server.expect(qtbot, "SUBSCRIBE")
    assert digest_fields(req)["nonce"] == "n2"
    challenge(server, req, addr, "n3", stale=True)  # stale again: that is no nonce problem
    qtbot.waitUntil(lambda: rec.failures != [])
    assert "credentials" in rec.failures[0] and not sub.transient_failure
    server.quiet(qtbot)


def test_refused_credentials_of_a_working_list_fail_it(qtbot: QtBot, server: FakeServer):
    # A list that worked: cached credentials refused (a restarted server's
    # nonces) get one fresh answer; refused again, the list fails for good
    # (per-agent buddies use pjsua's own authentication) instead of retrying
    # with backoff forever.
    sub, rec, req, addr = subscribe(qtbot, server, account(server))
    challenge(server, req, addr, "n1")
    req, addr = server.expect(qtbot, "SUBSCRIBE")
    accept(qtbot, server, req, addr, rec)
    sub.refresh_now()
    req, addr = server.expect(qtbot, "SUBSCRIBE")
    assert digest_fields(req)["nonce"] == "n1"  # cached
    challenge(server, req, addr, "n2")
    req, addr = server.expect(qtbot, "SUBSCRIBE")
    assert digest_fields(req)["nonce"] == "n2"  # answered afresh, once
    challenge(server, req, addr, "n3")
    qtbot.waitUntil(lambda: rec.failures != [])
    assert "credentials" in rec.failures[0] and not sub.transient_failure


def test_the_current_password_is_used_and_nc_counts_per_nonce(qtbot: QtBot,
                                                              server: FakeServer):
    # account.set_password changes the account's spec: the list answers
    # challenges with what the account has now, not with what it was made with.
    current = account(server, password="old")
    sub, rec, req, addr = subscribe(qtbot, server, current, credentials=lambda: current)
    challenge(server, req, addr, "p1")
    req, addr = server.expect(qtbot, "SUBSCRIBE")
    challenge(server, req, addr, "w1", status=401)  # the RLS itself asks too
    req, addr = server.expect(qtbot, "SUBSCRIBE")
    proxy, www = digest_fields(req), digest_fields(req, "Authorization")
    assert (proxy["nonce"], proxy["nc"]) == ("p1", "00000002")  # p1's second use
    assert (www["nonce"], www["nc"]) == ("w1", "00000001")
    accept(qtbot, server, req, addr, rec)
    current = replace(current, password="new")
    sub.refresh_now()
    req, _ = server.expect(qtbot, "SUBSCRIBE")
    fields = digest_fields(req)
    p1 = parse_challenge('Digest realm="127.0.0.1", nonce="p1", qop="auth"')
    assert p1 is not None and fields["nc"] == "00000003"
    assert req.get("Proxy-Authorization") == digest_authorization(
        p1, method="SUBSCRIBE", uri=f"sip:rls@127.0.0.1:{server.port}", username="1001",
        password="new", nc=3, cnonce=fields["cnonce"])
    sub.stop()


# -- the rules on their own ----------------------------------------------------------------


@dataclass(frozen=True)
class Creds:
    username: str = "1001"
    password: str = "pw"
    realm: str = "*"


AOR = "sip:1001@pbx.example.com"
LIST_URI = "sip:support-list@pbx.example.com"


def refusal(status: int, *challenges: str) -> SipMessage:
    header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    return SipMessage(status=status, reason="Unauthorized",
                      headers=[(header, value) for value in challenges])


def test_a_challenge_is_answered_in_every_later_request_with_nc_counting_up() -> None:
    answers = DigestAnswers()
    assert answers.headers(LIST_URI, Creds(), AOR) == []
    chain = answers.take_challenge(refusal(401, 'Digest realm="pbx", nonce="n1", qop="auth"'),
                                   Chain(), Creds())
    assert chain == Chain(tries=1, answered=frozenset({"Authorization"}))
    (name, first), = answers.headers(LIST_URI, Creds(), AOR)
    (_, second), = answers.headers(LIST_URI, Creds(), AOR)
    assert name == "Authorization"
    assert "nc=00000001" in first and "nc=00000002" in second
    challenge_n1 = parse_challenge('Digest realm="pbx", nonce="n1", qop="auth"')
    assert challenge_n1 is not None
    cnonce = first.split('cnonce="')[1].split('"')[0]
    assert first == digest_authorization(challenge_n1, method="SUBSCRIBE", uri=LIST_URI,
                                         username="1001", password="pw", nc=1, cnonce=cnonce)


def test_a_new_nonce_starts_its_own_count() -> None:
    answers = DigestAnswers()
    answers.take_challenge(refusal(407, 'Digest realm="pbx", nonce="n1", qop="auth"'), Chain(),
                           Creds())
    answers.headers(LIST_URI, Creds(), AOR)
    answers.take_challenge(refusal(407, 'Digest realm="pbx", nonce="n2", qop="auth"'), Chain(),
                           Creds())
    (name, value), = answers.headers(LIST_URI, Creds(), AOR)
    assert name == "Proxy-Authorization" and 'nonce="n2"' in value and "nc=00000001" in value


@pytest.mark.parametrize(("creds", "challenges", "why"), [
    (Creds(realm="other"), ['Digest realm="pbx", nonce="n"'], "no credentials"),
    (Creds(password=""), ['Digest realm="pbx", nonce="n"'], "no credentials"),
    (Creds(), ['Digest realm="pbx", nonce="n", algorithm=SHA-512-256-unknown'],
     "no credentials"),
    (Creds(), ['Basic realm="pbx"'], "no credentials"),
    (Creds(), [], "no credentials"),
], ids=["other-realm", "no-password", "unknown-algorithm", "not-digest", "no-challenge"])
def test_a_challenge_that_cannot_be_answered_is_refused(creds: Creds, challenges: list[str],
                                                        why: str) -> None:
    with pytest.raises(CredentialsRefused, match=why):
        DigestAnswers().take_challenge(refusal(401, *challenges), Chain(), creds)


def test_the_realm_of_the_credentials_picks_the_challenge() -> None:
    answers = DigestAnswers()
    answers.take_challenge(refusal(401, 'Digest realm="a", nonce="na"',
                                   'Digest realm="b", nonce="nb"'), Chain(), Creds(realm="b"))
    (_, value), = answers.headers(LIST_URI, Creds(realm="b"), AOR)
    assert 'realm="b"' in value and 'nonce="nb"' in value


def test_a_long_chain_is_refused() -> None:
    msg = refusal(401, 'Digest realm="pbx", nonce="n"')
    with pytest.raises(CredentialsRefused, match="refused our credentials"):
        DigestAnswers().take_challenge(msg, Chain(tries=MAX_CHAIN), Creds())


def test_the_user_name_falls_back_to_the_aor_user() -> None:
    assert digest_username(Creds(username="agent7"), AOR) == "agent7"
    assert digest_username(Creds(username=""), AOR) == "1001"
    assert digest_username(Creds(username=""), "not a uri") == ""
