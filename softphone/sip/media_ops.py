"""Holds and re-INVITEs that wait for the one in flight.

pjsua allows one media operation per call at a time: a hold, then a resume
in quick succession (a conference's Hold all, then Resume all) would fail on
the second with PJ_EINVALIDOP. The newest wish is kept and sent as soon as
the earlier re-INVITE has completed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pjsua2 as pj
from PySide6.QtCore import QTimer

from softphone.core.calls import CallState
from softphone.core.errors import SipError

if TYPE_CHECKING:
    from softphone.sip.call_record import CallRecord
    from softphone.sip.sip_call import SipCall

log = logging.getLogger("softphone.sip.calls")

MEDIA_OP_IN_PROGRESS = 70013  # PJ_EINVALIDOP
MEDIA_OP_RETRY_MS = 20
MEDIA_OP_GIVE_UP_S = 10.0

Action = Callable[["SipCall"], None]


class DeferredMediaOps:
    """Runs a call's hold/resume now, or once the re-INVITE in flight ends.

    ``find`` looks a call up by id (it may be gone by the retry); ``do`` runs
    an action on a call and raises SipError (caused by the pj.Error) when
    pjsua refuses it.
    """

    def __init__(self, find: Callable[[str], CallRecord | None],
                 do: Callable[[CallRecord, str, Action], None]) -> None:
        self._find = find
        self._do = do

    def run(self, rec: CallRecord, what: str, action: Action) -> None:
        rec.pending_media_op = None
        try:
            self._do(rec, what, action)
        except SipError as exc:
            if not _in_progress(exc):
                raise
            log.info("%s of %s waits for the re-INVITE in progress", what, rec.call_id)
            rec.pending_media_op = (what, action, time.monotonic() + MEDIA_OP_GIVE_UP_S)
            QTimer.singleShot(MEDIA_OP_RETRY_MS, lambda: self._retry(rec.call_id))

    def _retry(self, call_id: str) -> None:
        rec = self._find(call_id)
        if rec is None or rec.pending_media_op is None:
            return
        if not rec.live or rec.state != CallState.CONFIRMED:
            rec.pending_media_op = None
            return
        what, action, give_up_at = rec.pending_media_op
        try:
            self._do(rec, what, action)
        except SipError as exc:
            if _in_progress(exc) and time.monotonic() < give_up_at:
                QTimer.singleShot(MEDIA_OP_RETRY_MS, lambda: self._retry(call_id))
                return
            log.error("gave up on %s of %s: %s", what, call_id, exc)
        rec.pending_media_op = None


def _in_progress(exc: SipError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, pj.Error) and int(cause.status) == MEDIA_OP_IN_PROGRESS
