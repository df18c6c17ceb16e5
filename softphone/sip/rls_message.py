"""SIP messages for the resource-list subscriber: parse, build, digest auth.

Pure Python (no pjsua2, no Qt) and only as much of RFC 3261 as a SUBSCRIBE
dialog client needs: requests and responses with their headers (compact forms,
folded lines, comma-joined values), Content-Length framing on streams, name-addr
values with parameters, and digest authentication (RFC 2617/8760: MD5 and
SHA-256, qop ``auth`` or none). Input comes from the network: sizes and counts
are capped and every problem is a :class:`SipParseError`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field

from softphone.core.rlmi import parse_decimal

MAX_MESSAGE_BYTES = 4 * 1024 * 1024 + 64 * 1024
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 200

COMPACT = {"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
           "c": "content-type", "o": "event", "f": "from", "s": "subject", "k": "supported",
           "t": "to", "v": "via", "u": "allow-events", "r": "refer-to"}
_TOKEN_RE = re.compile(r"^[!%'*+\-.^_`~0-9A-Za-z]+$")
_STATUS_RE = re.compile(r"^SIP/2\.0 ([1-6][0-9]{2}) ?(.*)$")
_REQUEST_RE = re.compile(r"^([A-Za-z]+) (\S+) SIP/2\.0$")


class SipParseError(ValueError):
    """A message that cannot be read (the text says why)."""


@dataclass
class SipMessage:
    """A SIP request or response.

    Attributes:
        method: the request's method, or the method of the response's CSeq.
        uri: the Request-URI ("" for responses).
        status / reason: the response's status code and phrase (0 for requests).
        headers: (name, value) in order; names as written (compact forms expanded).
        body: the body bytes.
    """

    method: str = ""
    uri: str = ""
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return self.status == 0

    def get(self, name: str, default: str = "") -> str:
        """The first value of header ``name`` (any case, compact form too)."""
        key = _canonical(name)
        for hname, value in self.headers:
            if _canonical(hname) == key:
                return value
        return default

    def values(self, name: str) -> list[str]:
        """Every value of header ``name`` as written (one per header line)."""
        key = _canonical(name)
        return [value for hname, value in self.headers if _canonical(hname) == key]

    def get_all(self, name: str) -> list[str]:
        """Every value of header ``name``, comma-joined values split apart
        (for the list headers: Via, Route, Record-Route, Contact...)."""
        key = _canonical(name)
        out: list[str] = []
        for hname, value in self.headers:
            if _canonical(hname) == key:
                out.extend(split_commas(value))
        return out

    def cseq(self) -> tuple[int, str]:
        """(number, method) of the CSeq header; raises :class:`SipParseError`."""
        number_text, _, method = self.get("CSeq").strip().partition(" ")
        number = parse_decimal(number_text)
        if number is None or not method.strip():
            raise SipParseError(f"bad CSeq {self.get('CSeq')[:40]!r}")
        return number, method.strip().upper()

    def encode(self) -> bytes:
        if self.is_request:
            start = f"{self.method} {self.uri} SIP/2.0"
        else:
            start = f"SIP/2.0 {self.status} {self.reason}"
        lines = [start]
        lines += [f"{name}: {value}" for name, value in self.headers
                  if _canonical(name) != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def _canonical(name: str) -> str:
    key = name.strip().lower()
    return COMPACT.get(key, key)


def parse_message(data: bytes) -> SipMessage:
    """Parse one whole SIP message (a datagram, or one framed off a stream)."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError(f"message of {len(data)} bytes is over {MAX_MESSAGE_BYTES}")
    data = data.lstrip(b"\r\n")  # keepalive CRLFs before a message
    end = data.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end = data.find(b"\n\n")
        sep = 2
    if end < 0:
        raise SipParseError("no end of headers")
    if end > MAX_HEADER_BYTES:
        raise SipParseError("headers too long")
    try:
        head = data[:end].decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("headers are not UTF-8") from None
    body = data[end + sep:]
    lines = re.split(r"\r?\n", head)
    msg = SipMessage()
    start = lines[0]
    status = _STATUS_RE.match(start)
    request = _REQUEST_RE.match(start)
    if status:
        msg.status = int(status[1])
        msg.reason = status[2][:128]
    elif request:
        msg.method = request[1].upper()
        msg.uri = request[2]
    else:
        raise SipParseError(f"bad start line {start[:80]!r}")
    unfolded: list[str] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not unfolded:
                raise SipParseError("continuation line before any header")
            unfolded[-1] += " " + line.strip()
        elif line:
            unfolded.append(line)
    if len(unfolded) > MAX_HEADERS:
        raise SipParseError(f"more than {MAX_HEADERS} headers")
    for line in unfolded:
        name, sep_, value = line.partition(":")
        name = name.strip()
        if not sep_ or not _TOKEN_RE.match(name):
            raise SipParseError(f"bad header line {line[:80]!r}")
        if any(ch in value for ch in "\x00"):
            raise SipParseError("NUL in a header")
        msg.headers.append((COMPACT.get(name.lower(), name) if len(name) == 1 else name,
                            value.strip()))
    length_text = msg.get("Content-Length")
    if length_text:
        length = parse_decimal(length_text, 9)
        if length is None:
            raise SipParseError(f"bad Content-Length {length_text[:20]!r}")
        if length > len(body):
            raise SipParseError(f"body shorter ({len(body)}) than Content-Length {length}")
        body = body[:length]
    msg.body = body
    if not msg.is_request:
        msg.method = msg.cseq()[1]
    return msg


