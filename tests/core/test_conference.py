from __future__ import annotations

import pytest

from softphone.core.conference import Conference, Party, PartyRole, PartyState, check_enabled
from softphone.core.errors import InvalidStateError, NotFoundError, TransferNotAllowedError


def conference() -> Conference:
    conf = Conference("conf-1", "xfer-1")
    conf.add("c1", PartyRole.CUSTOMER, "Customer", PartyState.WAITING)
    conf.add("c2", PartyRole.TARGET, "Bob", PartyState.JOINED)
    return conf


def test_add_fourth_then_join_everyone():
    conf = conference()
    conf.check_can_add()
    conf.add("c3", PartyRole.FOURTH, "Dave")
    assert not conf.ready_to_join()
    with pytest.raises(InvalidStateError, match="ringing"):
        conf.check_can_add()
    conf.parties["c3"].state = PartyState.WAITING
    assert conf.ready_to_join()
    for p in conf.parties.values():
        p.state = PartyState.JOINED
    assert conf.mixing() == {"c1", "c2", "c3"}


def test_fifth_party_is_refused():
    conf = conference()
    conf.add("c3", PartyRole.FOURTH, "Dave", PartyState.JOINED)
    with pytest.raises(InvalidStateError, match="at most four"):
        conf.check_can_add()


def test_hold_mixes_nobody_and_refuses_adding():
    conf = conference()
    conf.held = True
    assert conf.mixing() == set()
    with pytest.raises(InvalidStateError):
        conf.check_can_add()


def test_left_parties_are_not_found_and_free_a_place():
    conf = conference()
    conf.add("c3", PartyRole.FOURTH, "Dave", PartyState.JOINED)
    conf.parties["c3"].state = PartyState.LEFT
    with pytest.raises(NotFoundError):
        conf.get("c3")
    conf.check_can_add()


def test_disabled_feature_is_refused():
    with pytest.raises(TransferNotAllowedError, match="not enabled"):
        check_enabled(False)
    check_enabled(True)


def test_a_fourth_party_that_fails_is_reported_and_abandons_an_unmixed_conference():
    conf = conference()
    conf.add("c3", PartyRole.FOURTH, "Carol")
    party = conf.parties["c3"]
    party.state = PartyState.LEFT
    failure = party.fail(486, "Busy  Here\r\n")
    assert failure.message == "Carol did not answer (486 Busy Here)"
    # The first cause wins (our ring timeout, then the 487 of our CANCEL).
    assert party.fail(487, "Request Terminated") is failure
    assert party.to_json()["failure"] == {"status_code": 486, "reason": "Busy Here",
                                          "message": "Carol did not answer (486 Busy Here)"}
    assert conf.to_json()["parties"][2] == party.to_json()  # type: ignore[index]
    # Customer still waiting, target joined: nothing to join any more.
    assert conf.abandoned()
    assert not conf.ready_to_join()


def test_failure_without_a_status_and_untrusted_reasons():
    party = Party("c3", PartyRole.FOURTH, "Carol")
    assert party.to_json()["failure"] is None
    assert party.fail(0, "").message == "Carol could not be reached"
    long = Party("c4", PartyRole.FOURTH, "Dave").fail(603, "x" * 500)
    assert len(long.reason) == 120


def test_a_mixed_conference_is_not_abandoned_when_its_fourth_party_leaves():
    conf = conference()
    conf.add("c3", PartyRole.FOURTH, "Dave", PartyState.JOINED)
    conf.parties["c1"].state = PartyState.JOINED
    conf.parties["c3"].state = PartyState.LEFT
    assert not conf.abandoned() and not conf.finished()
    assert conf.mixing() == {"c1", "c2"}


def test_after_the_transfer_a_conference_needs_two_parties_and_takes_no_more():
    conf = conference()
    conf.add("c3", PartyRole.FOURTH, "Dave", PartyState.JOINED)
    conf.transfer_over = True
    conf.parties["c2"].state = PartyState.LEFT
    assert not conf.finished()  # customer and fourth party go on
    assert conf.to_json()["transfer_over"] is True
    with pytest.raises(InvalidStateError, match="transfer is over"):
        conf.check_can_add()
    conf.parties["c3"].state = PartyState.LEFT
    assert conf.finished()  # the customer alone: an ordinary call
    still_transferring = conference()
    still_transferring.parties["c2"].state = PartyState.LEFT
    assert not still_transferring.finished()
