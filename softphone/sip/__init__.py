"""The SIP engine: the only package that imports pjsua2.

Everything runs on the Qt main thread: PJSIP is created with no worker
threads and pumped by a QTimer (see :mod:`softphone.sip.pump`).
"""
