"""Log redaction and SIP trace switching; the dial plan and the CRM URL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from softphone.config.dialplan import check_number, fill_crm_url
from softphone.config.logsetup import (
    LogSetup,
    active_log_setup,
    set_sip_trace,
    setup_file_logging,
)
from softphone.config.schema import DialPlan
from softphone.core.errors import InvalidParamsError
from softphone.core.redact import redact


def test_redact_authorization_and_passwords():
    trace = ("INVITE sip:bob@x SIP/2.0\r\nAuthorization: Digest username=\"1001\", "
             "response=\"abc123\"\r\nProxy-Authorization: Digest response=\"def\"\r\n"
             "Via: SIP/2.0/UDP 10.0.0.1\r\n")
    out = redact(trace)
    assert "abc123" not in out and "def\"" not in out
    assert "Via: SIP/2.0/UDP 10.0.0.1" in out
    assert redact("password=hunter2 user=a") == "password=<redacted> user=a"
    assert redact('{"password": "hunter2"}') == '{"password": <redacted>}'
    assert "pw" not in redact("https://user:pw@prov.example.com/x")


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[LogSetup]:
    setup = setup_file_logging(tmp_path / "logs", level="INFO")
    yield setup
    setup.close()


def test_file_log_is_redacted_and_sip_traces_switch(logs: LogSetup):
    pjlog = logging.getLogger("softphone.pjsip")
    logging.getLogger("softphone.test").info("registering with password=%s", "hunter2")
    pjlog.debug("TX 512 bytes Request msg REGISTER trace-one")
    logs.set_sip_trace(True)
    pjlog.debug("TX REGISTER\nAuthorization: Digest response=\"secret-hash\"\ntrace-two")
    logs.set_sip_trace(False)
    pjlog.debug("trace-three")
    logs.handler.flush()
    text = logs.path.read_text()
    assert "hunter2" not in text and "password=<redacted>" in text
    assert "secret-hash" not in text and "trace-two" in text
    assert "trace-one" not in text and "trace-three" not in text


@pytest.mark.parametrize(("typed", "ok", "normalised"), [
    ("+44 20 7946 0018", True, "+442079460018"),
    ("0044 (20) 7946-0018", True, "+442079460018"),
    ("4102", True, "4102"),
    ("12", False, "12"),
    ("+0123456789", False, "+0123456789"),
    ("4102; drop", False, "4102;drop"),
    ("", False, ""),
])
def test_check_number(typed: str, ok: bool, normalised: str):
    plan = DialPlan(international_prefix="00")
    result = check_number(typed, plan)
    assert (result.ok, result.normalised) == (ok, normalised)
    assert (result.reason == "") is ok


def test_refusal_names_the_allowed_patterns():
    assert "E.164, Internal extension" in check_number("12").reason


def test_crm_url_is_percent_encoded():
    url = fill_crm_url("https://crm.example.com/case?id={case_id}&phone={number}",
                       {"case_id": "A&B=1/..", "number": "+44 20"})
    assert url == "https://crm.example.com/case?id=A%26B%3D1%2F..&phone=%2B44%2020"
    assert fill_crm_url("https://crm.example.com/{missing}", {}) == "https://crm.example.com/"


@pytest.mark.parametrize("template", ["javascript:alert({number})", "file:///etc/{number}",
                                      "{number}", "https://x/{number!r}"])
def test_crm_url_refuses_bad_templates(template: str):
    with pytest.raises(InvalidParamsError):
        fill_crm_url(template, {"number": "1"})


def test_log_file_rotates_and_rotated_files_stay_redacted(tmp_path: Path):
    setup = setup_file_logging(tmp_path / "logs", level="INFO", max_bytes=2000, backups=2)
    try:
        log = logging.getLogger("softphone.test")
        for i in range(60):
            log.info("line %03d password=hunter2-%d", i, i)
            log.info("line %03d Authorization: Digest username=\"1001\", response=\"r%d\"", i, i)
        setup.handler.flush()
    finally:
        setup.close()
    files = sorted((tmp_path / "logs").iterdir())
    # 120 lines of ~110 bytes: rotated many times, only the newest two old files kept.
    assert [p.name for p in files] == ["softphone.log", "softphone.log.1", "softphone.log.2"]
    for path in files:
        text = path.read_text()
        assert path.stat().st_size <= 2000
        assert "hunter2" not in text and 'response="r' not in text, path.name
        assert "password=<redacted>" in text and "Authorization: <redacted>" in text
    assert "line 059" in files[0].read_text()  # the newest lines are in the current file
    assert "line 000" not in "".join(p.read_text() for p in files)  # the oldest rotated out


def test_sip_trace_switches_live_without_the_setup_object(logs: LogSetup):
    assert active_log_setup() is logs
    pjlog = logging.getLogger("softphone.pjsip")
    set_sip_trace(True)
    pjlog.debug("trace-on")
    set_sip_trace(False)
    pjlog.debug("trace-off")
    logs.handler.flush()
    text = logs.path.read_text()
    assert "trace-on" in text and "trace-off" not in text
