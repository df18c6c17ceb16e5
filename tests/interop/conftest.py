"""Fixtures for interop tests against a real Kamailio (registrar + proxy).

Needs Debian's ``kamailio`` and ``kamailio-tls-modules`` packages and ``openssl``.
Without the kamailio binary these tests are skipped, or fail when ``CI`` is set
(a CI machine must have them installed). Debugging: ``INTEROP_SIP_TRACE=1`` logs
every SIP message in the phones' logs, ``KAMAILIO_DEBUG=3`` makes Kamailio verbose.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import InstanceFactory
from tests.helpers.api_client import ApiClient
from tests.helpers.instance import HeadlessInstance
from tests.helpers.kamailio import Kamailio, TlsFiles, kamailio_binary, make_test_pki
from tests.helpers.tools import missing


def _require_kamailio() -> None:
    if kamailio_binary() is not None:
        return
    reason = ("kamailio is not installed (apt-get install kamailio kamailio-tls-modules "
              "kamailio-utils-modules kamailio-sqlite-modules kamailio-presence-modules)")
    missing(reason)


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """One test CA and server certificate for the whole session."""
    _require_kamailio()
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def kamailio(tmp_path: Path, test_pki: TlsFiles) -> Iterator[Kamailio]:
    """A started Kamailio on free ports; stopped after the test."""
    _require_kamailio()
    # KAMAILIO_DEBUG=3 logs every routing decision into tmp_path/kamailio/kamailio.log.
    kam = Kamailio(tmp_path / "kamailio", tls=test_pki,
                   debug=int(os.environ.get("KAMAILIO_DEBUG", "2")))
    kam.start()
    try:
        yield kam
    finally:
        kam.stop()


@pytest.fixture
def lab(kamailio: Kamailio, softphones: InstanceFactory) -> Iterator[Lab]:
    """Kamailio plus softphone processes; the phones are stopped before Kamailio
    (otherwise each would wait on its un-REGISTER)."""
    yield Lab(kamailio, softphones)


class Lab:
    def __init__(self, kamailio: Kamailio, softphones: InstanceFactory) -> None:
        self.kam = kamailio
        self.softphones = softphones

    def phone(self, name: str, **kwargs: Any) -> HeadlessInstance:
        """A headless softphone that trusts the lab's test CA for TLS."""
        assert self.kam.tls is not None
        extra = ["--tls-ca-file", str(self.kam.tls.ca_cert), *kwargs.pop("extra_args", [])]
        if os.environ.get("INTEROP_SIP_TRACE"):
            extra.append("--sip-trace")
        return self.softphones(name, extra_args=extra, **kwargs)

    def register(self, inst: HeadlessInstance, user: str, transport: str = "udp",
                 timeout: float = 10.0, **overrides: Any) -> str:
        """Register ``user`` on ``inst`` and wait for ``registered``; returns the account id."""
        client = api(inst)
        mark = client.mark()
        params = {**self.kam.account_params(user, transport), **overrides}
        account_id = client.call("account.register", **params)["account_id"]
        client.wait_event("registration", lambda e: e["account_id"] == account_id
                          and e["state"] == "registered", timeout=timeout, since=mark)
        return str(account_id)


def api(inst: HeadlessInstance) -> ApiClient:
    assert inst.api is not None
    return inst.api


def call_through_proxy(caller: HeadlessInstance, caller_account: str,
                       callee: HeadlessInstance, callee_account: str, target_uri: str
                       ) -> tuple[str, str]:
    """``caller`` calls ``target_uri`` through Kamailio; ``callee`` answers on its
    registered account. Returns (caller call id, callee call id), both confirmed."""
    mark = api(callee).mark()
    out = api(caller).call("call.make", uri=target_uri, account_id=caller_account)["call_id"]
    incoming = api(callee).wait_call_state(None, "incoming", since=mark)
    assert incoming["account_id"] == callee_account, incoming
    api(callee).call("call.answer", call_id=incoming["call_id"])
    api(caller).wait_call_state(out, "confirmed")
    api(callee).wait_call_state(incoming["call_id"], "confirmed", since=mark)
    return out, incoming["call_id"]


def hang_up(by: HeadlessInstance, by_call: str, other: HeadlessInstance, other_call: str) -> None:
    api(by).call("call.hangup", call_id=by_call)
    api(by).wait_call_state(by_call, "disconnected")
    api(other).wait_call_state(other_call, "disconnected")
