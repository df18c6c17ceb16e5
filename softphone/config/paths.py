"""Where configuration, cache and log files live, per user and system-wide.

System-wide files are IT's: installers put ``provisioning.toml`` (or a
``provisioning-source.toml`` pointer naming a URL) in :func:`system_config_dir`.
Per-user files come from platformdirs.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

import platformdirs

from softphone import APP_NAME

#: Overrides :func:`system_config_dir` (tests, or a non-standard deployment).
SYSTEM_DIR_ENV = "SOFTPHONE_SYSTEM_CONFIG_DIR"
#: A provisioning path or URL; beats the system-wide files, loses to ``--provisioning``.
PROVISIONING_ENV = "SOFTPHONE_PROVISIONING"

PROVISIONING_FILE = "provisioning.toml"
PROVISIONING_POINTER_FILE = "provisioning-source.toml"
SETTINGS_FILE = "settings.toml"
LOG_FILE = "softphone.log"


def system_config_dir() -> Path:
    """The machine-wide directory IT installers write to."""
    override = os.environ.get(SYSTEM_DIR_ENV)
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = os.environ.get("PROGRAMDATA") or r"C:\ProgramData"
        return Path(base) / APP_NAME
    if sys.platform == "darwin":
        return Path("/Library/Application Support") / APP_NAME
    return Path("/etc") / APP_NAME


def user_config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def user_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def user_log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def is_url(source: str) -> bool:
    return source.lower().startswith(("https://", "http://"))


def resolve_provisioning_source(cli_value: str | None) -> str | None:
    """The provisioning path or URL to use, or None when there is none.

    Precedence: ``--provisioning`` on the command line, then the
    ``SOFTPHONE_PROVISIONING`` environment variable, then
    ``provisioning.toml`` in the system directory, then the ``url`` of the
    system directory's ``provisioning-source.toml``. A file beats a pointer
    so that an installer dropping a file never has to remove a pointer first.
    """
    return resolve_provisioning(cli_value)[0]


def resolve_provisioning(cli_value: str | None) -> tuple[str | None, str | None]:
    """:func:`resolve_provisioning_source` plus a problem message for an unusable pointer."""
    if cli_value:
        return cli_value, None
    env = os.environ.get(PROVISIONING_ENV, "").strip()
    if env:
        return env, None
    system = system_config_dir()
    if (system / PROVISIONING_FILE).is_file():
        return str(system / PROVISIONING_FILE), None
    try:
        return read_pointer_file(system / PROVISIONING_POINTER_FILE), None
    except (OSError, ValueError) as exc:
        return None, str(exc)


def read_pointer_file(path: Path) -> str | None:
    """The ``url`` (or ``path``) in a ``provisioning-source.toml``, None when absent.

    Raises ValueError naming the file when it exists but is not usable.
    """
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    value = data.get("url") or data.get("path")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{path}: expected url = \"https://...\" or path = \"...\"")
    return value.strip()
