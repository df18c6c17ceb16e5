"""Fixtures for configuration tests: isolated system/user directories."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "resources" / "provisioning.example.toml"


@pytest.fixture
def system_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty system-wide config directory, and no SOFTPHONE_PROVISIONING."""
    path = tmp_path / "system"
    path.mkdir()
    monkeypatch.setenv("SOFTPHONE_SYSTEM_CONFIG_DIR", str(path))
    monkeypatch.delenv("SOFTPHONE_PROVISIONING", raising=False)
    return path


@pytest.fixture
def example_text() -> str:
    return EXAMPLE.read_text(encoding="utf-8")
