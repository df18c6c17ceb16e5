"""The requests a resource-list server sends to a list subscription, and our
answers to them (the notifier-facing half of the dialog).

A NOTIFY of the dialog is answered 200, and a retransmission of it gets the
very same answer again; a NOTIFY of another dialog gets 481, one already
handled (an older CSeq) 200; other methods 405, another event 489, a NOTIFY
without ``Subscription-State`` 400. What the NOTIFY says is then the
subscription's business (:mod:`softphone.sip.rls`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from softphone.sip.rls_dialog import Dialog, NotifyKind
from softphone.sip.rls_message import SipMessage, parse_subscription_state
from softphone.sip.rls_transport import Channel, response_destination, trace

log = logging.getLogger("softphone.sip.rls")


class RequestAnswerer:
    """Answers the requests arriving for one list subscription.

    ``dialog`` and ``channel`` give the subscription's current dialog and
    channel (both are replaced when it subscribes again).
    """

    def __init__(self, dialog: Callable[[], Dialog], channel: Callable[[], Channel | None]
                 ) -> None:
        self._dialog = dialog
        self._channel = channel

    def answer(self, msg: SipMessage, source: tuple[str, int]
               ) -> tuple[str, dict[str, str]] | None:
        """Answer the request ``msg`` from ``source``. For a NOTIFY of the
        dialog (taken into it and answered 200) return its subscription state
        and parameters; None for anything else (answered already, or ACK)."""
        if msg.method == "ACK":
            return None
        if msg.method != "NOTIFY":
            self._respond(msg, source, 405, "Method Not Allowed", [("Allow", "NOTIFY")])
            return None
        dialog = self._dialog()
        kind = dialog.classify_notify(msg)
        if kind is NotifyKind.OTHER_DIALOG:
            self._respond(msg, source, 481, "Subscription Does Not Exist")
            return None
        last = dialog.last_answer
        if kind is NotifyKind.RETRANSMISSION and last is not None:
            self._send(last[1], last[2])
            return None
        if kind is NotifyKind.OLD:
            # An older NOTIFY retransmitted: handled already. A 200, not RFC 3261's
            # 500: a notifier may end the subscription on a NOTIFY's error answer.
            self._respond(msg, source, 200, "OK")
            return None
        event = msg.get("Event").partition(";")[0].strip().lower()
        if event != "presence":
            self._respond(msg, source, 489, "Bad Event")
            return None
        state_text = msg.get("Subscription-State")
        if not state_text:
            self._respond(msg, source, 400, "Missing Subscription-State")
            return None
        dialog.take_notify(msg)  # a bad Contact or Record-Route raises: no answer
        self._respond(msg, source, 200, "OK", remember=True)
        return parse_subscription_state(state_text)

    def _respond(self, request: SipMessage, source: tuple[str, int], status: int, reason: str,
                 extra: list[tuple[str, str]] | None = None, remember: bool = False) -> None:
        """Answer ``request`` (``remember``: a NOTIFY taken, whose
        retransmissions get the same answer)."""
        dialog = self._dialog()
        data = dialog.response(request, status, reason, extra).encode()
        channel = self._channel()
        destination = response_destination(request, source,
                                           channel.transport if channel is not None else "udp")
        self._send(data, destination)
        if remember:
            dialog.last_answer = (request.cseq()[0], data, destination)

    def _send(self, data: bytes, destination: tuple[str, int]) -> None:
        channel = self._channel()
        if channel is not None:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("rls: sending to %s:%s:\n%s", *destination, trace(data))
            channel.send(data, *destination)
