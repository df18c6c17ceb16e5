"""Resource-list NOTIFY bodies (RFC 4662): multipart/related, RLMI and PIDF.

A resource list server (RLS) NOTIFYs a list subscriber with a
``multipart/related`` body (RFC 2387) whose root part is an RLMI document
(``application/rlmi+xml``): the list's URI, a ``version`` and whether it is
the full state, then one ``<resource>`` per member with ``<instance>``
elements (``active``, ``pending`` or ``terminated``); an active instance's
``cid`` names the body part holding that member's PIDF document (RFC 3863).

Everything here reads untrusted network input: sizes and counts are capped,
XML with a DOCTYPE (and so any entity declaration) is refused, and every
problem is a :class:`RlmiError` rather than another exception.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from dataclasses import dataclass, field

from softphone.core.agent_state import AgentState, state_from_note

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_PARTS = 10_000
MAX_RESOURCES = 10_000
MAX_INSTANCES = 16
MAX_XML_DEPTH = 32
MAX_XML_ELEMENTS = 200_000
MAX_NOTE_CHARS = 256
MAX_PART_HEADER_BYTES = 8 * 1024

RLMI_NS = "urn:ietf:params:xml:ns:rlmi"
PIDF_NS = "urn:ietf:params:xml:ns:pidf"
DM_NS = "urn:ietf:params:xml:ns:pidf:data-model"
RLMI_TYPE = "application/rlmi+xml"
PIDF_TYPE = "application/pidf+xml"
MULTIPART_RELATED = "multipart/related"

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM_RE = re.compile(rf'\s*;\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|{_TOKEN}|[^;\s]*)')
_BOUNDARY_RE = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{1,70}$")


class RlmiError(ValueError):
    """A body that is not a usable resource-list notification (the message says why)."""


_DECIMAL_RE = re.compile(r"[0-9]{1,10}")


def parse_decimal(text: str, max_digits: int = 10) -> int | None:
    """``text`` (surrounding whitespace aside) as a number of at most
    ``max_digits`` ASCII digits, else None. Not ``str.isdigit()``: it accepts
    "²" or an Arabic-Indic one, which ``int()`` then refuses with a ValueError."""
    text = text.strip()
    if len(text) > max_digits or not _DECIMAL_RE.fullmatch(text):
        return None
    return int(text)


# -- media types and multipart ----------------------------------------------------------


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """``type/subtype;a=b;c="d"`` -> (``type/subtype`` lower-cased, params with
    lower-cased names and unquoted values). Raises :class:`RlmiError`."""
    text = value.strip()
    match = re.match(rf"^({_TOKEN})/({_TOKEN})", text)
    if not match:
        raise RlmiError(f"not a media type: {_shown(value)}")
    mime = f"{match[1]}/{match[2]}".lower()
    params: dict[str, str] = {}
    rest = text[match.end():]
    while rest.strip():
        param = _PARAM_RE.match(rest)
        if not param:
            raise RlmiError(f"bad media type parameters: {_shown(value)}")
        raw = param[2]
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params.setdefault(param[1].lower(), raw)
        rest = rest[param.end():]
    return mime, params


@dataclass(frozen=True)
class BodyPart:
    """One part of a multipart body.

    Attributes:
        headers: lower-cased header names -> values (the first of each).
        body: the part's content (bytes, as sent).
    """

    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "text/plain")

    @property
    def content_id(self) -> str:
        """The Content-ID without angle brackets ("" if none)."""
        return _strip_angle(self.headers.get("content-id", ""))


def split_multipart(body: bytes, boundary: str) -> list[BodyPart]:
    """The parts of a multipart ``body`` (RFC 2046 5.1) delimited by ``boundary``.

    The preamble and epilogue are ignored; a body without a closing delimiter
    is accepted (the last part runs to the end) but one without any delimiter
    is an error. Line ends may be CRLF or bare LF.
    """
    if len(body) > MAX_BODY_BYTES:
        raise RlmiError(f"multipart body of {len(body)} bytes is over {MAX_BODY_BYTES}")
    if not _BOUNDARY_RE.match(boundary) or boundary.endswith(" "):
        raise RlmiError(f"bad multipart boundary {_shown(boundary)}")
    delimiter = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary.encode())
                           + rb"(--)?[ \t]*(?:\r?\n|$)")
    parts: list[BodyPart] = []
    # Delimiters are found one at a time (a body of nothing but delimiters
    # must not make a match object for each) and counted before a part is read.
    matches = delimiter.finditer(body)
    here = next(matches, None)
    if here is None:
        raise RlmiError("multipart body without its boundary")
    while here is not None and not here[1]:  # the closing delimiter: the rest is epilogue
        if len(parts) >= MAX_PARTS:
            raise RlmiError(f"more than {MAX_PARTS} body parts")
        following = next(matches, None)
        end = following.start() if following is not None else len(body)
        parts.append(_parse_part(body[here.end():end]))
        here = following
    if not parts:
        raise RlmiError("multipart body without parts")
    return parts


def _parse_part(raw: bytes) -> BodyPart:
    split = re.search(rb"\r?\n\r?\n", raw)
    if raw.startswith((b"\r\n", b"\n")):  # no headers at all
        head, content = b"", raw[2 if raw.startswith(b"\r\n") else 1:]
    elif split is None:
        head, content = raw, b""
    else:
        head, content = raw[:split.start()], raw[split.end():]
    if len(head) > MAX_PART_HEADER_BYTES:
        raise RlmiError("body part headers too long")
    headers: dict[str, str] = {}
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise RlmiError("body part headers are not UTF-8") from None
    lines: list[str] = []
    for line in re.split(r"\r?\n", text):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()  # folded header line
        elif line:
            lines.append(line)
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not re.fullmatch(_TOKEN, name.strip()):
            raise RlmiError(f"bad body part header {_shown(line)}")
        headers.setdefault(name.strip().lower(), value.strip())
    return BodyPart(headers, content)


# -- a minimal, safe XML tree -------------------------------------------------------------


@dataclass
class Element:
    """An XML element: ``ns`` and ``name`` of its tag, attributes (no
    namespace prefix), children and text (concatenated character data)."""

    ns: str
    name: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    text: str = ""

    def find(self, ns: str, name: str) -> Element | None:
        return next((c for c in self.children if c.ns == ns and c.name == name), None)

    def findall(self, ns: str, name: str) -> list[Element]:
        return [c for c in self.children if c.ns == ns and c.name == name]

    def iter(self) -> list[Element]:
        out: list[Element] = []
        stack = [self]
        while stack:
            element = stack.pop()
            out.append(element)
            stack.extend(reversed(element.children))
        return out


def parse_xml(data: bytes) -> Element:
    """Parse ``data`` with expat into an :class:`Element` tree.

    Refuses DTDs (and so entity declarations: no "billion laughs", no external
    entities), processing depth past :data:`MAX_XML_DEPTH` and more than
    :data:`MAX_XML_ELEMENTS` elements.
    """
    if len(data) > MAX_BODY_BYTES:
        raise RlmiError(f"XML document of {len(data)} bytes is over {MAX_BODY_BYTES}")
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    stack: list[Element] = []
    root: list[Element] = []
    count = 0

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > MAX_XML_ELEMENTS:
            raise RlmiError(f"more than {MAX_XML_ELEMENTS} XML elements")
        if len(stack) >= MAX_XML_DEPTH:
            raise RlmiError(f"XML nested deeper than {MAX_XML_DEPTH}")
        ns, _, name = tag.rpartition(" ")
        plain = {k.rpartition(" ")[2]: v for k, v in attrs.items()}
        element = Element(ns, name, plain)
        if stack:
            stack[-1].children.append(element)
        elif root:
            raise RlmiError("more than one XML root element")
        else:
            root.append(element)
        stack.append(element)

    def end(tag: str) -> None:
        stack.pop()

    def chars(text: str) -> None:
        if stack and len(stack[-1].text) < MAX_NOTE_CHARS * 4:
            stack[-1].text += text

    def refuse_dtd(*_args: object) -> None:
        raise RlmiError("XML with a DOCTYPE is refused")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.ExternalEntityRefHandler = refuse_dtd  # type: ignore[assignment]
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise RlmiError(f"malformed XML: {exc}") from None
    except RecursionError:
        raise RlmiError("XML nested too deep") from None
    if not root:
        raise RlmiError("XML document without an element")
    return root[0]


# -- RLMI ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """One instance of a resource (RFC 4662 5.3).

    Attributes:
        instance_id: the ``id`` attribute.
        state: ``active``, ``pending`` or ``terminated``.
        reason: why it is terminated, if given.
        cid: Content-ID of the part with its state (active instances).
    """

    instance_id: str
    state: str
    reason: str = ""
    cid: str = ""


@dataclass(frozen=True)
class Resource:
    uri: str
    instances: tuple[Instance, ...] = ()


@dataclass(frozen=True)
class RlmiList:
    """An RLMI ``<list>`` document.

    Attributes:
        uri: the list's URI.
        version: increments by one for each NOTIFY of the subscription.
        full_state: True: every resource of the list is here; False: only changes.
        resources: the resources in document order.
    """

    uri: str
    version: int
    full_state: bool
    resources: tuple[Resource, ...]


def parse_rlmi(data: bytes) -> RlmiList:
    """Parse an ``application/rlmi+xml`` document."""
    root = parse_xml(data)
    if (root.ns, root.name) != (RLMI_NS, "list"):
        raise RlmiError(f"RLMI root is {{{root.ns}}}{root.name}, not {{{RLMI_NS}}}list")
    uri = root.attrs.get("uri", "").strip()
    if not uri:
        raise RlmiError("RLMI list without a uri")
    version_text = root.attrs.get("version", "").strip()
    version = parse_decimal(version_text)
    if version is None:
        raise RlmiError(f"RLMI version {_shown(version_text)} is not a number")
    full_text = root.attrs.get("fullState", "").strip().lower()
    if full_text not in ("true", "false", "1", "0"):
        raise RlmiError(f"RLMI fullState {_shown(full_text)} is not a boolean")
    resources: list[Resource] = []
    for node in root.findall(RLMI_NS, "resource"):
        if len(resources) >= MAX_RESOURCES:
            raise RlmiError(f"more than {MAX_RESOURCES} resources")
        resource_uri = node.attrs.get("uri", "").strip()
        if not resource_uri:
            raise RlmiError("RLMI resource without a uri")
        instances: list[Instance] = []
        for inst in node.findall(RLMI_NS, "instance")[:MAX_INSTANCES]:
            state = inst.attrs.get("state", "").strip().lower()
            if state not in ("active", "pending", "terminated"):
                raise RlmiError(f"RLMI instance state {_shown(state)} is unknown")
            instances.append(Instance(inst.attrs.get("id", ""), state,
                                      inst.attrs.get("reason", "")[:64],
                                      _strip_angle(inst.attrs.get("cid", ""))))
        resources.append(Resource(resource_uri, tuple(instances)))
    return RlmiList(uri, version, full_text in ("true", "1"), tuple(resources))


# -- PIDF ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PidfStatus:
    """What a PIDF document says: ``basic`` is ``open``, ``closed`` or ""
    (not given); ``note`` is the first tuple note, else the first person note."""

    basic: str
    note: str


def parse_pidf(data: bytes) -> PidfStatus:
    root = parse_xml(data)
    if (root.ns, root.name) != (PIDF_NS, "presence"):
        raise RlmiError(f"PIDF root is {{{root.ns}}}{root.name}, not {{{PIDF_NS}}}presence")
    basic = ""
    note = ""
    for tuple_ in root.findall(PIDF_NS, "tuple"):
        status = tuple_.find(PIDF_NS, "status")
        basic_el = status.find(PIDF_NS, "basic") if status is not None else None
        value = basic_el.text.strip().lower() if basic_el is not None else ""
        if value in ("open", "closed") and basic != "open":
            basic = value  # one open tuple makes the presentity open
        note_el = tuple_.find(PIDF_NS, "note")
        if note_el is not None and not note and note_el.text.strip():
            note = note_el.text.strip()
    if not note:
        for element in root.iter():
            if element.name == "note" and element.ns in (DM_NS, PIDF_NS) and element.text.strip():
                note = element.text.strip()
                break
    return PidfStatus(basic, note[:MAX_NOTE_CHARS])


def agent_state_from_pidf(status: PidfStatus) -> tuple[AgentState, str]:
    """An agent's state from PIDF, read the way presence does it for buddies:
    closed is Logged Out; an open presentity with one of our notes is that
    state; open without one (another kind of client) counts as Available."""
    if status.basic == "closed":
        return AgentState.LOGGED_OUT, ""
    parsed = state_from_note(status.note)
    if parsed is not None:
        return parsed
    if status.basic == "open":
        return AgentState.AVAILABLE, ""
    return AgentState.LOGGED_OUT, ""


# -- a whole list NOTIFY ------------------------------------------------------------------


@dataclass(frozen=True)
class ListNotification:
    """The agent states a list NOTIFY carries.

    Attributes:
        uri / version / full_state: from the RLMI document.
        states: resource URI (as written) -> (state, reason), or None when the
            resource's state is not known (no instance yet, pending, or an
            instance whose body is missing or unreadable).
        problems: short sentences about parts that were skipped (for the log).
    """

    uri: str
    version: int
    full_state: bool
    states: dict[str, tuple[AgentState, str] | None]
    problems: tuple[str, ...] = ()


def is_list_body(content_type: str) -> bool:
    """Whether ``content_type`` announces an RLMI multipart body."""
    try:
        mime, params = parse_media_type(content_type)
    except RlmiError:
        return False
    return mime == MULTIPART_RELATED and params.get("type", "").lower() == RLMI_TYPE


def parse_list_notify(content_type: str, body: bytes) -> ListNotification:
    """Read a list NOTIFY's body. Raises :class:`RlmiError` when it is not a
    well-formed RLMI multipart body; a bad member part only makes that
    member's state unknown (listed in ``problems``)."""
    mime, params = parse_media_type(content_type)
    if mime != MULTIPART_RELATED:
        raise RlmiError(f"{mime} is not {MULTIPART_RELATED}")
    if params.get("type", "").lower() != RLMI_TYPE:
        raise RlmiError(f"multipart/related of type {_shown(params.get('type', ''))}, "
                        f"not {RLMI_TYPE}")
    boundary = params.get("boundary", "")
    if not boundary:
        raise RlmiError("multipart/related without a boundary")
    parts = split_multipart(body, boundary)
    by_cid: dict[str, BodyPart] = {}
    for part in parts:
        if part.content_id:
            by_cid.setdefault(part.content_id, part)
    start = _strip_angle(params.get("start", ""))
    root = by_cid.get(start) if start else parts[0]
    if root is None:
        raise RlmiError(f"no body part has the start Content-ID {_shown(start)}")
    root_mime, _ = parse_media_type(root.content_type)
    if root_mime != RLMI_TYPE:
        raise RlmiError(f"the root body part is {root_mime}, not {RLMI_TYPE}")
    rlmi = parse_rlmi(root.body)
    states: dict[str, tuple[AgentState, str] | None] = {}
    problems: list[str] = []
    for resource in rlmi.resources:
        states[resource.uri] = _resource_state(resource, by_cid, problems)
    return ListNotification(rlmi.uri, rlmi.version, rlmi.full_state, states,
                            tuple(problems[:20]))


