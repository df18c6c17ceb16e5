"""What an account is made of (``AccountSpec``) and how it stands
(``AccountInfo``): plain data shared by the engine, the API and the UI."""

from __future__ import annotations

from dataclasses import dataclass, field

from softphone.core.registration import RegistrationState


@dataclass(frozen=True)
class AccountSpec:
    """What is needed to register an account (the password stays in memory only).

    Attributes:
        uri: the address of record, e.g. ``sip:1001@pbx.example.com``.
        registrar: registrar URI; derived from ``uri``'s host when empty.
        username / password / realm: digest credentials.
        transport: ``udp``, ``tcp`` or ``tls``.
        proxy: optional outbound proxy URI.
        expires: registration lifetime asked for, in seconds.
        srtp: ``off``, ``optional`` or ``mandatory``.
        display_name: shown to the people called.
        publish: PUBLISH our presence (agent state) to the registrar's presence
            server instead of answering colleagues' SUBSCRIBEs ourselves.
    """

    uri: str
    registrar: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    realm: str = "*"
    transport: str = "udp"
    proxy: str = ""
    expires: int = 300
    srtp: str = "off"
    display_name: str = ""
    publish: bool = False


@dataclass(frozen=True)
class AccountInfo:
    """A snapshot of one account for the UI and the API.

    Attributes:
        account_id: our id (``acc-N``; the local account is ``local``).
        uri: address of record.
        state: a :class:`RegistrationState`.
        code / reason: the last REGISTER response.
        message: a sentence for the agent.
        retry_in: seconds until the next attempt after a failure, else None.
        is_local: the serverless account.
    """

    account_id: str
    uri: str
    state: RegistrationState
    code: int = 0
    reason: str = ""
    message: str = ""
    retry_in: float | None = None
    is_local: bool = False
    transport: str = "udp"

    def to_json(self) -> dict[str, object]:
        return {
            "account_id": self.account_id,
            "uri": self.uri,
            "state": self.state.value,
            "code": self.code,
            "reason": self.reason,
            "message": self.message,
            "retry_in": None if self.retry_in is None else round(self.retry_in, 1),
            "is_local": self.is_local,
            "transport": self.transport,
        }
