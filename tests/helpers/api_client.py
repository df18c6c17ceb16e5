"""A small synchronous client of the automation API for tests and scripts."""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class ApiError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.message = error.get("message")
        self.data = error.get("data") or {}


class ApiClient:
    """Connects, authenticates, sends requests and collects event notifications."""

    def __init__(self, port: int, token: str | None, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self._event_cv = threading.Condition()
        self.closed = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        if token is not None:
            self.call("auth", token=token)

    @classmethod
    def from_profile(cls, profile: Path) -> ApiClient:
        info = json.loads((profile / "api.json").read_text())
        return cls(info["port"], info["token"])

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def call(self, method: str, **params: Any) -> Any:
        reply = self.request(method, params)
        if "error" in reply:
            raise ApiError(reply["error"])
        return reply["result"]

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        req_id = next(self._ids)
        box: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._lock:
            self._replies[req_id] = box
        line = json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})
        self.sock.sendall(line.encode() + b"\n")
        try:
            return box.get(timeout=self.timeout)
        except queue.Empty:
            raise TimeoutError(f"no reply to {method} in {self.timeout} s") from None

    def wait_event(self, event_type: str, predicate: Callable[[dict[str, Any]], bool] | None = None,
                   timeout: float = 10.0, since: int = 0) -> dict[str, Any]:
        """Wait for an event of ``event_type`` (from index ``since``) matching ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._event_cv:
            while True:
                for ev in self.events[since:]:
                    if ev.get("type") == event_type and (predicate is None or predicate(ev)):
                        return ev
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(e.get("type"), e.get("state")) for e in self.events[since:]][-15:]
                    raise TimeoutError(f"no {event_type} event in {timeout} s; saw {seen}")
                self._event_cv.wait(remaining)

    def wait_call_state(self, call_id: str | None, state: str, timeout: float = 10.0,
                        since: int = 0) -> dict[str, Any]:
        return self.wait_event(
            "call.state",
            lambda e: e["state"] == state and (call_id is None or e["call_id"] == call_id),
            timeout, since,
        )

    def mark(self) -> int:
        with self._event_cv:
            return len(self.events)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def _read_loop(self) -> None:
        buf = b""
        try:
            while True:
                try:
                    chunk = self.sock.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        self._dispatch(json.loads(line))
        except OSError:
            pass
        finally:
            self.closed.set()
            with self._event_cv:
                self._event_cv.notify_all()

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if msg.get("method") == "event":
            with self._event_cv:
                self.events.append(msg["params"])
                self._event_cv.notify_all()
            return
        with self._lock:
            box = self._replies.pop(msg.get("id"), None)  # type: ignore[arg-type]
        if box is not None:
            box.put(msg)
