from __future__ import annotations

import urllib.parse

import pytest

from softphone.core.errors import InvalidParamsError
from softphone.core.screen_pop import (
    INVITE_RESERVE,
    MAX_VALUE,
    POP_HEADER_BUDGET,
    ScreenPop,
    check_size,
    decode_uui,
    encode_uui,
    outgoing_headers,
    pop_from_headers,
    refer_to_uri,
    sanitise_fields,
    transfer_kind,
    validate_fields,
)
from softphone.core.sip_headers import MAX_SIP_MESSAGE


def test_uui_round_trip_with_unicode_markup_and_newlines():
    data = {"case_id": "C-42", "notes": "line1\nline2 <b>bold</b> & é", "number": "+4930123"}
    value = encode_uui(data)
    assert value.endswith(";encoding=hex")
    assert set(value.split(";")[0]) <= set("0123456789abcdef")
    assert decode_uui(value) == data


def test_uui_garbage_and_other_encodings_are_ignored():
    assert decode_uui("zzzz;encoding=hex") == {}
    assert decode_uui("abc;encoding=ascii") == {}


def test_incoming_pop_prefers_x_headers_and_falls_back_to_from():
    headers = {
        "From": '"Ann <script>" <sip:+4930999@pbx>;tag=1',
        "User-to-User": encode_uui({"case_id": "1", "queue": "sales"}),
        "X-Pop-Case_id": "2",
    }
    pop = pop_from_headers(headers)
    assert pop.fields["case_id"] == "2"
    assert pop.fields["queue"] == "sales"
    assert pop.number == "+4930999"
    assert pop.name == "Ann <script>"


def test_network_data_is_cleaned_not_trusted():
    headers = {"X-Pop-Bad key": "x", "X-Pop-notes": "a\x1b[31mred\x00", "From": "<sip:1@h>"}
    pop = pop_from_headers(headers)
    assert pop.fields["notes"] == "a[31mred"
    assert all(" " not in k for k in pop.fields)
    many = {f"X-Pop-f{i}": "v" * 600 for i in range(100)}
    pop = pop_from_headers(many)
    assert len(pop.fields) <= 34
    assert all(len(v) <= 512 for v in pop.fields.values())


@pytest.mark.parametrize("data", [
    {"Case": "x"}, {"a b": "x"}, {"k": 1}, {"k": "v" * 513}, {f"k{i}": "v" for i in range(33)},
    ["k"],
])
def test_api_data_is_validated_strictly(data):
    with pytest.raises(InvalidParamsError):
        validate_fields(data)


def test_merge_enforces_total_size():
    pop = ScreenPop({"number": "1"})
    with pytest.raises(InvalidParamsError, match="bytes"):
        pop.merged({f"k{i}": "v" * 500 for i in range(10)})
    assert pop.fields == {"number": "1"}


def test_outgoing_headers_and_refer_to():
    pop = ScreenPop({"number": "+1555", "case_id": "9", "notes": "a\nb"})
    headers = outgoing_headers(pop)
    assert headers["X-Pop-notes"] == "a b"
    assert decode_uui(headers["User-to-User"])["notes"] == "a\nb"
    uri = refer_to_uri("sip:bob@127.0.0.1:5062", pop)
    assert uri.startswith("<sip:bob@127.0.0.1:5062?") and uri.endswith(">")
    query = dict(urllib.parse.parse_qsl(uri[1:-1].split("?", 1)[1]))
    assert query["X-Softphone-Transfer"] == "blind"
    assert decode_uui(query["User-to-User"])["case_id"] == "9"


def test_transfer_kind():
    assert transfer_kind({"X-Softphone-Transfer": "consult"}) == "consult"
    assert transfer_kind({"Referred-By": "<sip:a@b>"}) == "blind"
    assert transfer_kind({"b": "<sip:a@b>"}) == "blind"
    assert transfer_kind({"From": "x"}) is None


def _largest_pop(note_unit: str) -> dict[str, str]:
    """Standard fields plus the longest note of ``note_unit`` repeats that check_size allows."""
    fields = {"number": "+4930123456", "name": "Jörg Müller", "case_id": "C-2026-0042",
              "queue": "billing", "notes": (note_unit * MAX_VALUE)[:MAX_VALUE]}
    while True:
        try:
            check_size(fields)
            return fields
        except InvalidParamsError:
            fields["notes"] = fields["notes"][:-1]


@pytest.mark.parametrize("unit", ["Rückruf erbeten.\n", "x", "ä", "😀 "])
def test_every_allowed_pop_fits_its_header_budget_and_round_trips(unit):
    fields = _largest_pop(unit)
    headers = outgoing_headers(ScreenPop(fields))
    size = sum(len(f"{k}: {v}\r\n".encode()) for k, v in headers.items())
    assert size <= POP_HEADER_BUDGET
    assert POP_HEADER_BUDGET + INVITE_RESERVE <= MAX_SIP_MESSAGE
    # User-to-User is always whole; the receiver gets exactly what was sent.
    assert decode_uui(headers["User-to-User"]) == fields
    assert pop_from_headers(headers).fields == fields


def test_x_pop_copies_are_added_while_they_fit():
    small = outgoing_headers(ScreenPop({"case_id": "9", "notes": "short"}))
    assert small["X-Pop-case_id"] == "9" and small["X-Pop-notes"] == "short"
    big = outgoing_headers(ScreenPop(_largest_pop("x")))
    assert big["X-Pop-number"] == "+4930123456"
    assert "X-Pop-notes" not in big  # no room left: User-to-User has it


def test_our_own_single_line_copy_does_not_flatten_the_notes():
    pop = ScreenPop({"notes": "line 1\nline 2", "case_id": "7"})
    headers = outgoing_headers(pop)
    assert headers["X-Pop-notes"] == "line 1 line 2"
    assert pop_from_headers(headers).fields["notes"] == "line 1\nline 2"
    # A different X- value (set by a PBX on the way) still wins.
    headers["X-Pop-case_id"] = "8"
    assert pop_from_headers(headers).fields["case_id"] == "8"


def test_network_data_is_kept_within_what_can_be_sent_on():
    data = {f"f{i}": "ü" * 100 for i in range(20)}
    fields = sanitise_fields(data)
    check_size(fields)  # a transfer can carry it on
    assert 0 < len(fields) < 20
    assert all(fields[k] == data[k] for k in fields)  # whole fields, never a cut one


def test_spaces_cost_one_byte_in_the_payload():
    value = encode_uui({"notes": "a b+c"})
    assert bytes.fromhex(value.split(";")[0]) == b"notes=a+b%2Bc"
    assert decode_uui(value) == {"notes": "a b+c"}
    # Payloads with %20 (earlier versions, other senders) still decode.
    assert decode_uui(b"notes=a%20b".hex()) == {"notes": "a b"}
