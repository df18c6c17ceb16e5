from __future__ import annotations

import pytest

from softphone.core import screen_pop
from softphone.core.errors import InvalidParamsError
from softphone.core.sip_headers import (
    MAX_KEPT_HEADERS,
    MAX_RECEIVED_HEADER_VALUE,
    MAX_SIP_MESSAGE,
    parse_message_headers,
    validate_extra_headers,
)

INVITE = (
    "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060\r\n"
    "f: \"Alice\" <sip:alice@127.0.0.1>;tag=1\r\n"
    "X-Case-Id: 42\r\n"
    "X-Note: first line\r\n"
    "  continued\r\n"
    "x-case-id: 43\r\n"
    "b: <sip:carol@127.0.0.1>\r\n"
    "\r\n"
    "v=0\r\nX-Not-A-Header: body\r\n"
)


def test_parse_expands_compact_unfolds_and_joins():
    headers = parse_message_headers(INVITE)
    assert headers["From"].startswith('"Alice"')
    assert headers["X-Note"] == "first line continued"
    assert headers["X-Case-Id"] == "42, 43"
    assert headers["Referred-By"] == "<sip:carol@127.0.0.1>"
    assert "X-Not-A-Header" not in headers


def test_parse_keeps_the_first_names_and_reports_the_rest():
    message = "INVITE x SIP/2.0\r\n" + "".join(f"X-H{i}: v{i}\r\n" for i in range(70))
    dropped: list[str] = []
    headers = parse_message_headers(message, dropped)
    assert len(headers) == MAX_KEPT_HEADERS
    assert headers["X-H63"] == "v63"
    assert dropped == [f"X-H{i}" for i in range(64, 70)]


def test_parse_leaves_out_overlong_values_whole_and_never_cuts_them():
    fits = "a" * MAX_RECEIVED_HEADER_VALUE
    message = ("INVITE x SIP/2.0\r\n"
               f"X-Fits: {fits}\r\n"
               f"X-Long: {fits}b\r\n"
               f"X-Rep: {'c' * (MAX_RECEIVED_HEADER_VALUE - 3)}\r\n"
               "X-Rep: dd\r\n"
               "X-Short: ok\r\n\r\n")
    dropped: list[str] = []
    headers = parse_message_headers(message, dropped)
    assert headers["X-Fits"] == fits
    assert "X-Long" not in headers
    # The repetition would push the joined value over the limit: left out, not cut.
    assert headers["X-Rep"] == "c" * (MAX_RECEIVED_HEADER_VALUE - 3)
    assert headers["X-Short"] == "ok"
    assert dropped == ["X-Long", "X-Rep"]


def test_the_largest_screen_pop_survives_parsing_intact():
    """A maximal pop's User-to-User (4 KB-class hex) is read back whole."""
    fields = {"number": "+4930123", "notes": "Rückruf\nbitte " * 200}
    while len(screen_pop._urlencode(fields)) > screen_pop.MAX_PAYLOAD:
        fields["notes"] = fields["notes"][:-1]
    screen_pop.check_size(fields)
    uui = screen_pop.encode_uui(fields)
    assert len(uui) > 1024  # the old cut
    headers = parse_message_headers(f"INVITE x SIP/2.0\r\nUser-to-User: {uui}\r\n\r\n")
    assert headers["User-To-User"] == uui  # names are canonicalised
    assert screen_pop.pop_from_headers(headers).fields == fields


def test_received_limit_covers_every_message_pjsip_accepts():
    assert MAX_RECEIVED_HEADER_VALUE >= MAX_SIP_MESSAGE
    assert 2 * screen_pop.MAX_PAYLOAD < MAX_RECEIVED_HEADER_VALUE


def test_validate_accepts_custom_headers():
    assert validate_extra_headers({"X-Case": "42"}) == {"X-Case": "42"}


@pytest.mark.parametrize("headers", [
    {"Via": "x"}, {"call-id": "x"}, {"X Bad": "x"}, {"X-A": "a\r\nb"}, {"X-A": 3},
    {"X-A": "v" * 2000}, {f"X-{i}": "v" for i in range(40)}, ["X-A"],
])
def test_validate_refuses(headers):
    with pytest.raises(InvalidParamsError):
        validate_extra_headers(headers)
