"""Screen pop: who is calling and the data attached to the call.

The data travels with the call: read from an incoming INVITE (``User-to-User``
per RFC 7433 with hex encoding, and ``X-`` headers of a configurable prefix),
written onto outgoing INVITEs, and embedded in the Refer-To URI of a transfer.
It is untrusted text: size-limited, validated, and never executed or rendered
as markup by anything that shows it.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from softphone.core.calls import split_name_addr
from softphone.core.errors import InvalidParamsError
from softphone.core.sip_headers import MAX_SIP_MESSAGE

log = logging.getLogger("softphone.core.screen_pop")

UUI_HEADER = "User-to-User"
DEFAULT_HEADER_PREFIX = "X-Pop-"
# Marks an INVITE as part of a transfer: "blind" (queue if not Available) or
# "consult" (a supervised transfer's consult call: ring at once).
TRANSFER_HEADER = "X-Softphone-Transfer"

MAX_FIELDS = 32
MAX_KEY = 32
MAX_VALUE = 512
# Sizes follow from the largest SIP message PJSIP handles (MAX_SIP_MESSAGE):
# the rest of an INVITE (Via, From/To, Contact, Route, credentials, what
# proxies add on the way, SDP with SRTP keys) is kept under INVITE_RESERVE,
# and the screen pop's headers get the remainder. The User-to-User copy is
# always complete; X-Pop- copies are added while they fit.
INVITE_RESERVE = 2400
POP_HEADER_BUDGET = MAX_SIP_MESSAGE - INVITE_RESERVE
_UUI_OVERHEAD = len(f"{UUI_HEADER}: ;encoding=hex\r\n")
MAX_PAYLOAD = (POP_HEADER_BUDGET - _UUI_OVERHEAD) // 2  # bytes of the url-encoded form
_KEY_RE = re.compile(r"^[a-z0-9_]{1,32}$")
# C0/C1 controls except tab and newline (notes may have lines) are removed.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Standard fields, shown first and in this order.
STANDARD_FIELDS = ("number", "name", "account", "case_id", "queue", "notes")


@dataclass
class ScreenPop:
    """What is shown about a call.

    Attributes:
        fields: attached data as ordered ``key -> text``; ``number`` and
            ``name`` are the caller's (kept across transfers, where the SIP
            From of the consult call is the transferring agent, not the caller).
    """

    fields: dict[str, str] = field(default_factory=dict)

    @property
    def number(self) -> str:
        return self.fields.get("number", "")

    @property
    def name(self) -> str:
        return self.fields.get("name", "")

    def to_json(self) -> dict[str, str]:
        ordered = {k: self.fields[k] for k in STANDARD_FIELDS if k in self.fields}
        ordered.update({k: v for k, v in self.fields.items() if k not in ordered})
        return ordered

    def merged(self, data: Mapping[str, str]) -> ScreenPop:
        """A copy with ``data`` added (validated strictly: raises on bad input)."""
        fields = dict(self.fields)
        fields.update(validate_fields(data))
        check_size(fields)
        return ScreenPop(fields)

    def copy(self) -> ScreenPop:
        return ScreenPop(dict(self.fields))


def validate_fields(data: Any) -> dict[str, str]:
    """Strict validation for data from the API or the agent: raise on bad input."""
    if not isinstance(data, Mapping):
        raise InvalidParamsError("screen pop data must be an object of key: text")
    if len(data) > MAX_FIELDS:
        raise InvalidParamsError(f"screen pop data has more than {MAX_FIELDS} fields")
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise InvalidParamsError(
                f"screen pop key {str(key)[:40]!r} must be 1-{MAX_KEY} of a-z, 0-9, _"
            )
        if not isinstance(value, str):
            raise InvalidParamsError(f"screen pop value of {key!r} must be text")
        if len(value) > MAX_VALUE:
            raise InvalidParamsError(f"screen pop value of {key!r} is over {MAX_VALUE} characters")
        out[key] = _CONTROL_RE.sub("", value)
    return out


def check_size(fields: Mapping[str, str]) -> None:
    if len(fields) > MAX_FIELDS:
        raise InvalidParamsError(f"screen pop data has more than {MAX_FIELDS} fields")
    if len(_urlencode(fields)) > MAX_PAYLOAD:
        raise InvalidParamsError(f"screen pop data is over {MAX_PAYLOAD} bytes encoded")


def sanitise_fields(data: Mapping[str, str]) -> dict[str, str]:
    """Lenient cleaning for data from the network: drop what is invalid, never raise.

    What is kept passes :func:`check_size`, so it can be sent on (a transfer).
    """
    out: dict[str, str] = {}
    for key, value in data.items():
        key = key.lower()
        if not _KEY_RE.match(key) or not isinstance(value, str):
            log.warning("dropping screen pop field with an invalid key %r", key[:40])
            continue
        value = _CONTROL_RE.sub("", value)
        if len(value) > MAX_VALUE:
            log.warning("screen pop field %s from the network is over %d characters; shortened",
                        key, MAX_VALUE)
            value = value[:MAX_VALUE]
        if len(out) >= MAX_FIELDS or len(_urlencode({**out, key: value})) > MAX_PAYLOAD:
            log.warning("screen pop data from the network is too large; fields from %s on "
                        "dropped", key)
            break
        out[key] = value
    return out


# -- wire formats -------------------------------------------------------------------


def _urlencode(fields: Mapping[str, str]) -> str:
    # quote_plus: a space is one byte ("+"), not three; parse_qsl reads both.
    return urllib.parse.urlencode(list(fields.items()), quote_via=urllib.parse.quote_plus)


def encode_uui(fields: Mapping[str, str]) -> str:
    """The ``User-to-User`` header value: hex of the url-encoded data (RFC 7433)."""
    return _urlencode(fields).encode("utf-8").hex() + ";encoding=hex"


def decode_uui(value: str) -> dict[str, str]:
    """Parse a ``User-to-User`` value; unknown encodings and garbage give {}."""
    data, _, params = value.strip().partition(";")
    param_map = {}
    for param in params.split(";"):
        k, _, v = param.partition("=")
        param_map[k.strip().lower()] = v.strip().lower()
    if param_map.get("encoding", "hex") != "hex":
        return {}
    try:
        raw = bytes.fromhex(data.strip()).decode("utf-8")
    except ValueError:
        log.warning("undecodable User-to-User header ignored")
        return {}
    if len(raw) > MAX_PAYLOAD * 2:
        log.warning("oversized User-to-User header ignored")
        return {}
    pairs = urllib.parse.parse_qsl(raw, keep_blank_values=True, max_num_fields=MAX_FIELDS * 2)
    return dict(pairs)


def outgoing_headers(pop: ScreenPop, prefix: str = DEFAULT_HEADER_PREFIX,
                     x_headers: bool = True) -> dict[str, str]:
    """Headers that carry ``pop`` on an INVITE, together at most
    :data:`POP_HEADER_BUDGET` bytes.

    ``User-to-User`` carries everything; each field also gets an ``X-Pop-``
    copy, in display order, as long as the copies fit in the budget.
    """
    if not pop.fields:
        return {}
    headers = {UUI_HEADER: encode_uui(pop.to_json())}
    size = _header_bytes(UUI_HEADER, headers[UUI_HEADER])
    if x_headers:
        for key, value in pop.to_json().items():
            # Header values are single lines: notes lose their line breaks here
            # (the User-to-User copy keeps them).
            name, flat = f"{prefix}{key}", _flatten(value)
            if size + _header_bytes(name, flat) > POP_HEADER_BUDGET:
                continue
            headers[name] = flat
            size += _header_bytes(name, flat)
    return headers


def _flatten(value: str) -> str:
    return " ".join(value.split())[:MAX_VALUE]


def _header_bytes(name: str, value: str) -> int:
    return len(f"{name}: {value}\r\n".encode())


def refer_to_uri(target: str, pop: ScreenPop, transfer_kind: str = "blind") -> str:
    """``<target?User-to-User=...&X-Softphone-Transfer=blind>`` for a REFER.

    Headers in a Refer-To URI reach the transfer target as real headers on
    the INVITE the transferee sends (PJSIP decodes them once).
    """
    headers = {TRANSFER_HEADER: transfer_kind}
    if pop.fields:
        headers[UUI_HEADER] = encode_uui(pop.to_json())
    query = "&".join(
        f"{urllib.parse.quote(k, safe='-')}={urllib.parse.quote(v, safe='')}"
        for k, v in headers.items()
    )
    sep = "&" if "?" in target else "?"
    return f"<{target}{sep}{query}>"


def pop_from_headers(headers: Mapping[str, str], prefix: str = DEFAULT_HEADER_PREFIX
                     ) -> ScreenPop:
    """Build the screen pop of an incoming INVITE from its headers.

    ``User-to-User`` first, then prefixed X- headers (which win on conflict),
    then the caller's number and name from From when the data did not carry
    them.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    data: dict[str, str] = {}
    uui = lowered.get(UUI_HEADER.lower())
    if uui:
        data.update(decode_uui(uui))
    low_prefix = prefix.lower()
    for name, value in lowered.items():
        if name.startswith(low_prefix) and len(name) > len(low_prefix):
            key = name[len(low_prefix):]
            # Our own single-line copy of a User-to-User field: keep the
            # original (with its line breaks).
            if key in data and _flatten(data[key]) == value:
                continue
            data[key] = value
    fields = sanitise_fields(data)
    if "number" not in fields or "name" not in fields:
        name, uri = split_name_addr(headers.get("From", ""))
        uri = uri.split(";")[0]
        user = uri.split(":", 1)[-1].split("@")[0] if uri else ""
        fields.setdefault("number", _CONTROL_RE.sub("", user)[:MAX_VALUE])
        fields.setdefault("name", _CONTROL_RE.sub("", name)[:MAX_VALUE])
    return ScreenPop({k: v for k, v in fields.items() if v or k not in ("number", "name")})


def transfer_kind(headers: Mapping[str, str]) -> str | None:
    """``blind``/``consult`` when the INVITE is part of a transfer, else None.

    A Referred-By header (compact form ``b``) marks a transferred call even
    from stacks that do not add our marker.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    marker = lowered.get(TRANSFER_HEADER.lower(), "").strip().lower()
    if marker in ("blind", "consult"):
        return marker
    if "referred-by" in lowered or "b" in lowered:
        return "blind"
    return None
