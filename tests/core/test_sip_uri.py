from __future__ import annotations

import pytest

from softphone.core.errors import InvalidUriError
from softphone.core.sip_uri import parse_sip_uri


@pytest.mark.parametrize(("text", "expected"), [
    ("sip:alice@example.com", "sip:alice@example.com"),
    ("alice@example.com", "sip:alice@example.com"),
    ("<sip:bob@127.0.0.1:5062>", "sip:bob@127.0.0.1:5062"),
    ("SIP:bob@host", "sip:bob@host"),
    ("sips:carol@host;transport=tls", "sips:carol@host;transport=tls"),
    ("sip:+15551234567@pbx.example.com;user=phone", "sip:+15551234567@pbx.example.com;user=phone"),
    ("sip:[::1]:5060", "sip:[::1]:5060"),
    ("sip:bob@host?X-Case=42", "sip:bob@host?X-Case=42"),
])
def test_valid(text, expected):
    assert str(parse_sip_uri(text)) == expected


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty"),
    ("   ", "empty"),
    ("http://x", "not a SIP URI scheme"),
    ("tel:+123", "not a SIP URI scheme"),
    ("sip:bob@host\r\nVia: x", "forbidden character"),
    ("sip:bob smith@host", "forbidden character"),
    ('sip:"bob"@host', "forbidden character"),
    ("sip:bob@host:0", "out of range"),
    ("sip:bob@host:70000", "out of range"),
    ("sip:bob@-host", "not a valid SIP URI"),
    ("sip:" + "a" * 2000, "longer than"),
])
def test_invalid(text, fragment):
    with pytest.raises(InvalidUriError, match=fragment):
        parse_sip_uri(text)


def test_non_string_is_refused():
    with pytest.raises(InvalidUriError):
        parse_sip_uri(42)  # type: ignore[arg-type]


def test_transport_param():
    assert parse_sip_uri("sip:h;transport=TCP").transport == "tcp"
    assert parse_sip_uri("sip:h").transport is None


def test_parse_addr_reads_header_style_addresses():
    from softphone.core.sip_uri import parse_addr

    parsed = parse_addr('"Ann <x>" <sip:ann@Host:5062;transport=tcp>;tag=9')
    assert parsed is not None and (parsed.user, parsed.host, parsed.port) == ("ann", "Host", 5062)
    assert parse_addr("not an address") is None
