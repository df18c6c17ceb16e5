"""AccountManager's registration bookkeeping, with pjsua's side stubbed.

No endpoint is created: ``SipAccount.create``/``setRegistration``/``shutdown``
are replaced by recorders, and pjsua's registration results are fed to
``_on_reg_state`` as ``onRegState`` would. (The same with a real registrar:
tests/sip/test_unregister_sipp.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pjsua2 as pj
import pytest
from PySide6.QtCore import QCoreApplication, QEvent

from softphone.core.errors import SipError
from softphone.core.ids import IdFactory
from softphone.core.registration import RegistrationState
from softphone.sip.accounts import AccountInfo, AccountManager, AccountSpec, SipAccount
from softphone.sip.config import EngineConfig

SPEC = AccountSpec(uri="sip:1001@pbx.example.com", username="1001", password="pw")


class Pjsua:
    """Records what the manager asks of pjsua; ``create_error`` makes create fail;
    ``on_create`` runs inside create (pjsua may report a first state at once)."""

    def __init__(self) -> None:
        self.registrations: list[tuple[str, bool]] = []
        self.create_error: str | None = None
        self.on_create: Any = None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        pjsua = self

        def create(acc: SipAccount, cfg: Any, make_default: bool) -> None:
            if pjsua.create_error is not None:
                err = pj.Error()
                err.reason = pjsua.create_error
                raise err
            if pjsua.on_create is not None:
                pjsua.on_create(acc)

        def set_registration(acc: SipAccount, renew: bool) -> None:
            pjsua.registrations.append((acc.account_id, renew))

        monkeypatch.setattr(SipAccount, "create", create)
        monkeypatch.setattr(SipAccount, "setRegistration", set_registration)
        monkeypatch.setattr(SipAccount, "shutdown", lambda acc: None)


@pytest.fixture
def pjsua(monkeypatch: pytest.MonkeyPatch) -> Pjsua:
    stub = Pjsua()
    stub.install(monkeypatch)
    return stub


@pytest.fixture
def manager(qapp: Any, pjsua: Pjsua) -> Iterator[AccountManager]:
    endpoint = SimpleNamespace(config=EngineConfig(), sip_port=5060)
    mgr = AccountManager(endpoint, IdFactory())  # type: ignore[arg-type]
    yield mgr
    mgr.shutdown()
    # Retry timers are deleted with deleteLater: let that happen while their
    # parent (the manager) is still alive.
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def emitted(mgr: AccountManager) -> list[AccountInfo]:
    seen: list[AccountInfo] = []
    mgr.registration_changed.connect(seen.append)
    return seen


def info(mgr: AccountManager, account_id: str) -> AccountInfo:
    (found,) = [i for i in mgr.infos() if i.account_id == account_id]
    return found


def reg_state(mgr: AccountManager, account_id: str, code: int, reason: str,
              expiration: int) -> None:
    mgr._on_reg_state(mgr.get(account_id), code, reason, expiration)


def registered(mgr: AccountManager) -> str:
    account_id = mgr.register(SPEC)
    reg_state(mgr, account_id, 200, "OK", 300)
    assert info(mgr, account_id).state == RegistrationState.REGISTERED
    return account_id


@pytest.mark.parametrize(("code", "reason"), [(503, "Service Unavailable"),
                                              (408, "Request Timeout")])
def test_a_failed_unregister_is_never_retried(manager: AccountManager, pjsua: Pjsua,
                                              code: int, reason: str):
    account_id = registered(manager)
    manager.unregister(account_id)
    assert pjsua.registrations[-1] == (account_id, False)
    reg_state(manager, account_id, code, reason, 0)
    now = info(manager, account_id)
    assert now.state == RegistrationState.UNREGISTERED, now
    assert now.retry_in is None and now.code == code
    assert account_id not in manager._retry_timers  # no re-REGISTER is scheduled
    manager.transport_lost()  # nor by a dropped connection
    assert info(manager, account_id).retry_in is None
    assert (account_id, True) not in pjsua.registrations


def test_a_failed_register_is_still_retried_with_backoff(manager: AccountManager):
    account_id = manager.register(SPEC)
    reg_state(manager, account_id, 503, "Service Unavailable", 0)
    now = info(manager, account_id)
    assert now.state == RegistrationState.FAILED
    assert now.retry_in is not None and now.retry_in > 0


def test_reregister_after_unregister_retries_again(manager: AccountManager, pjsua: Pjsua):
    account_id = registered(manager)
    manager.unregister(account_id)
    reg_state(manager, account_id, 200, "OK", 0)
    assert info(manager, account_id).state == RegistrationState.UNREGISTERED
    manager.reregister(account_id)
    assert pjsua.registrations[-1] == (account_id, True)
    reg_state(manager, account_id, 503, "Service Unavailable", 0)
    assert info(manager, account_id).state == RegistrationState.FAILED
    assert info(manager, account_id).retry_in is not None


def test_a_failed_create_announces_nothing_and_leaves_no_trace(manager: AccountManager,
                                                               pjsua: Pjsua):
    seen = emitted(manager)
    pjsua.create_error = "Invalid URI (PJSIP_EINVALIDURI)"
    with pytest.raises(SipError, match="could not create the account"):
        manager.register(SPEC, account_id="prov-1")
    assert seen == []  # never said "registering"
    assert "prov-1" not in manager.account_ids()
    assert all(i.account_id != "prov-1" for i in manager.infos())
    assert "prov-1" not in manager._backoff and "prov-1" not in manager._wanted
    # The id is free again: the same account can be tried once more.
    pjsua.create_error = None
    assert manager.register(SPEC, account_id="prov-1") == "prov-1"
    assert [(i.account_id, i.state) for i in seen] == [("prov-1",
                                                        RegistrationState.REGISTERING)]


def test_a_state_reported_during_create_is_announced_once_and_last(manager: AccountManager,
                                                                   pjsua: Pjsua):
    seen = emitted(manager)
    pjsua.on_create = lambda acc: manager._on_reg_state(acc, 403, "Forbidden", 0)
    account_id = manager.register(SPEC)
    assert [(i.account_id, i.state, i.code) for i in seen] == [
        (account_id, RegistrationState.FAILED, 403)]
    assert info(manager, account_id).state == RegistrationState.FAILED


def test_remove_leaves_no_backoff_and_ignores_late_results(manager: AccountManager):
    account_id = manager.register(SPEC)
    reg_state(manager, account_id, 503, "Service Unavailable", 0)
    acc = manager.get(account_id)
    manager.remove(account_id)
    assert account_id not in manager._backoff and account_id not in manager._retry_timers
    seen = emitted(manager)
    manager._on_reg_state(acc, 503, "Service Unavailable", 0)  # pjsua's last word
    assert seen == [] and account_id not in manager.account_ids()