def _resource_state(resource: Resource, by_cid: dict[str, BodyPart],
                    problems: list[str]) -> tuple[AgentState, str] | None:
    """The state of one resource: its first active instance with a readable
    PIDF part; terminated instances (and nothing else) mean Logged Out."""
    terminated = False
    for instance in resource.instances:
        if instance.state == "terminated":
            terminated = True
            continue
        if instance.state != "active" or not instance.cid:
            continue
        part = by_cid.get(instance.cid)
        if part is None:
            problems.append(f"{resource.uri}: no body part {instance.cid}")
            continue
        try:
            part_mime, _ = parse_media_type(part.content_type)
            if part_mime != PIDF_TYPE:
                problems.append(f"{resource.uri}: {part_mime} instead of {PIDF_TYPE}")
                continue
            if not part.body.strip():
                return AgentState.LOGGED_OUT, ""
            return agent_state_from_pidf(parse_pidf(part.body))
        except RlmiError as exc:
            problems.append(f"{resource.uri}: {exc}")
    return (AgentState.LOGGED_OUT, "") if terminated else None


def _strip_angle(value: str) -> str:
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    if value.lower().startswith("cid:"):  # a cid: URL (RFC 2392) names the same part
        value = value[4:]
    return value


def _shown(text: str) -> str:
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)
    return repr(cleaned[:60] + ("..." if len(cleaned) > 60 else ""))
