"""Route PJSIP's log into Python logging, with credentials redacted."""

from __future__ import annotations

import logging

import pjsua2 as pj

from softphone.core.redact import redact
from softphone.sip.guard import guarded

pjlog = logging.getLogger("softphone.pjsip")

class PjLogWriter(pj.LogWriter):  # type: ignore[misc]
    """Called by PJSIP from any of its threads; only touches Python logging."""

    @guarded
    def write(self, entry: pj.LogEntry) -> None:
        level = entry.level
        py_level = (
            logging.ERROR if level <= 1 else logging.WARNING if level == 2
            else logging.INFO if level == 3 else logging.DEBUG
        )
        if pjlog.isEnabledFor(py_level):
            pjlog.log(py_level, "%s", redact(entry.msg.rstrip()))