class StreamFramer:
    """Cuts a TCP byte stream into messages by their Content-Length (RFC 3261 18.3).

    :meth:`feed` returns the complete messages' bytes; a stream that goes past
    the limits raises :class:`SipParseError` (the connection must be closed).
    """

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        out: list[bytes] = []
        while True:
            self._buffer = self._buffer.lstrip(b"\r\n")  # keepalives
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    raise SipParseError("headers too long on the stream")
                return out
            match = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([0-9]{1,9})[ \t]*\r?$",
                              self._buffer[:end])
            if match is None:
                raise SipParseError("a message on a stream needs a Content-Length")
            total = end + 4 + int(match[1])
            if total > MAX_MESSAGE_BYTES:
                raise SipParseError(f"message of {total} bytes is over {MAX_MESSAGE_BYTES}")
            if len(self._buffer) < total:
                return out
            out.append(self._buffer[:total])
            self._buffer = self._buffer[total:]


def split_commas(value: str) -> list[str]:
    """Split a header value at commas outside quotes and angle brackets."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    angle = False
    escaped = False
    for ch in value:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            angle = True
        elif not quoted and ch == ">":
            angle = False
        elif ch == "," and not quoted and not angle:
            out.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    tail = "".join(current).strip()
    if tail:
        out.append(tail)
    return [v for v in out if v]


@dataclass(frozen=True)
class NameAddr:
    """A header value like ``"Bob" <sip:bob@host>;tag=x``.

    Attributes:
        uri: the URI without angle brackets.
        params: header parameters (after the URI), names lower-cased.
        text: the value as written.
    """

    uri: str
    params: dict[str, str]
    text: str

    @property
    def tag(self) -> str:
        return self.params.get("tag", "")


def parse_name_addr(value: str) -> NameAddr:
    text = value.strip()
    if "<" in text:
        start = text.index("<")
        end = text.find(">", start)
        if end < 0:
            raise SipParseError(f"unclosed '<' in {text[:80]!r}")
        uri = text[start + 1:end].strip()
        rest = text[end + 1:]
    else:
        # addr-spec: header params start at the first ';' (none belong to the URI).
        uri, _, rest = text.partition(";")
        uri = uri.strip()
        rest = ";" + rest if rest else ""
    if not uri or any(ch in uri for ch in " \t\r\n"):
        raise SipParseError(f"no URI in {text[:80]!r}")
    return NameAddr(uri, parse_params(rest), text)


def parse_params(text: str) -> dict[str, str]:
    """``;a=b;c;d="e"`` -> {a: b, c: "", d: e} (names lower-cased, first wins)."""
    params: dict[str, str] = {}
    for item in split_params(text):
        name, _, val = item.partition("=")
        val = val.strip()
        if len(val) >= 2 and val.startswith('"') and val.endswith('"'):
            val = val[1:-1]
        params.setdefault(name.strip().lower(), val)
    return params


def split_params(text: str) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            if "".join(current).strip():
                out.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    if "".join(current).strip():
        out.append("".join(current).strip())
    return out


def parse_subscription_state(value: str) -> tuple[str, dict[str, str]]:
    """``active;expires=600`` -> ("active", {"expires": "600"})."""
    state, _, rest = value.partition(";")
    return state.strip().lower(), parse_params(";" + rest if rest else "")


def via_params(via: str) -> dict[str, str]:
    """The parameters of one Via value (``branch``, ``received``, ``rport``...)."""
    _, sep, rest = via.partition(";")
    return parse_params(";" + rest) if sep else {}


def new_tag() -> str:
    return secrets.token_hex(8)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(10)


# -- digest authentication ----------------------------------------------------------------

_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


@dataclass(frozen=True)
class Challenge:
    """A ``WWW-Authenticate``/``Proxy-Authenticate`` Digest challenge."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @property
    def supported(self) -> bool:
        algorithm = self.algorithm.upper().removesuffix("-SESS")
        return algorithm in _HASHES and (not self.qop or "auth" in self.qop)


