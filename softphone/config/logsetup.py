"""Log files: rotated, in the platformdirs log dir, with credentials redacted.

:func:`softphone.core.redact.redact` filters every log line, whatever wrote
it, on its way to a file (and PJSIP's lines before they are logged at all).
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from softphone.config.paths import LOG_FILE
from softphone.core.redact import redact

SIP_TRACE_LOGGER = "softphone.pjsip"
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 5

_active: LogSetup | None = None


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then redacts the whole line (message, args and traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _SipTraceFilter(logging.Filter):
    """The file's level, except that SIP traces pass at DEBUG while they are on."""

    def __init__(self, level: int, enabled: bool) -> None:
        super().__init__()
        self.level = level
        self.enabled = enabled

    def filter(self, record: logging.LogRecord) -> bool:
        if self.enabled and record.name.startswith(SIP_TRACE_LOGGER):
            return True
        return record.levelno >= self.level


class LogSetup:
    """The installed file logging; switch SIP traces at run time.

    Attributes:
        path: the log file.
        handler: the rotating file handler on the root logger.
    """

    def __init__(self, path: Path, handler: logging.Handler, trace_filter: _SipTraceFilter) -> None:
        self.path = path
        self.handler = handler
        self._filter = trace_filter

    @property
    def sip_trace(self) -> bool:
        return self._filter.enabled

    def set_sip_trace(self, enabled: bool) -> None:
        self._filter.enabled = enabled
        # The SIP stack logs its traces at DEBUG, and its INFO is one line per
        # transaction: let it all through only while tracing.
        logging.getLogger(SIP_TRACE_LOGGER).setLevel(logging.DEBUG if enabled else logging.WARNING)
        root = logging.getLogger()
        if enabled and (root.level > logging.DEBUG or root.level == logging.NOTSET):
            root.setLevel(logging.DEBUG)

    def close(self) -> None:
        global _active
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()
        if _active is self:
            _active = None


def active_log_setup() -> LogSetup | None:
    """The file logging installed by :func:`setup_file_logging`, if any."""
    return _active


def set_sip_trace(enabled: bool) -> None:
    """Switch SIP message traces on or off now (the settings dialog's switch).

    The SIP stack must produce them (``EngineConfig.sip_trace``, which the GUI
    always asks for); this decides whether they reach the log.
    """
    if _active is not None:
        _active.set_sip_trace(enabled)
    else:  # no log file (it could not be written): the console still follows
        logging.getLogger(SIP_TRACE_LOGGER).setLevel(logging.DEBUG if enabled
                                                      else logging.WARNING)


def setup_file_logging(log_dir: Path, *, level: str = "INFO", sip_trace: bool = False,
                       max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> LogSetup:
    """Add a rotating, redacting log file to the root logger: ``softphone.log``
    rotates at ``max_bytes`` into ``softphone.log.1`` ... ``.<backups>``."""
    global _active
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_FILE
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True)
    handler.setFormatter(RedactingFormatter(
        "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"))
    file_level = getattr(logging, level.upper(), logging.INFO)
    trace_filter = _SipTraceFilter(file_level, sip_trace)
    handler.addFilter(trace_filter)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > file_level or root.level == logging.NOTSET:
        root.setLevel(file_level)
    setup = LogSetup(path, handler, trace_filter)
    setup.set_sip_trace(sip_trace)
    _active = setup
    return setup
