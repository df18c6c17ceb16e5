"""Account passwords in the operating system's keyring, never in a file.

When no keyring backend works (none installed, locked, access refused) the
password is kept in memory for this session only and asked again next start;
there is deliberately no file fallback. Backends that store plaintext files
(``keyrings.alt``'s PlaintextKeyring, the null and fail backends) are refused
when picked automatically.
"""

from __future__ import annotations

import logging
from typing import Any

import keyring
import keyring.errors

from softphone import APP_NAME

log = logging.getLogger("softphone.config")

SERVICE = f"{APP_NAME}:sip"
_INSECURE_BACKENDS = (
    "keyrings.alt.file.PlaintextKeyring",
    "keyring.backends.null.Keyring",
    "keyring.backends.fail.Keyring",
)


class KeyringUnavailable(Exception):
    """The keyring cannot be used; the message says why, for the user."""


class PasswordStore:
    """Per-account passwords: the keyring, or this session's memory.

    Attributes:
        service: the keyring service name entries are stored under.
        problem: a sentence for the user about the last keyring failure, or None.
    """

    def __init__(self, backend: Any | None = None, *, service: str = SERVICE) -> None:
        """``backend``: a keyring backend to use as given (tests, or an explicit
        choice); None = the keyring library's choice, refused if it is insecure."""
        self.service = service
        self.problem: str | None = None
        self._explicit = backend
        self._session: dict[str, str] = {}
        self._refused = False

    def _backend(self) -> Any:
        if self._explicit is not None:
            return self._explicit
        backend = keyring.get_keyring()
        name = f"{type(backend).__module__}.{type(backend).__qualname__}"
        try:
            priority = float(getattr(backend, "priority", 1))
        except Exception:
            priority = 0.0
        if name in _INSECURE_BACKENDS or priority <= 0:
            raise KeyringUnavailable(
                "no secure system keyring is available (found only "
                f"{type(backend).__qualname__})")
        return backend

    @property
    def keyring_usable(self) -> bool:
        """A secure keyring is there and has not refused access this session
        (the password dialogs offer "Remember" only then)."""
        if self._refused:
            return False
        try:
            self._backend()
        except Exception:  # KeyringUnavailable, or a backend that fails to load
            return False
        return True

    def keep_for_session(self, account_id: str, password: str) -> None:
        """Keep a password in memory until the app exits; it is never written anywhere."""
        self._session[account_id] = password

    def is_session_only(self, account_id: str) -> bool:
        """True when this account's password lives only in memory until exit."""
        return account_id in self._session

    def get(self, account_id: str) -> str | None:
        """The stored password, or None (then ask the user, and :meth:`set` it)."""
        if account_id in self._session:
            return self._session[account_id]
        try:
            value = self._backend().get_password(self.service, account_id)
        except Exception as exc:  # any backend failure, e.g. D-Bus: fall back, never crash
            self._failed("read", account_id, exc)
            return None
        return value if isinstance(value, str) else None

    def set(self, account_id: str, password: str) -> bool:
        """Store a password; False when it is kept for this session only (see :attr:`problem`)."""
        try:
            self._backend().set_password(self.service, account_id, password)
        except Exception as exc:  # any backend failure, e.g. D-Bus: fall back, never crash
            self._failed("store", account_id, exc)
            self._session[account_id] = password
            return False
        self._session.pop(account_id, None)
        self.problem = None
        self._refused = False
        return True

    def delete(self, account_id: str) -> None:
        """Forget an account's password everywhere; a missing entry is fine."""
        self._session.pop(account_id, None)
        try:
            self._backend().delete_password(self.service, account_id)
        except keyring.errors.PasswordDeleteError:
            pass
        except Exception as exc:  # any backend failure, e.g. D-Bus: fall back, never crash
            self._failed("delete", account_id, exc)

    def _failed(self, action: str, account_id: str, exc: Exception) -> None:
        self._refused = True
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, keyring.errors.KeyringLocked):
            reason = f"the keyring is locked or access was refused ({reason})"
        elif isinstance(exc, keyring.errors.NoKeyringError):
            reason = f"no system keyring is available ({reason})"
        self.problem = (
            f"Cannot {action} the password of account {account_id!r} in the system keyring: "
            f"{reason}. The password is kept for this session only and will be asked "
            "again next time; it is never written to a file.")
        log.warning("%s", self.problem)
