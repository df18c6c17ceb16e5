"""Precedence: IT's keys lock, the user's settings come next, then defaults."""

from __future__ import annotations

from softphone.config.merge import merge, unlocked_update
from softphone.config.provisioning import validate_provisioning_text
from softphone.config.settings import Settings

PROVISIONED = """\
[features]
session_transfer = false

[agent]
wrap_up_seconds = 20

[[accounts]]
id = "it"
aor = "sip:1001@pbx.example.com"
"""


def user_settings() -> Settings:
    return Settings.model_validate({
        "features": {"session_transfer": True, "four_way_conference": True},
        "agent": {"wrap_up_seconds": 99, "wrap_up_returns_to": "previous"},
        "logging": {"sip_trace": True},
        "accounts": [{"id": "mine", "aor": "sip:me@home.example.org"},
                     {"id": "it", "aor": "sip:spoof@evil.example.org"}],
    })


def test_provisioned_keys_win_and_are_locked():
    effective = merge(validate_provisioning_text(PROVISIONED, "p"), user_settings())
    assert effective.settings.features.session_transfer is False
    assert effective.settings.agent.wrap_up_seconds == 20
    assert effective.is_locked("features.session_transfer")
    assert effective.is_locked("agent.wrap_up_seconds")


def test_unprovisioned_keys_are_user_defaults():
    effective = merge(validate_provisioning_text(PROVISIONED, "p"), user_settings())
    # IT wrote features.session_transfer only: the other switches stay the user's.
    assert effective.settings.features.four_way_conference is True
    assert not effective.is_locked("features.four_way_conference")
    assert effective.settings.agent.wrap_up_returns_to == "previous"
    assert effective.settings.logging.sip_trace is True
    # Neither side set it: the schema default.
    assert effective.settings.features.manual_external_transfer is False


def test_without_provisioning_everything_is_the_users():
    effective = merge(None, user_settings())
    assert effective.settings.features.session_transfer is True
    assert effective.locked == frozenset()
    assert [a.id for a in effective.accounts] == ["mine", "it"]


def test_provisioned_accounts_come_first_and_cannot_be_shadowed():
    effective = merge(validate_provisioning_text(PROVISIONED, "p"), user_settings())
    assert [(a.id, a.aor) for a in effective.accounts] == [
        ("it", "sip:1001@pbx.example.com"), ("mine", "sip:me@home.example.org")]
    assert effective.is_locked("accounts")


def test_user_accounts_can_be_forbidden():
    text = PROVISIONED + "\n[security]\nallow_user_accounts = false\n"
    effective = merge(validate_provisioning_text(text, "p"), user_settings())
    assert [a.id for a in effective.accounts] == ["it"]
    assert not effective.user_accounts_allowed


def test_saving_an_edit_never_stores_a_locked_value():
    user = user_settings()
    effective = merge(validate_provisioning_text(PROVISIONED, "p"), user)
    edited = effective.settings.model_copy(deep=True)
    edited.features.four_way_conference = False  # unlocked: the edit is kept
    edited.features.session_transfer = False       # locked: IT's value, not the user's
    saved = unlocked_update(user, edited, effective.locked)
    assert saved.features.four_way_conference is False
    assert saved.features.session_transfer is True
    assert saved.agent.wrap_up_seconds == 99
