"""The TCP server of the automation API, on the Qt event loop.

Bound to 127.0.0.1 only. Every connection must first send ``auth`` with the
token from ``api.json``; anything else first gets an error and the
connection is closed. Events go to every authenticated connection as
JSON-RPC notifications named ``event``.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QHostAddress, QTcpServer, QTcpSocket

from softphone.automation import jsonrpc
from softphone.automation.jsonrpc import RpcError
from softphone.core.errors import SoftphoneError, StartupError

log = logging.getLogger("softphone.automation")

Handler = Callable[[dict[str, Any]], Any]
# A client that stops reading while events pile up is cut off past this.
MAX_PENDING_WRITE = 8 * 1024 * 1024


class _Connection:
    def __init__(self, socket: QTcpSocket) -> None:
        self.socket = socket
        self.buffer = bytearray()
        self.authenticated = False
        self.closing = False


class AutomationServer(QObject):
    """Serves registered methods to local clients.

    Signals:
        client_count_changed(int): authenticated connections now open.

    Attributes:
        token: the secret every connection must present first.
        port: the listening port once :meth:`listen` succeeded.
    """

    client_count_changed = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.token = secrets.token_urlsafe(32)
        self.port = 0
        self._methods: dict[str, Handler] = {}
        self._server = QTcpServer(self)
        self._server.newConnection.connect(self._on_new_connection)
        self._connections: dict[QTcpSocket, _Connection] = {}

    def register(self, name: str, handler: Handler) -> None:
        self._methods[name] = handler

    def methods(self) -> list[str]:
        return sorted(self._methods)

    def listen(self, port: int) -> int:
        if not self._server.listen(QHostAddress(QHostAddress.SpecialAddress.LocalHost), port):
            raise StartupError(
                f"automation API could not listen on 127.0.0.1:{port}: "
                f"{self._server.errorString()}"
            )
        self.port = int(self._server.serverPort())
        log.info("automation API on 127.0.0.1:%s", self.port)
        return self.port

    def close(self) -> None:
        self._server.close()
        for conn in list(self._connections.values()):
            conn.socket.abort()
        self._connections.clear()

    def emit_event(self, event_type: str, data: dict[str, Any]) -> None:
        """Send an ``event`` notification to every authenticated client."""
        payload = jsonrpc.notification("event", {"type": event_type, **data})
        for conn in list(self._connections.values()):
            if conn.authenticated and not conn.closing:
                self._write(conn, payload)

    def authenticated_clients(self) -> int:
        return sum(1 for c in self._connections.values() if c.authenticated)

    # -- connection handling ------------------------------------------------------

    def _on_new_connection(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            conn = _Connection(socket)
            self._connections[socket] = conn
            socket.readyRead.connect(lambda c=conn: self._on_ready_read(c))
            socket.disconnected.connect(lambda c=conn: self._on_disconnected(c))

    def _on_disconnected(self, conn: _Connection) -> None:
        if self._connections.pop(conn.socket, None) is not None:
            conn.socket.deleteLater()
            if conn.authenticated:
                self.client_count_changed.emit(self.authenticated_clients())

    def _on_ready_read(self, conn: _Connection) -> None:
        conn.buffer += bytes(conn.socket.readAll().data())
        while not conn.closing:
            newline = conn.buffer.find(b"\n")
            if newline < 0:
                if len(conn.buffer) > jsonrpc.MAX_LINE_BYTES:
                    self._fail(conn, None, RpcError(jsonrpc.INVALID_REQUEST,
                                                    "request line too long"))
                break
            line = bytes(conn.buffer[:newline]).strip()
            del conn.buffer[: newline + 1]
            if line:
                self._handle_line(conn, line)

    def _handle_line(self, conn: _Connection, line: bytes) -> None:
        try:
            req = jsonrpc.parse_request(line)
        except RpcError as err:
            if not conn.authenticated:
                self._fail(conn, None, RpcError(jsonrpc.UNAUTHORIZED,
                                                f"authenticate first: {err.message}"))
            else:
                self._write(conn, jsonrpc.error(None, err))
            return
        if not conn.authenticated:
            self._authenticate(conn, req)
            return
        if req.method == "auth":
            self._reply(conn, req, {"authenticated": True})
            return
        handler = self._methods.get(req.method)
        if handler is None:
            self._reply_error(conn, req, RpcError(jsonrpc.METHOD_NOT_FOUND,
                                                  f"no method {req.method[:64]!r}"))
            return
        try:
            value = handler(req.params)
        except RpcError as err:
            self._reply_error(conn, req, err)
        except SoftphoneError as exc:
            self._reply_error(conn, req, RpcError.from_softphone(exc))
        except Exception as exc:
            log.exception("automation method %s failed", req.method)
            self._reply_error(conn, req, RpcError(jsonrpc.INTERNAL_ERROR,
                                                  f"internal error: {type(exc).__name__}"))
        else:
            self._reply(conn, req, value)

    def _authenticate(self, conn: _Connection, req: jsonrpc.Request) -> None:
        if req.method != "auth":
            self._fail(conn, req.id, RpcError(jsonrpc.UNAUTHORIZED,
                                              "authenticate first with the auth method"))
            return
        token = req.params.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode("utf-8"), self.token.encode("utf-8")
        ):
            log.warning("automation API: a client presented a wrong token")
            self._fail(conn, req.id, RpcError(jsonrpc.UNAUTHORIZED, "wrong token"))
            return
        conn.authenticated = True
        self._reply(conn, req, {"authenticated": True})
        self.client_count_changed.emit(self.authenticated_clients())

    def _reply(self, conn: _Connection, req: jsonrpc.Request, value: Any) -> None:
        if not req.is_notification:
            self._write(conn, jsonrpc.result(req.id, value))

    def _reply_error(self, conn: _Connection, req: jsonrpc.Request, err: RpcError) -> None:
        if not req.is_notification:
            self._write(conn, jsonrpc.error(req.id, err))

    def _fail(self, conn: _Connection, req_id: int | str | None, err: RpcError) -> None:
        """Send an error and close the connection (after the error is flushed)."""
        self._write(conn, jsonrpc.error(req_id, err))
        conn.closing = True
        conn.socket.disconnectFromHost()

    def _write(self, conn: _Connection, payload: bytes) -> None:
        if conn.socket.bytesToWrite() > MAX_PENDING_WRITE:
            log.warning("automation client is not reading; disconnecting it")
            conn.closing = True
            conn.socket.abort()
            return
        conn.socket.write(payload)
