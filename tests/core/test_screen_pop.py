from __future__ import annotations

import urllib.parse

import pytest

from softphone.core.errors import InvalidParamsError
from softphone.core.screen_pop import (
    ScreenPop,
    decode_uui,
    encode_uui,
    outgoing_headers,
    pop_from_headers,
    refer_to_uri,
    transfer_kind,
    validate_fields,
)


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
