"""Validated value types shared by the provisioning and settings schemas."""

from __future__ import annotations

import re
import string
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from softphone.core.errors import InvalidUriError
from softphone.core.sip_uri import parse_sip_uri

Transport = Literal["udp", "tcp", "tls"]
Srtp = Literal["off", "optional", "mandatory"]
ReturnTo = Literal["available", "previous"]

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
#: An :data:`Identifier` or "" for none (TOML has no null).
OptIdentifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{0,64}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]

_HOSTNAME_RE = re.compile(
    r"^(\*\.)?(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*$"
)
_CODEC_RE = re.compile(r"^[A-Za-z0-9.\-]{1,32}(?:/\d{4,6}(?:/[12])?)?$")
_NUMBER_RE = re.compile(r"^\+?[0-9*#]{1,32}$")
_PLACEHOLDER_RE = re.compile(r"^[a-z0-9_]{1,32}$")


class Section(BaseModel):
    """Base of every schema table: unknown keys are errors, so typos are caught."""

    # strict: TOML has real booleans and integers, so "yes" or "30" is a mistake to report.
    model_config = ConfigDict(extra="forbid", validate_default=True, strict=True)


def _sip_uri(value: str) -> str:
    try:
        uri = parse_sip_uri(value)
    except InvalidUriError as exc:
        raise ValueError(str(exc)) from None
    if uri.headers:
        raise ValueError("a SIP URI here may not carry ?headers")
    return str(uri)


def _server(value: str) -> str:
    """A registrar given as ``host``, ``host:port`` or a SIP URI; kept as a SIP URI."""
    uri = _sip_uri(value)
    if parse_sip_uri(uri).user:
        raise ValueError("a server is host[:port] or sip:host[:port], without a user part")
    return uri


def _hostname(value: str) -> str:
    if not _HOSTNAME_RE.match(value):
        raise ValueError(f"{value[:80]!r} is not a domain name (e.g. example.com or *.example.com)")
    return value.lower()


def _codec(value: str) -> str:
    if not _CODEC_RE.match(value):
        raise ValueError(
            f"{value[:40]!r} is not a codec id (e.g. PCMU, G722/16000 or opus/48000/2)")
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


def _number_or_uri(value: str) -> str:
    compact = re.sub(r"[\s\-().]", "", value)
    if _NUMBER_RE.match(compact):
        return compact
    if value.lower().startswith(("sip:", "sips:")):
        return _sip_uri(value)
    raise ValueError(f"{value[:80]!r} is neither a phone number (+, digits, * #) nor a sip: URI")


def _url_template(value: str) -> str:
    if not value:
        return value
    if not value.lower().startswith(("https://", "http://")):
        raise ValueError("the URL must start with https:// or http://")
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise ValueError(f"bad {{placeholder}} syntax: {exc}") from None
    for name in fields:
        if not _PLACEHOLDER_RE.match(name):
            raise ValueError(
                f"placeholder {{{name}}} must be a call field name "
                "(lower-case letters, digits, _), e.g. {number} or {case_id}"
            )
    return value


SipUriStr = Annotated[str, AfterValidator(_sip_uri)]
ServerStr = Annotated[str, AfterValidator(_server)]
# "" means "not set": TOML has no null, and a union with Literal[""] doubles every error.
OptSipUriStr = Annotated[str, AfterValidator(lambda v: _sip_uri(v) if v else v)]
OptServerStr = Annotated[str, AfterValidator(lambda v: _server(v) if v else v)]
HostnameStr = Annotated[str, AfterValidator(_hostname)]
CodecStr = Annotated[str, AfterValidator(_codec)]
RegexStr = Annotated[str, AfterValidator(_regex)]
NumberOrUri = Annotated[str, AfterValidator(_number_or_uri)]
UrlTemplate = Annotated[str, AfterValidator(_url_template)]
Port = Annotated[int, Field(ge=0, le=65535)]
