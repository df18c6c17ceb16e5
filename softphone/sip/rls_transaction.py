"""The client transaction of one outgoing SUBSCRIBE of a resource-list
subscription (RFC 3261 17.1.2, non-INVITE).

On UDP the request is resent after T1, then at doubling intervals up to T2
(timer E); a provisional response stretches the interval to T2. Without a
final response within :data:`TRANSACTION_TIMEOUT_S` the transaction gives up:
shorter than timer F's 32 s, because for a list a failure only means falling
back to per-agent subscriptions or trying again.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from softphone.sip.rls_auth import Chain
from softphone.sip.rls_transport import Channel

T1_S = 0.5
T2_S = 4.0
TRANSACTION_TIMEOUT_S = 8.0

Guard = Callable[[Callable[[], None]], None]


def guarded_timer(parent: QObject, guard: Guard, slot: Callable[[], None]) -> QTimer:
    """A single-shot timer of ``parent`` whose timeout runs ``slot`` through
    ``guard`` (a list subscription's: an exception fails the list instead of
    reaching Qt)."""
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: guard(slot))
    return timer


class SubscribeTransaction(QObject):
    """A SUBSCRIBE sent on ``channel``, waiting for its final response.

    ``guard`` runs the timers' slots (the subscription's: an exception there
    fails the list instead of reaching Qt).

    Signals:
        timed_out(): no final response within :data:`TRANSACTION_TIMEOUT_S`.

    Attributes:
        data: the encoded request (what a resend sends).
        branch: its Via branch (what its responses carry).
        expires: the Expires it asked for.
        destination: (host, port) it went to.
        chain: what the SUBSCRIBEs before it in its chain went through.
        interval: the current resend interval in seconds.
    """

    timed_out = Signal()

    def __init__(self, channel: Channel, data: bytes, branch: str, expires: int,
                 destination: tuple[str, int], chain: Chain,
                 guard: Guard, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._channel = channel
        self.data = data
        self.branch = branch
        self.expires = expires
        self.destination = destination
        self.chain = chain
        self.interval = T1_S
        self._resend = guarded_timer(self, guard, self._on_resend)
        self._deadline = guarded_timer(self, guard, self._on_deadline)

    def start(self) -> None:
        """Start the timers (the request has been sent once)."""
        if self._channel.transport == "udp":
            self._resend.start(int(T1_S * 1000))
        self._deadline.start(int(TRANSACTION_TIMEOUT_S * 1000))

    def provisional(self) -> None:
        """A 1xx arrived: the server has the request; resend only every T2."""
        self.interval = T2_S

    def stop(self) -> None:
        """Done with: no more resending or waiting (and no ``timed_out``)."""
        self._resend.stop()
        self._deadline.stop()

    def _on_resend(self) -> None:
        self._channel.send(self.data, *self.destination)
        self.interval = min(self.interval * 2, T2_S)
        self._resend.start(int(self.interval * 1000))

    def _on_deadline(self) -> None:
        self._resend.stop()
        self.timed_out.emit()
