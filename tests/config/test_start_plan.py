"""From the loaded configuration to what the runtime starts with (app_config.plan_start)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from softphone.app_config import plan_start
from softphone.cli import build_parser
from softphone.config.passwords import SERVICE, PasswordStore
from softphone.config.startup import load_configuration
from tests.helpers.keyring_backends import MemoryKeyring

ACCOUNTS = """\
[[accounts]]
id = "pub"
aor = "sip:4101@pbx.example.com"
presence = "publish"

[[accounts]]
id = "peer"
aor = "sip:4102@pbx.example.com"
"""


def provisioned(system_dir: Path, text: str = ACCOUNTS) -> None:
    (system_dir / "provisioning.toml").write_text(text)


def test_provisioned_presence_publish_enables_publish(system_dir: Path, tmp_path: Path):
    provisioned(system_dir)
    loaded = load_configuration(tmp_path / "p", passwords=PasswordStore(MemoryKeyring()))
    plan = plan_start(build_parser().parse_args(["--headless"]), loaded)
    specs = {a.account_id: a.spec for a in plan.accounts}
    assert specs["pub"].publish is True
    assert specs["peer"].publish is False  # the default: peer-to-peer SUBSCRIBEs


def test_unknown_presence_mode_is_a_provisioning_error(system_dir: Path, tmp_path: Path):
    provisioned(system_dir, ACCOUNTS.replace('"publish"', '"server"'))
    loaded = load_configuration(tmp_path / "p")
    (problem,) = loaded.problems
    assert f"{system_dir / 'provisioning.toml'}:4: accounts[0].presence" in problem
    assert loaded.effective.accounts == []  # defaults are in use



def test_plan_uses_the_processs_one_password_store(system_dir: Path, tmp_path: Path):
    provisioned(system_dir)
    backend = MemoryKeyring()
    backend.set_password(SERVICE, "peer", "from-keyring")
    store = PasswordStore(backend)
    loaded = load_configuration(tmp_path / "p", passwords=store)
    assert loaded.passwords is store
    plan = plan_start(build_parser().parse_args([]), loaded)
    missing = {a.account_id: a.password_missing for a in plan.accounts}
    assert missing == {"pub": True, "peer": False}
    assert {a.account_id: a.spec.password for a in plan.accounts}["peer"] == "from-keyring"
    # A password kept for this session only (typed in a dialog) is seen by the next plan.
    store.keep_for_session("pub", "typed")
    again = plan_start(build_parser().parse_args([]), loaded)
    assert [(a.account_id, a.password_missing, a.spec.password) for a in again.accounts] == [
        ("pub", False, "typed"), ("peer", False, "from-keyring")]
    assert backend.entries == {(SERVICE, "peer"): "from-keyring"}  # nothing stored


def test_headless_missing_password_is_logged_with_what_to_do(system_dir: Path, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture):
    provisioned(system_dir)
    loaded = load_configuration(tmp_path / "p", passwords=PasswordStore(MemoryKeyring()))
    with caplog.at_level(logging.WARNING, logger="softphone"):
        plan = plan_start(build_parser().parse_args(["--headless"]), loaded)
    (pub,) = [r.getMessage() for r in caplog.records if "'pub'" in r.getMessage()]
    assert "no password is stored" in pub
    assert "softphone password set pub" in pub and "account.set_password" in pub
    assert any("'peer'" in r.getMessage() for r in caplog.records)  # both are missing
    # Headless registers it anyway (a registrar without authentication takes it).
    assert [a.account_id for a in plan.accounts] == ["pub", "peer"]


def test_gui_mode_has_pjsip_produce_traces_for_the_live_switch(system_dir: Path, tmp_path: Path):
    loaded = load_configuration(tmp_path / "p", passwords=PasswordStore(MemoryKeyring()))
    assert loaded.effective.settings.logging.sip_trace is False
    assert plan_start(build_parser().parse_args([]), loaded).engine.sip_trace is True
    headless = plan_start(build_parser().parse_args(["--headless"]), loaded)
    assert headless.engine.sip_trace is False
