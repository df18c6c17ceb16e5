"""Configuration problems that point at the file, line and key to fix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from softphone.core.errors import SoftphoneError


@dataclass(frozen=True)
class ConfigIssue:
    """One thing wrong in a configuration file.

    Attributes:
        file: the path or URL the text came from.
        line: 1-based line of the offending key, or None when unknown.
        key: the dotted key path, e.g. ``directory.agents[3].uri`` ("" for the whole file).
        message: what is wrong, in words an IT administrator can act on.
    """

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(SoftphoneError):
    """A configuration file could not be used.

    Attributes:
        issues: every problem found (at least one).
    """

    code = "invalid_config"

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class ConfigUnreadableError(SoftphoneError):
    """The file or URL could not be read at all (missing, permission, network)."""

    code = "config_unreadable"


def format_key(path: Sequence[str | int]) -> str:
    """Render a key path the way TOML users think of it: ``a.b[2].c``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
