"""Process-unique identifiers.

pjsua's own call ids are slot numbers that get reused, so everything handed
to the UI or the automation API gets one of these instead: a prefix and a
counter that only grows, never reused while the process lives.
"""

from __future__ import annotations

import itertools
import threading


class IdFactory:
    """Hands out ``"<prefix>-<n>"`` strings, unique for the life of the factory."""

    def __init__(self) -> None:
        self._counters: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        with self._lock:
            counter = self._counters.setdefault(prefix, itertools.count(1))
            return f"{prefix}-{next(counter)}"
