"""Registration states and the retry policy after a failed REGISTER."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass


class RegistrationState(enum.StrEnum):
    NONE = "none"  # local account: nothing to register
    REGISTERING = "registering"
    REGISTERED = "registered"
    UNREGISTERED = "unregistered"
    FAILED = "failed"


def describe_failure(code: int, reason: str, *, password_missing: bool = False) -> str:
    """A sentence for the agent about why REGISTER failed (``password_missing``:
    the account has no password at all, so "wrong password" would mislead)."""
    lowered = reason.lower()
    if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
        return f"the registrar's TLS certificate could not be verified ({code} {reason})"
    if code in (401, 407) and password_missing:
        return (f"the registrar asks for a password and none is stored for this account "
                f"({code} {reason})")
    if code in (401, 407):
        return f"authentication failed: wrong user name or password ({code} {reason})"
    if code == 403:
        return f"the registrar refused this account ({code} {reason})"
    if code == 404:
        return f"the registrar does not know this user ({code} {reason})"
    if code == 408:
        return f"no answer from the registrar ({code} {reason})"
    if code in (502, 503):
        return f"the registrar is unreachable or refused the connection ({code} {reason})"
    return f"registration failed ({code} {reason})"


@dataclass
class Backoff:
    """Exponential backoff with jitter, reset by a success.

    Attributes:
        initial: first delay in seconds.
        maximum: the delay never grows past this.
        factor: growth per consecutive failure.
        jitter: fraction of random spread so that hundreds of desktops that lost
            the same registrar do not come back in lockstep.
    """

    initial: float = 2.0
    maximum: float = 300.0
    factor: float = 2.0
    jitter: float = 0.2
    failures: int = 0

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * self.factor**self.failures)
        self.failures += 1
        spread = base * self.jitter
        return max(0.5, base + random.uniform(-spread, spread))

    def reset(self) -> None:
        self.failures = 0


# A wrong password retried every few seconds trips a PBX's intrusion
# protection (fail2ban) and can lock the account: retry those slowly.
AUTH_FAILURE_RETRY_S = 300.0


def is_auth_failure(code: int) -> bool:
    return code in (401, 403, 407)
