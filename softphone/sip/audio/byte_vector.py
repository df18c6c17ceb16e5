"""Copying audio in and out of pjsua2's ``pj.ByteVector`` without a SWIG
call per byte (the sound-card bridge does it every 20 ms on PJSIP's clock
thread)."""

from __future__ import annotations

import ctypes
import logging
from typing import Any

import pjsua2 as pj

log = logging.getLogger("softphone.sip.audio.soundcard")

# -- fast access to pj.ByteVector ------------------------------------------------------------
#
# Reading a SWIG std::vector<unsigned char> from Python goes element by element
# (~280 us for a 640-byte frame, measured); constructing one from bytes costs
# ~14 us. Every C++ standard library in use (libstdc++, libc++, MSVC release)
# lays a std::vector out as three pointers (begin, end, end of storage), so the
# bytes can be copied through a ctypes array at that address in ~1 us. The
# layout is verified once at run time against the slow path; if it ever
# differs, the slow path is used.
#
# Every SWIG call (and every ctypes foreign call) releases the GIL, and getting
# it back can take up to sys.getswitchinterval() when the Qt thread is busy in
# Python. The callbacks therefore make as few of them as possible: the copies go
# through ctypes arrays (no foreign call) and the frame handed to PJSIP is a
# ByteVector prepared in advance (one assignment).


class _VectorLayout(ctypes.Structure):
    _fields_ = [("begin", ctypes.c_void_p), ("end", ctypes.c_void_p),
                ("end_of_storage", ctypes.c_void_p)]


def fast_read(vec: Any) -> bytes:
    layout = _VectorLayout.from_address(int(vec.this))
    begin = layout.begin
    if not begin:
        return b""
    size = (layout.end or 0) - begin
    raw: bytes = (ctypes.c_char * size).from_address(begin).raw
    return raw


def fast_write(vec: Any, data: bytes) -> None:
    """Overwrite ``vec`` (already sized ``len(data)``) in place."""
    layout = _VectorLayout.from_address(int(vec.this))
    if data:
        (ctypes.c_char * len(data)).from_address(layout.begin).raw = data


def slow_read(vec: Any) -> bytes:
    return bytes(bytearray(vec))


def _probe_fast_vector() -> bool:
    try:
        probe = bytes(range(256)) * 3
        vec = pj.ByteVector(probe)
        if fast_read(vec) != probe or fast_read(pj.ByteVector()) != b"":
            return False
        other = pj.ByteVector()
        other.resize(len(probe))
        fast_write(other, probe[::-1])
        return len(other) == len(probe) and slow_read(other) == probe[::-1]
    except Exception:
        log.debug("fast ByteVector access unavailable", exc_info=True)
        return False


_FAST_VECTOR: bool | None = None


def fast_vector_access() -> bool:
    """Whether ByteVector contents are copied with ctypes (else element by element)."""
    global _FAST_VECTOR
    if _FAST_VECTOR is None:
        _FAST_VECTOR = _probe_fast_vector()
        if not _FAST_VECTOR:
            log.warning("pj.ByteVector layout not recognised: using the slow copy path")
    return _FAST_VECTOR
