"""Digest authentication of a resource-list subscription's SUBSCRIBEs.

:class:`DigestAnswers` keeps the challenges a server has sent and answers
them in every later SUBSCRIBE (counting ``nc`` per nonce), and decides what a
new challenge means: the first one, or a stale nonce, is answered; a
challenge to an answer of the very same request means the server refused
our credentials (:class:`CredentialsRefused`), which must not be retried
forever. Pure Python: :mod:`softphone.sip.rls` sends and receives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from softphone.core.errors import InvalidUriError
from softphone.core.sip_uri import parse_sip_uri
from softphone.sip.rls_message import Challenge, SipMessage, digest_authorization, parse_challenge

# At most this many SUBSCRIBEs answer one's challenges and 423s.
MAX_CHAIN = 4


class Credentials(Protocol):
    """Digest credentials (an ``AccountSpec`` or a ``ListAccount``)."""

    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def realm(self) -> str: ...


class CredentialsRefused(Exception):
    """A challenge cannot be answered, or our answer was refused (the message
    says which, with the status code)."""


@dataclass(frozen=True)
class Chain:
    """What a SUBSCRIBE and the ones answering its challenges (or its 423)
    have been through.

    Attributes:
        tries: SUBSCRIBEs sent after the first one.
        answered: authorization headers answered afresh (a challenge to those
            again means refused credentials).
        stale_retried: a stale nonce was answered already.
    """

    tries: int = 0
    answered: frozenset[str] = frozenset()
    stale_retried: bool = False

    def next(self) -> Chain:
        """The chain of one more SUBSCRIBE (a 423's answer)."""
        return replace(self, tries=self.tries + 1)


def digest_username(credentials: Credentials, aor: str) -> str:
    """The digest user name: the account's, else the user part of its AOR."""
    if credentials.username:
        return credentials.username
    try:
        return parse_sip_uri(aor).user or ""
    except InvalidUriError:
        return ""


class DigestAnswers:
    """The challenges of one subscription and our answers to them."""

    def __init__(self) -> None:
        self._challenges: dict[str, Challenge] = {}  # header -> the challenge it answers
        self._nonce_uses: dict[str, int] = {}  # nonce -> nc last sent with it

    def headers(self, request_uri: str, credentials: Credentials, aor: str
                ) -> list[tuple[str, str]]:
        """The authorization headers of a SUBSCRIBE to ``request_uri``: an
        answer to each challenge we have, with ``credentials`` (those of now)."""
        out = []
        for header_name, challenge in self._challenges.items():
            nc = self._nonce_uses[challenge.nonce] = self._nonce_uses.get(challenge.nonce, 0) + 1
            out.append((header_name, digest_authorization(
                challenge, method="SUBSCRIBE", uri=request_uri,
                username=digest_username(credentials, aor), password=credentials.password,
                nc=nc)))
        return out

    def take_challenge(self, msg: SipMessage, chain: Chain, credentials: Credentials) -> Chain:
        """Take the challenge of a 401/407 to a SUBSCRIBE that went through
        ``chain``; return the chain of the SUBSCRIBE answering it.

        Raises:
            CredentialsRefused: nothing to answer it with, or our answer to
                this very request was refused.
        """
        header = "WWW-Authenticate" if msg.status == 401 else "Proxy-Authenticate"
        answer = "Authorization" if msg.status == 401 else "Proxy-Authorization"
        challenges = [c for c in (parse_challenge(v) for v in msg.values(header))
                      if c is not None and c.supported]
        usable = [c for c in challenges
                  if credentials.realm in ("*", "") or c.realm == credentials.realm]
        if not usable or not credentials.password:
            raise CredentialsRefused(f"{msg.status} no credentials for the challenge")
        challenge = usable[0]
        if answer in chain.answered:
            # Our answer to a challenge of this very request was refused: a
            # stale nonce (RFC 7616 3.3) earns one more try, else the password
            # is wrong (credentials cached from an earlier request are answered
            # afresh once: a restarted server forgot its nonces).
            if not challenge.stale or chain.stale_retried:
                raise CredentialsRefused(f"{msg.status} the server refused our credentials")
            chain = replace(chain, stale_retried=True)
        if chain.tries >= MAX_CHAIN:
            raise CredentialsRefused(f"{msg.status} the server refused our credentials")
        self._challenges[answer] = challenge
        nonces = {c.nonce for c in self._challenges.values()}
        self._nonce_uses = {n: uses for n, uses in self._nonce_uses.items() if n in nonces}
        return replace(chain, tries=chain.tries + 1, answered=chain.answered | {answer})
