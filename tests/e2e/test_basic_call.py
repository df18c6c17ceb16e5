"""Two headless softphones as separate processes: calls with real audio."""

from __future__ import annotations

import pytest

from tests.conftest import InstanceFactory
from tests.e2e.conftest import TONE_A, TONE_B, api, connect, record, start_pair
from tests.helpers.tones import has_tone

pytestmark = pytest.mark.multiprocess


def test_call_audio_both_ways_hold_resume_dtmf_hangup(softphones: InstanceFactory,
                                                       tone_files):
    a, b = start_pair(softphones, tone_files)
    a_call, b_call = connect(a, b)

    levels = record([a, b], "connected")
    assert has_tone(levels["alice"], TONE_B), levels  # alice hears bob
    assert has_tone(levels["bob"], TONE_A), levels  # bob hears alice
    assert not has_tone(levels["alice"], TONE_A), levels  # no own echo
    assert not has_tone(levels["bob"], TONE_B), levels

    # Hold silences both directions.
    mark_b = api(b).mark()
    api(a).call("call.hold", call_id=a_call)
    api(a).wait_event("call.updated", lambda e: e["hold"] == "local")
    api(b).wait_event("call.updated", lambda e: e["hold"] == "remote", since=mark_b)
    levels = record([a, b], "held")
    for name in ("alice", "bob"):
        assert not has_tone(levels[name], TONE_A), (name, levels)
        assert not has_tone(levels[name], TONE_B), (name, levels)

    # Resume restores both directions.
    mark_a, mark_b = api(a).mark(), api(b).mark()
    api(a).call("call.resume", call_id=a_call)
    api(a).wait_event("call.updated", lambda e: e["hold"] == "none", since=mark_a)
    api(b).wait_event("call.updated", lambda e: e["hold"] == "none", since=mark_b)
    levels = record([a, b], "resumed")
    assert has_tone(levels["alice"], TONE_B), levels
    assert has_tone(levels["bob"], TONE_A), levels

    # DTMF arrives, in order.
    mark_b = api(b).mark()
    assert api(a).call("call.dtmf", call_id=a_call, digits="19*#") ["method"] == "rfc4733"
    digits = []
    for _ in range(4):
        ev = api(b).wait_event("call.dtmf", since=mark_b)
        mark_b = api(b).events.index(ev) + 1
        digits.append(ev["digit"])
    assert "".join(digits) == "19*#"

    # Hang up from the callee's side; both see disconnected.
    api(b).call("call.hangup", call_id=b_call)
    api(a).wait_call_state(a_call, "disconnected")
    api(b).wait_call_state(b_call, "disconnected")
    assert api(a).call("call.list")["calls"] == []
