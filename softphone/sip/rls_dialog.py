"""The state of one SUBSCRIBE dialog of the resource-list subscriber (RFC 3261
12, RFC 6665), pure: no sockets, no timers.

:class:`Dialog` holds the Call-ID, tags, CSeq numbers, remote target and
route set (parsed when they arrive: a bad value is refused with the message
that brought it, never met later in a timer), builds the dialog's SUBSCRIBEs
and the answers to its NOTIFYs, and tells a NOTIFY of this dialog from a
retransmission, an old one or another dialog's.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from softphone.sip.rls_message import NameAddr, SipMessage, new_tag, parse_name_addr

USER_AGENT = "softphone-rls/1"
ACCEPT = "application/pidf+xml, application/rlmi+xml, multipart/related"


@dataclass(frozen=True)
class LocalAddress:
    """Where we are, for Via and Contact.

    Attributes:
        transport: ``udp`` or ``tcp``.
        sent_by: ``host:port`` of our socket (an IPv6 host in brackets).
        contact_user: the user part of our Contact.
    """

    transport: str
    sent_by: str
    contact_user: str


class NotifyKind(Enum):
    """What a NOTIFY is to the dialog (:meth:`Dialog.classify_notify`)."""

    OTHER_DIALOG = "other"  # answer 481
    RETRANSMISSION = "retransmission"  # resend the cached answer
    OLD = "old"  # handled already: 200
    NEW = "new"


@dataclass
class Dialog:
    """One subscription dialog (a new one after each restart).

    Attributes:
        call_id / local_tag: ours, made at random.
        remote_tag: the notifier's (from the 2xx or a NOTIFY that overtook it).
        remote_target: the notifier's Contact URI ("" until known).
        route_set: parsed Record-Route values, in the order they are used.
        cseq: the CSeq of our last SUBSCRIBE; remote_cseq: of the last NOTIFY taken.
        established: a 2xx or a NOTIFY made the dialog (refreshes go inside it).
        last_answer: (CSeq, bytes, destination) of our answer to the last
            NOTIFY taken, resent for its retransmissions.
    """

    call_id: str = field(default_factory=lambda: secrets.token_hex(12))
    local_tag: str = field(default_factory=new_tag)
    remote_tag: str = ""
    remote_target: str = ""
    route_set: list[NameAddr] = field(default_factory=list)
    cseq: int = 0
    remote_cseq: int = -1
    established: bool = False
    last_answer: tuple[int, bytes, tuple[str, int]] | None = None

    @property
    def in_dialog(self) -> bool:
        """Whether a request now goes inside the dialog (with its tags and route set)."""
        return self.established and bool(self.remote_tag)

    # -- our SUBSCRIBEs ------------------------------------------------------------------

    def subscribe(self, *, list_uri: str, aor: str, proxy: str, local: LocalAddress,
                  expires: int, branch: str,
                  authorize: Callable[[str], list[tuple[str, str]]]) -> SipMessage:
        """The next SUBSCRIBE (the next CSeq): initial (through ``proxy``, a
        URI or "") or a refresh inside the dialog. ``authorize(request_uri)``
        gives its authorization headers."""
        self.cseq += 1
        in_dialog = self.in_dialog
        ruri = self.remote_target if in_dialog and self.remote_target else list_uri
        route_set = self.route_set if in_dialog else []
        routes = [r.text for r in route_set]
        if route_set and not is_loose(route_set[0].uri):
            # A strict router (RFC 3261 12.2.1.1): it becomes the Request-URI.
            routes = [*routes[1:], f"<{ruri}>"]
            ruri = route_set[0].uri
        if not in_dialog and proxy:
            routes = [f"<{proxy}>"] if is_loose(proxy) else []
        contact_params = "" if local.transport == "udp" else ";transport=tcp"
        headers = [
            ("Via", f"SIP/2.0/{local.transport.upper()} {local.sent_by};branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<{aor}>;tag={self.local_tag}"),
            ("To", f"<{list_uri}>" + (f";tag={self.remote_tag}" if in_dialog else "")),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq} SUBSCRIBE"),
            ("Contact", f"<sip:{local.contact_user}@{local.sent_by}{contact_params}>"),
        ]
        headers += [("Route", r) for r in routes]
        headers += [
            ("Event", "presence"),
            ("Supported", "eventlist"),
            ("Accept", ACCEPT),
            ("Expires", str(expires)),
            ("User-Agent", USER_AGENT),
        ]
        headers += authorize(ruri)
        return SipMessage(method="SUBSCRIBE", uri=ruri, headers=headers)

    def take_2xx(self, msg: SipMessage) -> None:
        """A 2xx to our SUBSCRIBE: the first makes the dialog (RFC 3261 12.1.2:
        the Record-Route reversed). Everything is read before anything
        changes: a bad To, Contact or Record-Route raises
        :class:`~softphone.sip.rls_message.SipParseError` and leaves the
        dialog as it was."""
        if self.established:
            return  # a refresh's: the route set is fixed
        contact = msg.get_all("Contact")
        remote_tag = parse_name_addr(msg.get("To")).tag
        remote_target = parse_name_addr(contact[0]).uri if contact else ""
        route_set = [parse_name_addr(v) for v in reversed(msg.get_all("Record-Route"))]
        self.remote_tag = remote_tag
        self.remote_target = remote_target or self.remote_target
        self.route_set = route_set
        self.established = bool(remote_tag)

    # -- NOTIFYs -------------------------------------------------------------------------

    def classify_notify(self, msg: SipMessage) -> NotifyKind:
        """Whether ``msg`` (a NOTIFY) is this dialog's, and new. A first NOTIFY
        that overtook the 2xx (RFC 6665 4.1.2.4) gives the remote tag. Raises
        :class:`~softphone.sip.rls_message.SipParseError` for bad headers."""
        number, _ = msg.cseq()
        from_tag = parse_name_addr(msg.get("From")).tag
        to_tag = parse_name_addr(msg.get("To")).tag
        if msg.get("Call-ID") != self.call_id or to_tag != self.local_tag or (
                self.remote_tag and from_tag != self.remote_tag):
            return NotifyKind.OTHER_DIALOG
        if not self.remote_tag:
            self.remote_tag = from_tag
        if self.last_answer is not None and number == self.last_answer[0]:
            return NotifyKind.RETRANSMISSION
        if number <= self.remote_cseq:
            return NotifyKind.OLD
        return NotifyKind.NEW

    def take_notify(self, msg: SipMessage) -> None:
        """A new NOTIFY of this dialog: its CSeq, Contact and (when it made the
        dialog) Record-Route, in order as received. Read before anything
        changes, like :meth:`take_2xx`."""
        number, _ = msg.cseq()
        contact = msg.get_all("Contact")
        remote_target = parse_name_addr(contact[0]).uri if contact else ""
        route_set = [parse_name_addr(v) for v in msg.get_all("Record-Route")]
        self.remote_cseq = number
        self.remote_target = remote_target or self.remote_target
        if not self.established and not self.route_set:
            self.route_set = route_set
        self.established = True

    def response(self, request: SipMessage, status: int, reason: str,
                 extra: list[tuple[str, str]] | None = None) -> SipMessage:
        """Our answer to ``request`` (our To tag added, but not to a 481: no dialog)."""
        headers = [("Via", v) for v in request.get_all("Via")]
        to = request.get("To")
        if status != 481 and "tag=" not in to:
            to += f";tag={self.local_tag}"
        headers += [("From", request.get("From")), ("To", to),
                    ("Call-ID", request.get("Call-ID")), ("CSeq", request.get("CSeq")),
                    ("User-Agent", USER_AGENT)]
        headers += extra or []
        return SipMessage(status=status, reason=reason, headers=headers)


def is_loose(uri: str) -> bool:
    """Whether a route's URI has the ``lr`` parameter (a loose router)."""
    params = uri.strip().strip("<>").partition("?")[0].split(";")[1:]
    return any(p.partition("=")[0].strip().lower() == "lr" for p in params)
