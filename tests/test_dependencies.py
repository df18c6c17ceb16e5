"""Known-bad versions of our dependencies, caught before they crash users."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    fired = Signal(object)


def test_signal_emission_keeps_bool_refcounts(qapp):
    """PySide6 6.12.0 decremented True's refcount on every emit: after enough
    signals Python 3.11 aborts with "deallocating True or False"."""
    emitter = _Emitter()
    emitter.fired.connect(lambda *_: None)
    before = sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(200):
        emitter.fired.emit(1)
    after = sys.getrefcount(True), sys.getrefcount(False)
    assert after[0] - before[0] > -50 and after[1] - before[1] > -50, (before, after)


def test_pjsua2_parameter_objects_keep_bool_refcounts():
    import pjsua2 as pj

    before = sys.getrefcount(True)
    for _ in range(200):
        pj.CallOpParam(True)
    assert sys.getrefcount(True) - before > -50
