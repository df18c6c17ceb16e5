from __future__ import annotations

import json

import pytest

from softphone.automation import jsonrpc
from softphone.automation.jsonrpc import Params, RpcError, parse_request
from softphone.core.errors import InvalidUriError


def test_parse_valid_request_and_notification():
    req = parse_request(b'{"jsonrpc":"2.0","id":3,"method":"status","params":{}}')
    assert (req.method, req.id, req.is_notification) == ("status", 3, False)
    note = parse_request(b'{"jsonrpc":"2.0","method":"status"}')
    assert note.is_notification


@pytest.mark.parametrize(("line", "code"), [
    (b"{", jsonrpc.PARSE_ERROR),
    (b"\xff", jsonrpc.PARSE_ERROR),
    (b"[]", jsonrpc.INVALID_REQUEST),
    (b"3", jsonrpc.INVALID_REQUEST),
    (b'{"jsonrpc":"1.0","method":"x"}', jsonrpc.INVALID_REQUEST),
    (b'{"method":""}', jsonrpc.INVALID_REQUEST),
    (b'{"method":"x","params":[1]}', jsonrpc.INVALID_PARAMS),
    (b'{"method":"x","id":true}', jsonrpc.INVALID_REQUEST),
    (b'{"method":"x","id":{}}', jsonrpc.INVALID_REQUEST),
])
def test_parse_errors(line, code):
    with pytest.raises(RpcError) as err:
        parse_request(line)
    assert err.value.code == code


def test_app_errors_carry_a_stable_code():
    err = RpcError.from_softphone(InvalidUriError("bad"))
    body = json.loads(jsonrpc.error(1, err))
    assert body["error"] == {"code": -32005, "message": "bad", "data": {"code": "invalid_uri"}}


def test_params_type_checks():
    p = Params({"a": "x", "n": 3, "b": True}, {"a", "n", "b", "o"})
    assert (p.text("a"), p.integer("n"), p.flag("b"), p.opt_text("o")) == ("x", 3, True, None)
    with pytest.raises(RpcError):
        p.integer("b")
    with pytest.raises(RpcError):
        p.text("n")
    with pytest.raises(RpcError, match="unknown"):
        Params({"zz": 1}, {"a"})
