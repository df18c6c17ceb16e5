"""Reading headers out of SIP messages and checking headers we are asked to send.

Header text comes from the network or from API clients: both are untrusted.
Nothing here decodes or interprets values beyond splitting name from value.
"""

from __future__ import annotations

import logging
import re

from softphone.core.errors import InvalidParamsError

log = logging.getLogger("softphone.core.sip_headers")

_TOKEN_RE = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]{1,64}$")
# The largest SIP message PJSIP sends or receives (PJSIP_MAX_PKT_LEN of the
# pjsua2 wheel: a larger request fails with PJSIP_EMSGTOOLONG, a larger one
# received is dropped). Every size limit on headers we send derives from it.
MAX_SIP_MESSAGE = 4000
# Extra headers an API client may put on a request, each.
MAX_HEADER_VALUE = 1024
# Header values read from a received message: anything PJSIP can hand us.
# A longer value is dropped whole (and logged), never cut: a cut User-to-User
# decodes into different data.
MAX_RECEIVED_HEADER_VALUE = MAX_SIP_MESSAGE
MAX_EXTRA_HEADERS = 32
MAX_KEPT_HEADERS = 64

# Headers PJSIP builds itself; letting a client set them would break dialogs
# or allow spoofing the transaction layer.
_RESERVED = {
    "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq", "contact", "m",
    "content-length", "l", "content-type", "c", "max-forwards", "route",
    "record-route", "authorization", "proxy-authorization", "www-authenticate",
    "proxy-authenticate", "expires", "require", "supported", "k", "allow",
    "rseq", "rack", "refer-to", "r", "replaces", "session-expires", "x",
}

# Compact forms (RFC 3261 7.3.3 and extensions) mapped to their long names.
_COMPACT = {
    "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
    "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To",
    "v": "Via", "b": "Referred-By", "r": "Refer-To", "x": "Session-Expires",
}


def validate_extra_headers(headers: object) -> dict[str, str]:
    """Check headers an API client or the app wants on an outgoing request."""
    if not isinstance(headers, dict):
        raise InvalidParamsError("headers must be an object of name: value strings")
    if len(headers) > MAX_EXTRA_HEADERS:
        raise InvalidParamsError(f"at most {MAX_EXTRA_HEADERS} extra headers")
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN_RE.match(name):
            raise InvalidParamsError(f"invalid header name {str(name)[:64]!r}")
        if name.lower() in _RESERVED:
            raise InvalidParamsError(f"header {name!r} is set by the SIP stack and cannot be given")
        if not isinstance(value, str):
            raise InvalidParamsError(f"header {name!r} must have a string value")
        if len(value) > MAX_HEADER_VALUE:
            raise InvalidParamsError(
                f"header {name!r} is longer than {MAX_HEADER_VALUE} characters"
            )
        if any(ch in value for ch in "\r\n\x00"):
            raise InvalidParamsError(f"header {name!r} contains a line break or NUL")
        out[name] = value
    return out


def parse_message_headers(message: str, dropped: list[str] | None = None) -> dict[str, str]:
    """Headers of a SIP message text as {canonical name: value}.

    Folded lines are joined; repeated headers are joined with ", "; compact
    names are expanded. Only the first :data:`MAX_KEPT_HEADERS` distinct names
    are kept. A value longer than :data:`MAX_RECEIVED_HEADER_VALUE` characters
    is left out whole, as is a repetition that would make the joined value
    longer: values are never cut. Names left out are logged and appended to
    ``dropped`` when given.
    """
    head = message.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
    lines = head.replace("\r\n", "\n").split("\n")[1:]  # skip the request line
    unfolded: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip()
        elif line:
            unfolded.append(line)
    out: dict[str, str] = {}
    left_out: list[str] = []
    for line in unfolded:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip()
        if not _TOKEN_RE.match(name):
            continue
        canonical = _COMPACT.get(name.lower()) if len(name) == 1 else None
        canonical = canonical or "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))
        if canonical == "Call-Id":
            canonical = "Call-ID"
        value = value.strip()
        if canonical in out:
            joined = out[canonical] + ", " + value
            if len(joined) <= MAX_RECEIVED_HEADER_VALUE:
                out[canonical] = joined
                continue
        elif len(out) < MAX_KEPT_HEADERS and len(value) <= MAX_RECEIVED_HEADER_VALUE:
            out[canonical] = value
            continue
        left_out.append(canonical)
    if left_out:
        log.warning("headers left out of a received message (too long or too many): %s",
                    ", ".join(left_out[:8]) + (" ..." if len(left_out) > 8 else ""))
        if dropped is not None:
            dropped.extend(left_out)
    return out
