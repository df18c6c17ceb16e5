"""GUI entry point (placeholder until the main window lands)."""

from __future__ import annotations

from softphone.runtime import RuntimeOptions


def run_gui(options: RuntimeOptions) -> int:
    raise SystemExit("the GUI is not built yet; use --headless")
