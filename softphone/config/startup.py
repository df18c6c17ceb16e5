"""What the app calls at start: the effective configuration and the problems to show."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from softphone.config.errors import ConfigError, ConfigUnreadableError
from softphone.config.loader import ProvisioningCache, ProvisioningLoad, load_provisioning
from softphone.config.merge import EffectiveConfig, merge, unlocked_update
from softphone.config.passwords import PasswordStore
from softphone.config.paths import (
    resolve_provisioning,
    user_cache_dir,
    user_config_dir,
    user_log_dir,
)
from softphone.config.settings import Settings, SettingsStore, settings_path


@dataclass
class LoadedConfig:
    """The configuration at start.

    Attributes:
        effective: settings with IT's locks applied, the provisioning and the directory.
        store: the user settings file (save through :meth:`save_settings`).
        provisioning: how provisioning was loaded, or None when there is none in force.
        provisioning_source: the path or URL used, or None.
        log_dir: where the log files go.
        problems: sentences to show the user (bad files, unreachable server...).
        passwords: the one password store of the process (keyring, or this
            session's memory): start-up, the dialogs and the CLI share it, so a
            password kept for this session only is seen by all of them.
    """

    effective: EffectiveConfig
    store: SettingsStore
    provisioning: ProvisioningLoad | None = None
    provisioning_source: str | None = None
    log_dir: Path = field(default_factory=user_log_dir)
    problems: list[str] = field(default_factory=list)
    passwords: PasswordStore = field(default_factory=PasswordStore)

    @property
    def first_run(self) -> bool:
        """Show the first-run dialog: never completed and IT provisioned no account."""
        return not self.store.settings.first_run_done and not self.effective.accounts

    def save_settings(self, edited: Settings) -> None:
        """Save the user's edit (locked keys keep the user's own value) and re-merge."""
        user = unlocked_update(self.store.settings, edited, self.effective.locked)
        self.store.save(user)
        provisioning = self.provisioning.provisioning if self.provisioning else None
        self.effective = merge(provisioning, user)


def load_configuration(profile_dir: Path | None = None, cli_provisioning: str | None = None, *,
                       ssl_context: ssl.SSLContext | None = None,
                       passwords: PasswordStore | None = None) -> LoadedConfig:
    """Load settings and provisioning; never raises for bad or missing files.

    ``profile_dir``: an isolated instance's directory (``--profile``): its
    settings, provisioning cache and logs live there. None = the platformdirs
    locations. ``cli_provisioning``: ``--provisioning PATH|URL``. ``passwords``:
    the password store to use (tests: a chosen backend); None = the system keyring.
    """
    config_dir = profile_dir or user_config_dir()
    cache_dir = (profile_dir / "cache") if profile_dir else user_cache_dir()
    log_dir = (profile_dir / "logs") if profile_dir else user_log_dir()
    problems: list[str] = []
    store = SettingsStore.load(settings_path(config_dir))
    if store.problem:
        problems.append(store.problem)
    source, pointer_problem = resolve_provisioning(cli_provisioning)
    if pointer_problem:
        problems.append(f"The provisioning pointer file is not usable: {pointer_problem}")
    loaded: ProvisioningLoad | None = None
    if source:
        try:
            loaded = load_provisioning(source, ProvisioningCache(cache_dir / "provisioning"),
                                       ssl_context=ssl_context)
        except ConfigError as exc:
            problems.append(f"The provisioning file has errors; defaults are in use:\n{exc}")
        except ConfigUnreadableError as exc:
            problems.append(f"Provisioning could not be loaded; defaults are in use: {exc}")
        else:
            if loaded.problem:
                problems.append(loaded.problem)
    effective = merge(loaded.provisioning if loaded else None, store.settings)
    return LoadedConfig(effective=effective, store=store, provisioning=loaded,
                        provisioning_source=source, log_dir=log_dir, problems=problems,
                        passwords=passwords or PasswordStore())


def codec_priorities(priority: list[str]) -> dict[str, int]:
    """Codec ids in preference order as PJSIP priorities (255 down); others get 0."""
    return {codec: max(1, 255 - i) for i, codec in enumerate(priority)}
