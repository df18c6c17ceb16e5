"""Combining IT's provisioning with the user's settings.

Precedence, highest first: a key IT wrote in the provisioning file (locked:
the user cannot change it), the user's settings, the schema default. Only the
tables in :data:`LOCKABLE_SECTIONS` exist on both sides; the rest of the
provisioning (accounts, security, directory, dial plan, CRM) is IT's alone,
except that users may add accounts unless ``security.allow_user_accounts`` is false.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from softphone.config.provisioning import build_directory, provisioned_keys
from softphone.config.schema import Account, Provisioning
from softphone.config.settings import Settings
from softphone.core.directory import Directory

LOCKED_TOOLTIP = "Set by your IT department"


@dataclass(frozen=True)
class EffectiveConfig:
    """The configuration the app runs with.

    Attributes:
        settings: the user's settings with IT's locked values applied.
        provisioning: IT's provisioning (schema defaults when there is none).
        directory: the agent directory built from it.
        locked: dotted keys IT set (e.g. ``features.session_transfer``); the
            UI shows them read-only. ``accounts`` is in it when IT provisioned accounts.
        provisioned_account_ids: ids of IT's accounts (read-only in the UI).
    """

    settings: Settings = field(default_factory=lambda: Settings())
    provisioning: Provisioning = field(default_factory=lambda: Provisioning())
    directory: Directory = field(default_factory=Directory)
    locked: frozenset[str] = frozenset()
    provisioned_account_ids: frozenset[str] = frozenset()

    def is_locked(self, key: str) -> bool:
        """True for a locked key, or a table all of whose keys IT set."""
        return key in self.locked

    @property
    def accounts(self) -> list[Account]:
        """IT's accounts, then the user's own (when allowed and not clashing by id)."""
        accounts = list(self.provisioning.accounts)
        if self.provisioning.security.allow_user_accounts:
            accounts += [a for a in self.settings.accounts
                         if a.id not in self.provisioned_account_ids]
        return accounts

    @property
    def user_accounts_allowed(self) -> bool:
        return self.provisioning.security.allow_user_accounts


def merge(provisioning: Provisioning | None, user: Settings) -> EffectiveConfig:
    """Apply IT's locked keys over the user's settings."""
    if provisioning is None:
        return EffectiveConfig(settings=user)
    locked = set(provisioned_keys(provisioning))
    data = user.model_dump()
    for key in locked:
        section, name = key.split(".", 1)
        data[section][name] = getattr(getattr(provisioning, section), name)
    if provisioning.accounts:
        locked.add("accounts")
    if not provisioning.security.allow_user_accounts:
        locked.add("user_accounts")
    return EffectiveConfig(
        settings=Settings.model_validate(data, strict=False),
        provisioning=provisioning,
        directory=build_directory(provisioning),
        locked=frozenset(locked),
        provisioned_account_ids=frozenset(a.id for a in provisioning.accounts),
    )


def unlocked_update(user: Settings, edited: Settings, locked: frozenset[str]) -> Settings:
    """The user's settings after an edit, keeping the user's own value for locked keys.

    The settings dialog edits the effective settings; writing a locked value
    back would turn IT's value into a user default that outlives the lock.
    """
    data = edited.model_dump()
    original = user.model_dump()
    for key in locked:
        section, _, name = key.partition(".")
        if name and section in data:
            data[section][name] = original[section][name]
    return Settings.model_validate(data, strict=False)
