"""docs/provisioning.md documents every schema key, and its table is current."""

from __future__ import annotations

from pathlib import Path

from softphone.config.reference import reference_markdown, schema_keys

DOC = Path(__file__).resolve().parents[2] / "docs" / "provisioning.md"


def test_every_schema_key_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = [path for path, _ in schema_keys() if f"`{path}`" not in text]
    assert missing == []


def test_generated_reference_is_up_to_date():
    # Regenerate with: softphone provisioning reference (the table at the end of the doc).
    assert DOC.read_text(encoding="utf-8").endswith(reference_markdown())


def test_settings_only_keys_are_documented():
    text = DOC.read_text(encoding="utf-8")
    for key in ("first_run_done", "use_local_account", "audio.microphone", "ui.window_geometry",
                "ui.sections_expanded", "settings.toml.bad-"):
        assert key in text