def parse_challenge(value: str) -> Challenge | None:
    """The Digest challenge in ``value``, or None if it is another scheme or broken."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    for item in split_commas(rest):
        name, sep, val = item.partition("=")
        if not sep:
            continue
        val = val.strip()
        if len(val) >= 2 and val.startswith('"') and val.endswith('"'):
            val = val[1:-1]
        params.setdefault(name.strip().lower(), val)
    if "nonce" not in params or "realm" not in params:
        return None
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    return Challenge(params["realm"], params["nonce"], params.get("algorithm", "MD5") or "MD5",
                     qop, params.get("opaque"), params.get("stale", "").lower() == "true")


def digest_authorization(challenge: Challenge, *, method: str, uri: str, username: str,
                         password: str, nc: int = 1, cnonce: str | None = None) -> str:
    """The ``Digest ...`` credentials answering ``challenge`` (the header value)."""
    algorithm = challenge.algorithm.upper()
    hash_fn = _HASHES[algorithm.removesuffix("-SESS")]

    def h(text: str) -> str:
        return hash_fn(text.encode("utf-8")).hexdigest()

    cnonce = cnonce or secrets.token_hex(8)
    ha1 = h(f"{username}:{challenge.realm}:{password}")
    if algorithm.endswith("-SESS"):
        ha1 = h(f"{ha1}:{challenge.nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    parts = [f'username="{_quote(username)}"', f'realm="{_quote(challenge.realm)}"',
             f'nonce="{_quote(challenge.nonce)}"', f'uri="{_quote(uri)}"']
    if "auth" in challenge.qop:
        nc_text = f"{nc:08x}"
        response = h(f"{ha1}:{challenge.nonce}:{nc_text}:{cnonce}:auth:{ha2}")
        parts += [f'response="{response}"', f"algorithm={challenge.algorithm}",
                  f'cnonce="{cnonce}"', "qop=auth", f"nc={nc_text}"]
    else:
        response = h(f"{ha1}:{challenge.nonce}:{ha2}")
        parts += [f'response="{response}"', f"algorithm={challenge.algorithm}"]
    if challenge.opaque is not None:
        parts.append(f'opaque="{_quote(challenge.opaque)}"')
    return "Digest " + ", ".join(parts)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
