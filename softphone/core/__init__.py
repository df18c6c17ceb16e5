"""Pure-Python domain logic: no Qt widgets, no pjsua2.

Everything here can be unit tested without a SIP stack or a display.
"""
