"""The ring buffers between PortAudio's thread and PJSIP's clock thread, and
a level meter for the frames passing through them."""

from __future__ import annotations

import threading

SAMPLE_BYTES = 2  # int16


class RingBuffer:
    """Fixed-size byte FIFO between two threads on two different clocks.

    The writer never waits: on overrun the oldest bytes are dropped. The reader
    never waits: on underrun it gets silence. Because the two clocks drift, the
    level is kept bounded: above ``high_water`` the oldest audio is dropped back
    to ``target``. After an underrun the reader gets silence until ``target``
    bytes are buffered again (a jitter cushion, so that one late writer does
    not cause a click on every read).

    With equal clocks nothing would ever bring a high level down again: a
    sound server that starts its stream late leaves up to ``high_water`` of
    audio standing in the ring, which is that much more delay for the whole
    call. So, every ``settle_window`` bytes read, if the lowest level seen after
    a read stayed more than ``settle_slack`` above ``target``, the surplus is
    dropped once (one short skip instead of a standing delay).

    The lock is held only for the copy.

    Attributes:
        capacity: size of the storage in bytes (hard latency cap).
        target: prefill level in bytes, and the level trims go back to.
        high_water: level in bytes above which the buffer is trimmed.
        underruns: reads that could not be served in full.
        overruns: writes that overflowed ``capacity`` (oldest bytes dropped).
        trims: times the level was cut back from ``high_water`` to ``target``.
        settle_window: bytes read between two checks of the standing level (0: never).
        settle_slack: standing level above ``target`` that is tolerated, in bytes.
        settles: times a standing surplus was dropped.
    """

    def __init__(self, capacity: int, target: int, high_water: int, align: int = SAMPLE_BYTES,
                 settle_window: int = 0, settle_slack: int = 0) -> None:
        if not 0 < target <= high_water <= capacity:
            raise ValueError("need 0 < target <= high_water <= capacity")
        self._align = align
        self.capacity = self._aligned(capacity)
        self.target = self._aligned(target)
        self.high_water = self._aligned(high_water)
        self._buf = bytearray(self.capacity)
        self._start = 0
        self._level = 0
        self._primed = False
        self._lock = threading.Lock()
        self.underruns = 0
        self.overruns = 0
        self.trims = 0
        self.settle_window = settle_window
        self.settle_slack = self._aligned(settle_slack)
        self.settles = 0
        self._window_read = 0  # bytes read in this settle window
        self._trough = -1  # lowest level after a read in this window; -1: none yet

    def _aligned(self, n: int) -> int:
        return n - n % self._align

    @property
    def level(self) -> int:
        """Bytes currently buffered."""
        return self._level

    def clear(self) -> None:
        """Drop everything and wait for a new prefill."""
        with self._lock:
            self._start = 0
            self._level = 0
            self._primed = False
            self._new_window()

    def _drop(self, n: int) -> None:
        n = min(self._level, n + (-n) % self._align)
        self._start = (self._start + n) % self.capacity
        self._level -= n

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``; never blocks, drops the oldest audio when full."""
        view = memoryview(data).cast("B")
        n = len(view)
        if n == 0:
            return
        cap = self.capacity
        with self._lock:
            if n >= cap:
                view = view[n - cap:]
                n = cap
                self._start = 0
                self._level = 0
                self.overruns += 1
            elif self._level + n > cap:
                self._drop(self._level + n - cap)
                self.overruns += 1
            end = (self._start + self._level) % cap
            first = min(n, cap - end)
            self._buf[end:end + first] = view[:first]
            if first < n:
                self._buf[:n - first] = view[first:]
            self._level += n
            if self._level > self.high_water:
                self._drop(self._level - self.target)
                self.trims += 1

    def read(self, n: int) -> bytes:
        """Take ``n`` bytes; missing bytes are silence (zeros). Never blocks."""
        with self._lock:
            if not self._primed:
                if self._level < self.target:
                    return bytes(n)
                self._primed = True
            take = min(n, self._level)
            start = self._start
            end = start + take
            if end <= self.capacity:
                out = bytes(self._buf[start:end])
            else:
                out = bytes(self._buf[start:]) + bytes(self._buf[:end - self.capacity])
            self._start = end % self.capacity
            self._level -= take
            if take < n:
                self.underruns += 1
                self._primed = False
                self._new_window()
            elif self.settle_window:
                self._settle(n)
        if take < n:
            out += bytes(n - take)
        return out

    def _settle(self, n: int) -> None:
        """Track the window's trough; drop a standing surplus at the window's end."""
        if self._trough < 0 or self._level < self._trough:
            self._trough = self._level
        self._window_read += n
        if self._window_read < self.settle_window:
            return
        surplus = self._trough - self.target
        if surplus > self.settle_slack:
            self._drop(surplus)
            self.settles += 1
        self._new_window()

    def _new_window(self) -> None:
        self._window_read = 0
        self._trough = -1


def peak_level(frame: bytes) -> float:
    """Peak of an int16 frame as 0.0-1.0 (for level meters; runs on the Qt thread)."""
    if len(frame) < SAMPLE_BYTES:
        return 0.0
    samples = memoryview(frame[: len(frame) - len(frame) % SAMPLE_BYTES]).cast("h")
    return min(1.0, max(max(samples), -min(samples)) / 32768)
