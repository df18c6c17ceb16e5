"""The user's own settings file (``settings.toml`` in the platformdirs config dir).

A bad settings file is never overwritten: the app starts on defaults and tells
the user, and the first save afterwards moves the bad file aside as
``settings.toml.bad-<YYYYmmdd-HHMMSS>`` before writing a new one, so a
hand-edited file with one typo is kept for the user to copy from.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import Field, ValidationError

from softphone.config.atomic import atomic_write_text
from softphone.config.errors import ConfigError, ConfigIssue, format_key
from softphone.config.provisioning import SECRET_KEYS, allowed_keys
from softphone.config.schema import Account, LockableSections
from softphone.config.toml_lines import key_lines, line_of, parse_toml
from softphone.config.valuetypes import Section


class AudioSettings(Section):
    """Sound devices, by name; "" = the system default."""

    microphone: str = Field(default="", max_length=256, description="Microphone device name.")
    speaker: str = Field(default="", max_length=256, description="Speaker or headset device name.")
    ringer: str = Field(default="", max_length=256, description="Device the ringtone plays on.")


class Settings(LockableSections):
    """Everything the user decides. Tables shared with provisioning are user defaults
    that IT can lock (see :data:`softphone.config.schema.LOCKABLE_SECTIONS`)."""

    schema_version: int = Field(default=1, description="Format version; always 1.")
    first_run_done: bool = Field(default=False, description="The first-run dialog was completed.")
    use_local_account: bool = Field(
        default=True,
            description="Keep the serverless local account (calls by SIP URI on the LAN).")
    accounts: list[Account] = Field(
        default_factory=list, description="SIP accounts the user added (passwords: keyring).")
    audio: AudioSettings = Field(default_factory=lambda: AudioSettings(),
        description="Audio devices.")
    ui: dict[str, Any] = Field(
        default_factory=dict,
        description="Window and panel state, opaque to this module: e.g. "
                    "`window_geometry` (base64 text) and `sections_expanded` "
                    "(`{my_groups = true, agent_groups = false, presets = true}`).")


def settings_path(config_dir: Path) -> Path:
    return config_dir / "settings.toml"


def parse_settings(text: str, source: str) -> Settings:
    """Validate settings TOML; :class:`ConfigError` names file, line and key."""
    data = parse_toml(text, source)
    lines = key_lines(text)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            if error["type"] == "extra_forbidden":
                if str(loc[-1]).lower() in SECRET_KEYS:
                    message = "passwords are kept in the system keyring, never in this file"
                else:
                    allowed = allowed_keys(loc[:-1], Settings)
                    message = "unknown key" + (f" (allowed: {', '.join(allowed)})"
                                               if allowed else "")
            else:
                message = str(error["msg"]).removeprefix("Value error, ")
            issues.append(ConfigIssue(source, line_of(lines, loc), format_key(loc), message))
        raise ConfigError(issues) from None


def render_settings(settings: Settings) -> str:
    """The TOML text of ``settings``, with a pointer to the key documentation."""
    doc = tomlkit.document()
    doc.add(tomlkit.comment("softphone user settings. Written by the app; edit while it is "
                            "closed. Keys: docs/provisioning.md"))
    doc.add(tomlkit.comment("Passwords are never stored here: they are in the system keyring."))
    data = settings.model_dump(mode="json")
    for key, value in data.items():
        if value == {} and key == "ui":
            continue
        doc[key] = value
    return tomlkit.dumps(doc)


class SettingsStore:
    """Loads and saves the settings file.

    Attributes:
        path: the settings file.
        settings: the settings in force (defaults when the file is bad).
        problem: a sentence for the user when the file could not be used.
        bad_file: True while the file on disk is invalid and not yet set aside.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.settings = Settings()
        self.problem: str | None = None
        self.bad_file = False

    @classmethod
    def load(cls, path: Path) -> SettingsStore:
        store = cls(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return store
        except (OSError, UnicodeDecodeError) as exc:
            store.bad_file = True
            store.problem = (f"Your settings file {path} cannot be read ({exc}); "
                             "defaults are in use.")
            return store
        try:
            store.settings = parse_settings(text, str(path))
        except ConfigError as exc:
            store.bad_file = True
            store.problem = (
                f"Your settings file has errors; defaults are in use:\n{exc}\n"
                f"It will be kept as {path.name}.bad-<date> when settings are next saved.")
        return store

    def save(self, settings: Settings) -> None:
        """Write ``settings`` atomically; a bad file on disk is first moved aside."""
        text = render_settings(settings)
        if self.bad_file and self.path.exists():
            stamp = time.strftime("%Y%m%d-%H%M%S")
            self.path.replace(self.path.with_name(f"{self.path.name}.bad-{stamp}"))
        self.bad_file = False
        atomic_write_text(self.path, text)
        self.settings = settings


__all__ = ["AudioSettings", "Settings", "SettingsStore", "parse_settings", "render_settings",
           "settings_path"]
