"""docs/automation.md is the API's contract: every method the running app
serves, and every event type it sends, is documented there."""

from __future__ import annotations

import re
from pathlib import Path

from softphone.runtime import Runtime

DOC = Path(__file__).resolve().parents[2] / "docs" / "automation.md"
SOURCES = Path(__file__).resolve().parents[2] / "softphone" / "automation"


def documented_names() -> set[str]:
    return set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)+|[a-z_]+)`", DOC.read_text()))


def test_every_served_method_is_documented(runtime: Runtime) -> None:
    port = runtime.start_api(0)
    assert port > 0 and runtime.api is not None
    methods = runtime.api.methods()
    assert {"status", "call.make", "transfer.unsupervised", "conference.add_party",
            "account.set_password"} <= set(methods)
    missing = sorted(set(methods) - documented_names() - {"auth"})
    assert missing == [], f"methods served but not in docs/automation.md: {missing}"


def test_every_event_type_sent_is_documented() -> None:
    sent: set[str] = set()
    for source in SOURCES.glob("*.py"):
        sent |= set(re.findall(r'"type":\s*"([a-z_.]+)"', source.read_text()))
        sent |= set(re.findall(r'emit_event\(\s*"([a-z_.]+)"', source.read_text()))
    assert {"registration", "call.state"} <= sent, sent
    missing = sorted(sent - documented_names())
    assert missing == [], f"events sent but not in docs/automation.md: {missing}"
