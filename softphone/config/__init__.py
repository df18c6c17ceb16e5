"""Settings, IT provisioning, passwords and log files (no widgets, no SIP stack).

Start-up goes through :func:`load_configuration`; the pieces are importable
on their own for the CLI (``softphone provisioning check``) and the dialogs.
"""

from __future__ import annotations

from softphone.config.dialplan import NumberCheck, check_number, fill_crm_url
from softphone.config.errors import ConfigError, ConfigIssue, ConfigUnreadableError
from softphone.config.logsetup import LogSetup, setup_file_logging
from softphone.config.merge import LOCKED_TOOLTIP, EffectiveConfig, merge
from softphone.config.passwords import PasswordStore
from softphone.config.paths import resolve_provisioning_source
from softphone.config.schema import Provisioning
from softphone.config.settings import Settings, SettingsStore
from softphone.config.startup import LoadedConfig, codec_priorities, load_configuration
from softphone.core.redact import redact

__all__ = [
    "LOCKED_TOOLTIP",
    "ConfigError",
    "ConfigIssue",
    "ConfigUnreadableError",
    "EffectiveConfig",
    "LoadedConfig",
    "LogSetup",
    "NumberCheck",
    "PasswordStore",
    "Provisioning",
    "Settings",
    "SettingsStore",
    "check_number",
    "codec_priorities",
    "fill_crm_url",
    "load_configuration",
    "merge",
    "redact",
    "resolve_provisioning_source",
    "setup_file_logging",
]
