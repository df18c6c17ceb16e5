"""Errors the core and the SIP engine raise for bad input or bad timing.

Each carries a stable ``code`` so the automation API can map it to a
JSON-RPC error object without string matching.
"""

from __future__ import annotations


class SoftphoneError(Exception):
    """Base class: a request could not be carried out; nothing was changed."""

    code = "error"


class InvalidUriError(SoftphoneError):
    code = "invalid_uri"


class NotFoundError(SoftphoneError):
    code = "not_found"


class InvalidStateError(SoftphoneError):
    code = "invalid_state"


class InvalidParamsError(SoftphoneError):
    code = "invalid_params"


class SipError(SoftphoneError):
    """PJSIP refused the operation (transport down, bad argument...)."""

    code = "sip_error"


class StartupError(SoftphoneError):
    """The engine could not start (port in use, no transport...)."""

    code = "startup_error"


class TransferNotAllowedError(SoftphoneError):
    """The transfer breaks a rule (e.g. unsupervised to an external number)."""

    code = "transfer_not_allowed"
