"""The automation API answers bad input with JSON-RPC errors and stays up."""

from __future__ import annotations

import json
import os
import socket
import stat
from typing import Any

import pytest

from tests.conftest import InstanceFactory
from tests.helpers.api_client import ApiClient, ApiError

pytestmark = pytest.mark.multiprocess


def _raw_exchange(port: int, lines: list[bytes]) -> list[dict[str, Any]]:
    """Send lines on a fresh connection; return every reply until it is closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for line in lines:
            sock.sendall(line)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return [json.loads(x) for x in data.splitlines() if x.strip()]


def test_api_file_is_private_and_complete(softphones: InstanceFactory):
    a = softphones("alice").wait_ready()
    api_file = a.profile / "api.json"
    mode = stat.S_IMODE(os.stat(api_file).st_mode)
    assert mode == 0o600
    info = json.loads(api_file.read_text())
    assert set(info) >= {"port", "token", "sip_uri"}
    assert info["sip_uri"].startswith("sip:alice@127.0.0.1:")
    assert len(info["token"]) >= 32


def test_first_request_must_be_auth(softphones: InstanceFactory):
    a = softphones("alice")
    port = a.info["port"]
    replies = _raw_exchange(port, [b'{"jsonrpc":"2.0","id":1,"method":"status"}\n',
                                   b'{"jsonrpc":"2.0","id":2,"method":"status"}\n'])
    assert len(replies) == 1  # closed after the first error
    assert replies[0]["error"]["code"] == -32001


def test_wrong_token_is_refused_and_closed(softphones: InstanceFactory):
    a = softphones("alice")
    replies = _raw_exchange(
        a.info["port"],
        [b'{"jsonrpc":"2.0","id":1,"method":"auth","params":{"token":"nope"}}\n'])
    assert replies == [{"jsonrpc": "2.0", "id": 1,
                        "error": {"code": -32001, "message": "wrong token"}}]


def test_garbage_before_auth_is_refused(softphones: InstanceFactory):
    a = softphones("alice")
    replies = _raw_exchange(a.info["port"], [b"\xff\xfe not json\n"])
    assert replies[0]["error"]["code"] == -32001


def test_malformed_requests_get_json_rpc_errors(softphones: InstanceFactory):
    a = softphones("alice")
    api = a.api
    assert api is not None
    api.send_raw(b"{not json\n")
    api.send_raw(b"[1,2]\n")
    api.send_raw(b'{"jsonrpc":"2.0","id":7,"method":"status","params":[1]}\n')
    # Errors for unparseable lines carry id null; the client collects them as
    # unmatched replies, so check through a fresh, well-formed request instead.
    with pytest.raises(ApiError) as err:
        api.call("no.such.method")
    assert err.value.code == -32601
    with pytest.raises(ApiError) as err:
        api.call("call.make")  # missing uri
    assert err.value.code == -32602
    with pytest.raises(ApiError) as err:
        api.call("call.make", uri="sip:bob@127.0.0.1", colour="red")
    assert err.value.code == -32602 and "colour" in str(err.value.message)
    assert api.call("status")["running"] is True


@pytest.mark.parametrize("uri", [
    "", "not a uri", "http://example.com/", "sip:bob@host\r\nX-Evil: 1",
    "sip:<script>@x", "sip:bob@host:99999", "sip:" + "a" * 2000 + "@x",
])
def test_bad_sip_uris_are_refused_clearly(softphones: InstanceFactory, uri: str):
    a = softphones("alice")
    assert a.api is not None
    with pytest.raises(ApiError) as err:
        a.api.call("call.make", uri=uri)
    assert err.value.data.get("code") == "invalid_uri", err.value.message
    assert a.api.call("call.list")["calls"] == []


def test_bad_call_ids_and_states(softphones: InstanceFactory):
    a = softphones("alice")
    b = softphones("bob")
    assert a.api is not None and b.api is not None
    for method in ("call.answer", "call.hangup", "call.hold", "call.resume"):
        with pytest.raises(ApiError) as err:
            a.api.call(method, call_id="call-999")
        assert err.value.data["code"] == "not_found"
    out = a.api.call("call.make", uri=b.sip_uri)["call_id"]
    b.api.wait_call_state(None, "incoming")
    with pytest.raises(ApiError) as err:
        a.api.call("call.answer", call_id=out)  # cannot answer our own outgoing call
    assert err.value.data["code"] == "invalid_state"
    with pytest.raises(ApiError) as err:
        a.api.call("call.hold", call_id=out)  # not connected yet
    assert err.value.data["code"] == "invalid_state"
    with pytest.raises(ApiError) as err:
        a.api.call("call.dtmf", call_id=out, digits="12<x>")
    assert err.value.code == -32602
    with pytest.raises(ApiError) as err:
        a.api.call("call.make", uri=b.sip_uri, headers={"Via": "SIP/2.0/UDP evil"})
    assert err.value.code == -32602
    with pytest.raises(ApiError) as err:
        a.api.call("call.make", uri=b.sip_uri, headers={"X-Case": "a\r\nBYE sip:x"})
    assert err.value.code == -32602
    a.api.call("call.hangup", call_id=out)
    a.api.wait_call_state(out, "disconnected")


def test_custom_headers_reach_the_far_end(softphones: InstanceFactory):
    a = softphones("alice")
    b = softphones("bob")
    assert a.api is not None and b.api is not None
    a.api.call("call.make", uri=b.sip_uri, headers={"X-Case-Id": "C-42 <b>x</b>"})
    b.api.wait_call_state(None, "incoming")
    (call,) = b.api.call("call.list")["calls"]
    assert call["headers"]["X-Case-Id"] == "C-42 <b>x</b>"


def test_port_already_in_use_is_a_clear_error(softphones: InstanceFactory, tmp_path):
    a = softphones("alice")
    port = int(a.sip_uri.rsplit(":", 1)[1])
    import subprocess
    import sys
    proc = subprocess.run(
        [sys.executable, "-m", "softphone", "--headless", "--profile", str(tmp_path / "x"),
         "--sip-port", str(port), "--null-audio"],
        capture_output=True, text=True, timeout=30,
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
    )
    assert proc.returncode == 2
    assert f"SIP UDP port {port} on 127.0.0.1 is already in use" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_api_port_in_use_is_a_clear_error(softphones: InstanceFactory, tmp_path):
    a = softphones("alice")
    import subprocess
    import sys
    proc = subprocess.run(
        [sys.executable, "-m", "softphone", "--headless", "--profile", str(tmp_path / "x"),
         "--sip-port", "0", "--api-port", str(a.info["port"]), "--null-audio"],
        capture_output=True, text=True, timeout=30,
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
    )
    assert proc.returncode == 2
    assert "automation API could not listen" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_second_client_gets_events_too(softphones: InstanceFactory):
    a = softphones("alice")
    b = softphones("bob")
    assert a.api is not None and b.api is not None
    second = ApiClient(a.info["port"], a.info["token"])
    try:
        a.api.call("call.make", uri=b.sip_uri)
        second.wait_event("call.state", lambda e: e["state"] == "calling")
    finally:
        second.close()


def test_a_directory_larger_than_pjsua_can_watch_does_not_crash(softphones: InstanceFactory):
    """pjsua asserts (aborts) past 256 presence subscriptions."""
    a = softphones("alice")
    assert a.api is not None
    agents = [{"id": f"a{i}", "name": f"Agent {i}", "uri": f"sip:a{i}@127.0.0.1:9"}
              for i in range(2000)]
    result = a.api.call("directory.set", directory={"agents": agents})
    assert result["agents"] == 2000
    assert a.api.call("status")["running"] is True
    assert len(a.api.call("directory.get")["agents"]) == 2000
    assert "pjsua can watch 250" in a.log_text()
