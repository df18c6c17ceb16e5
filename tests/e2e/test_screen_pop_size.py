"""The largest screen pop the limits allow travels whole: on an INVITE and
through the Refer-To of a blind transfer (which carries only User-to-User)."""

from __future__ import annotations

import urllib.parse

import pytest

from softphone.core.screen_pop import MAX_PAYLOAD, MAX_VALUE
from tests.conftest import InstanceFactory
from tests.e2e.conftest import api
from tests.e2e.transfer_helpers import customer_calls_alice, start_floor, wait_transfer
from tests.helpers.api_client import ApiError

pytestmark = pytest.mark.multiprocess


def largest_pop(number: str) -> dict[str, str]:
    """Standard fields and a multi-line, non-ASCII note filling the payload limit."""
    pop = {"number": number, "name": "Jörg Müller", "case_id": "C-2026-0042",
           "queue": "billing",
           "notes": ("Kunde ruft zum dritten Mal an.\nRückruf bis Freitag, 10:00 & <b>dringend</b>;"
                     " Zählerstand prüfen. " * 20)[:MAX_VALUE]}
    while len(urllib.parse.urlencode(pop, quote_via=urllib.parse.quote_plus)) > MAX_PAYLOAD:
        pop["notes"] = pop["notes"][:-1]
    assert len(pop["notes"]) > 400 and "\n" in pop["notes"]
    return pop


def test_largest_pop_survives_an_invite_intact(softphones: InstanceFactory):
    a, b = softphones("alice"), softphones("bob")
    pop = largest_pop("+4930123456")
    mark = api(b).mark()
    api(a).call("call.make", uri=b.sip_uri, screen_pop=pop)
    incoming = api(b).wait_call_state(None, "incoming", since=mark)
    assert api(b).call("call.screen_pop", call_id=incoming["call_id"])["data"] == pop


def test_a_pop_over_the_limit_is_refused_not_cut(softphones: InstanceFactory):
    a, b = softphones("alice"), softphones("bob")
    pop = largest_pop("+4930123456")
    pop["account"] = "x" * 40
    with pytest.raises(ApiError) as err:
        api(a).call("call.make", uri=b.sip_uri, screen_pop=pop)
    assert err.value.code == -32602 and f"{MAX_PAYLOAD} bytes" in str(err.value.message)
    assert api(a).call("call.list")["calls"] == []


def test_largest_pop_survives_a_blind_transfer_intact(softphones: InstanceFactory, tmp_path):
    floor = start_floor(softphones, tmp_path)
    alice, bob = floor.alice, floor.bob
    pop = largest_pop("customer")
    _, a_call = customer_calls_alice(floor, pop=pop)
    assert api(alice).call("call.screen_pop", call_id=a_call)["data"] == pop

    mark = api(bob).mark()
    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    ringing = api(bob).wait_call_state(None, "incoming", since=mark)
    assert api(bob).call("call.screen_pop", call_id=ringing["call_id"])["data"] == pop
    api(bob).call("call.answer", call_id=ringing["call_id"])
    wait_transfer(alice, "completed")
