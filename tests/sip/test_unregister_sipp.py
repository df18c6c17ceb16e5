"""A registrar (sipp) that refuses the un-REGISTER: the account the agent
unregistered stays unregistered, with no retry scheduled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import InstanceFactory
from tests.e2e.conftest import api
from tests.helpers.sipp import Sipp
from tests.helpers.tools import require_tool

pytestmark = pytest.mark.multiprocess

SCENARIO = Path(__file__).with_name("sipp") / "uas_registrar_503_unregister.xml"


@pytest.fixture
def registrar(tmp_path: Path) -> Iterator[Sipp]:
    require_tool("sipp", "sip-tester")
    sipp = Sipp(tmp_path / "sipp", str(SCENARIO), timeout_s=30)
    sipp.start()
    yield sipp
    sipp.stop()


def test_an_unregister_answered_503_is_not_retried(softphones: InstanceFactory,
                                                   registrar: Sipp):
    alice = softphones("alice")
    a = api(alice)
    account_id = a.call("account.register", uri=f"sip:1001@{registrar.uri_host}",
                        username="1001", password="secret")["account_id"]
    a.wait_event("registration", lambda e: e["account_id"] == account_id
                 and e["state"] == "registered")
    mark = a.mark()
    a.call("account.unregister", account_id=account_id)
    refused = a.wait_event("registration", lambda e: e["account_id"] == account_id
                           and e["code"] == 503, since=mark)
    assert refused["state"] == "unregistered" and refused["retry_in"] is None, refused
    assert registrar.wait() == 0, registrar.report()
    (acc,) = [x for x in a.call("account.list")["accounts"] if x["account_id"] == account_id]
    assert (acc["state"], acc["retry_in"]) == ("unregistered", None), acc
    # Nothing after the refusal: no "registering (retry)" or new attempt.
    later = [e for e in a.events[mark:] if e["type"] == "registration"
             and e["account_id"] == account_id and e["state"] != "unregistered"]
    assert later == [], later
