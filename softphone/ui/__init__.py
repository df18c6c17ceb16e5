"""The widgets of the desktop softphone.

This is the only package that imports QtWidgets, and it never imports pjsua2:
widgets hold call and account ids and talk to the engine only through the
:class:`~softphone.sip.engine.SipEngine` Python API and its Qt signals (the
engine types are imported for type checking only).
"""

from softphone.ui.main_window import MainWindow

__all__ = ["MainWindow"]
