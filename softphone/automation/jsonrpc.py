"""JSON-RPC 2.0 framing: parsing requests and building replies. Pure Python."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from softphone.core.errors import SoftphoneError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNAUTHORIZED = -32001

# Application errors: JSON-RPC code, plus our stable string in error.data.code.
APP_ERROR_CODES = {
    "not_found": -32002,
    "invalid_state": -32003,
    "sip_error": -32004,
    "invalid_uri": -32005,
    "invalid_params": INVALID_PARAMS,
    "startup_error": -32006,
    "transfer_not_allowed": -32007,
    "error": -32000,
}

MAX_LINE_BYTES = 1024 * 1024


class RpcError(Exception):
    """An error to send back as a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    @classmethod
    def from_softphone(cls, exc: SoftphoneError) -> RpcError:
        return cls(APP_ERROR_CODES.get(exc.code, -32000), str(exc), {"code": exc.code})


@dataclass(frozen=True)
class Request:
    method: str
    params: dict[str, Any]
    id: int | str | None
    is_notification: bool


def parse_request(line: bytes) -> Request:
    """Parse one line into a :class:`Request` or raise :class:`RpcError`."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RpcError(PARSE_ERROR, f"parse error: {exc}") from None
    if isinstance(obj, list):
        raise RpcError(INVALID_REQUEST, "batch requests are not supported")
    if not isinstance(obj, dict):
        raise RpcError(INVALID_REQUEST, "a request must be a JSON object")
    if obj.get("jsonrpc") not in ("2.0", None):
        raise RpcError(INVALID_REQUEST, 'jsonrpc must be "2.0"')
    method = obj.get("method")
    if not isinstance(method, str) or not method:
        raise RpcError(INVALID_REQUEST, "method must be a non-empty string", )
    params = obj.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "params must be an object (named parameters)")
    req_id = obj.get("id")
    if req_id is not None and (isinstance(req_id, bool) or not isinstance(req_id, int | str)):
        raise RpcError(INVALID_REQUEST, "id must be a string or an integer")
    return Request(method, params, req_id, "id" not in obj)


def result(req_id: int | str | None, value: Any) -> bytes:
    return _dump({"jsonrpc": "2.0", "id": req_id, "result": value})


def error(req_id: int | str | None, err: RpcError) -> bytes:
    body: dict[str, Any] = {"code": err.code, "message": err.message}
    if err.data is not None:
        body["data"] = err.data
    return _dump({"jsonrpc": "2.0", "id": req_id, "error": body})


def notification(method: str, params: dict[str, Any]) -> bytes:
    return _dump({"jsonrpc": "2.0", "method": method, "params": params})


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


class Params:
    """Typed access to a request's named parameters, with clear errors.

    Unknown parameter names are refused, so a typo does not silently do
    something else.
    """

    def __init__(self, params: dict[str, Any], allowed: set[str]) -> None:
        unknown = set(params) - allowed
        if unknown:
            raise RpcError(INVALID_PARAMS, f"unknown parameter(s): {', '.join(sorted(unknown))}")
        self._p = params

    def text(self, name: str, default: str | None = None) -> str:
        value = self._p.get(name, default)
        if value is None:
            raise RpcError(INVALID_PARAMS, f"missing parameter {name!r}")
        if not isinstance(value, str):
            raise RpcError(INVALID_PARAMS, f"parameter {name!r} must be a string")
        return value

    def opt_text(self, name: str) -> str | None:
        if self._p.get(name) is None:
            return None
        return self.text(name)

    def integer(self, name: str, default: int | None = None) -> int:
        value = self._p.get(name, default)
        if value is None:
            raise RpcError(INVALID_PARAMS, f"missing parameter {name!r}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise RpcError(INVALID_PARAMS, f"parameter {name!r} must be an integer")
        return value

    def flag(self, name: str, default: bool | None = None) -> bool:
        value = self._p.get(name, default)
        if not isinstance(value, bool):
            raise RpcError(INVALID_PARAMS, f"parameter {name!r} must be true or false")
        return value

    def mapping(self, name: str) -> dict[str, Any]:
        value = self._p.get(name, {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise RpcError(INVALID_PARAMS, f"parameter {name!r} must be an object")
        return value
