"""Small real keyring backends for tests: one that refuses access, one with no backend."""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, NoKeyringError


class LockedKeyring(KeyringBackend):
    """A keyring whose user refused to unlock it."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the user dismissed the unlock prompt")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("the user dismissed the unlock prompt")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("the user dismissed the unlock prompt")


class MissingKeyring(KeyringBackend):
    """What a desktop without any keyring service looks like."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def get_password(self, service: str, username: str) -> str | None:
        raise NoKeyringError("no recommended backend was available")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise NoKeyringError("no recommended backend was available")

    def delete_password(self, service: str, username: str) -> None:
        raise NoKeyringError("no recommended backend was available")


class MemoryKeyring(KeyringBackend):
    """An OS-keyring stand-in held in memory (a secure backend as far as the app knows)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)
