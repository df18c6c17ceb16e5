"""Keep Python exceptions from escaping pjsua2 callbacks.

An exception that escapes a SWIG director override surfaces inside PJSIP as a
DirectorException and can abort the process, so every override is wrapped.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("softphone.sip")

F = TypeVar("F", bound=Callable[..., Any])


def guarded(func: F) -> F:
    """Run a pjsua2 callback override, logging (never raising) any exception."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception:
            log.exception("error in pjsua2 callback %s", func.__qualname__)
            return None

    return wrapper  # type: ignore[return-value]
