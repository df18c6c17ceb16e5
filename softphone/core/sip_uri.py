"""Validation and normalisation of SIP URIs typed by people or sent by programs.

PJSIP would reject most bad URIs too, but with a terse status code and only
after the call object exists; checking first gives a clear message and keeps
garbage (spaces, CR/LF header injection, markup) out of the SIP stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from softphone.core.calls import split_name_addr
from softphone.core.errors import InvalidUriError

# user part: RFC 3261 unreserved / escaped / user-unreserved characters.
_USER = r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+"
_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?)"
_URI_RE = re.compile(
    rf"^(?P<scheme>sips?):(?:(?P<user>{_USER})@)?(?P<host>{_HOST})"
    rf"(?::(?P<port>[0-9]{{1,5}}))?(?P<params>(?:;[A-Za-z0-9\-_.!~*'()%]+(?:=[A-Za-z0-9\-_.!~*'()%\[\]:]*)?)*)"
    rf"(?P<headers>\?[A-Za-z0-9\-_.!~*'()%=&+:@$,/;]*)?$"
)
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f<>\"]")
MAX_URI_LENGTH = 1024


@dataclass(frozen=True)
class SipUri:
    """A parsed ``sip:``/``sips:`` URI (without display name or angle brackets).

    Attributes:
        scheme: ``sip`` or ``sips``.
        user: the user part, or ``None`` for a bare host.
        host: host name or address (IPv6 in brackets).
        port: the port, or ``None`` when not given.
        params: the ``;param`` tail as written, e.g. ``;transport=tcp``.
        headers: the ``?header=value`` tail as written, or ``""``.
    """

    scheme: str
    user: str | None
    host: str
    port: int | None
    params: str = ""
    headers: str = ""

    def __str__(self) -> str:
        out = f"{self.scheme}:"
        if self.user:
            out += f"{self.user}@"
        out += self.host
        if self.port is not None:
            out += f":{self.port}"
        return out + self.params + self.headers

    @property
    def transport(self) -> str | None:
        """The ``transport=`` parameter in lower case, if any."""
        for param in self.params.split(";"):
            key, _, value = param.partition("=")
            if key.lower() == "transport":
                return value.lower()
        return None


def parse_sip_uri(text: str, *, default_scheme: str = "sip") -> SipUri:
    """Parse ``text`` into a :class:`SipUri`, raising :class:`InvalidUriError`.

    Accepts an optional ``<...>`` wrapper and a missing scheme
    (``alice@example.com`` becomes ``sip:alice@example.com``).
    """
    if not isinstance(text, str):
        raise InvalidUriError("a SIP URI must be a string")
    raw = text.strip()
    if raw.startswith("<") and raw.endswith(">"):
        raw = raw[1:-1].strip()
    if not raw:
        raise InvalidUriError("the SIP URI is empty")
    if len(raw) > MAX_URI_LENGTH:
        raise InvalidUriError(f"the SIP URI is longer than {MAX_URI_LENGTH} characters")
    bad = _FORBIDDEN.search(raw)
    if bad:
        raise InvalidUriError(
            f"the SIP URI {_shown(raw)} contains a forbidden character {bad.group()!r}"
        )
    if not re.match(r"^sips?:", raw, re.IGNORECASE):
        if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^0-9]", raw):
            scheme = raw.split(":", 1)[0]
            raise InvalidUriError(f"{scheme!r} is not a SIP URI scheme (use sip: or sips:)")
        raw = f"{default_scheme}:{raw}"
    scheme, rest = raw.split(":", 1)
    raw = f"{scheme.lower()}:{rest}"
    match = _URI_RE.match(raw)
    if not match:
        raise InvalidUriError(
            f"{_shown(text)} is not a valid SIP URI (expected sip:user@host[:port])"
        )
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 0 < port < 65536:
        raise InvalidUriError(f"port {port} in {_shown(text)} is out of range 1-65535")
    return SipUri(
        scheme=match["scheme"],
        user=match["user"],
        host=match["host"],
        port=port,
        params=match["params"] or "",
        headers=match["headers"] or "",
    )


def parse_addr(text: str) -> SipUri | None:
    """The URI of a header-style address (``"Name" <sip:u@h>;tag=x``), or None
    when it holds no valid SIP URI. For untrusted text that must not raise."""
    try:
        return parse_sip_uri(split_name_addr(text)[1])
    except InvalidUriError:
        return None


def _shown(text: str) -> str:
    """A short, printable rendering of untrusted text for error messages."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)
    return repr(cleaned[:80] + ("..." if len(cleaned) > 80 else ""))
