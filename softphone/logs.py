"""Logging set-up for the command line (file logging comes with settings)."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # PJSIP's INFO is chatty (every transaction); keep it unless asked for.
    if root.level > logging.DEBUG:
        logging.getLogger("softphone.pjsip").setLevel(logging.WARNING)
