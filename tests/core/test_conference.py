from __future__ import annotations

import pytest

from softphone.core.conference import Conference, PartyRole, PartyState, check_enabled
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
