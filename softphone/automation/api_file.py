"""The ``api.json`` file that tells local clients where and how to connect."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

API_FILE_NAME = "api.json"


def write_api_file(profile: Path, port: int, token: str, sip_uri: str) -> Path:
    """Write ``{"port", "token", "sip_uri", "pid"}`` atomically, readable by the user only."""
    profile.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = profile / API_FILE_NAME
    data = json.dumps({"port": port, "token": token, "sip_uri": sip_uri, "pid": os.getpid()})
    fd, tmp = tempfile.mkstemp(prefix=".api-", suffix=".json", dir=profile)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def remove_api_file(profile: Path) -> None:
    (profile / API_FILE_NAME).unlink(missing_ok=True)
