from __future__ import annotations

import pytest

from softphone.core.errors import InvalidParamsError
from softphone.core.sip_headers import parse_message_headers, validate_extra_headers

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


def test_parse_limits_size():
    message = "INVITE x SIP/2.0\r\n" + "".join(f"X-H{i}: {'v' * 5000}\r\n" for i in range(200))
    headers = parse_message_headers(message)
    assert len(headers) == 64
    assert all(len(v) <= 1024 for v in headers.values())


def test_validate_accepts_custom_headers():
    assert validate_extra_headers({"X-Case": "42"}) == {"X-Case": "42"}


@pytest.mark.parametrize("headers", [
    {"Via": "x"}, {"call-id": "x"}, {"X Bad": "x"}, {"X-A": "a\r\nb"}, {"X-A": 3},
    {"X-A": "v" * 2000}, {f"X-{i}": "v" for i in range(40)}, ["X-A"],
])
def test_validate_refuses(headers):
    with pytest.raises(InvalidParamsError):
        validate_extra_headers(headers)
