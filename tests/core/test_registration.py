from __future__ import annotations

from softphone.core.registration import Backoff, describe_failure


def test_backoff_grows_caps_and_resets():
    backoff = Backoff(initial=2, maximum=60, factor=2, jitter=0)
    delays = [backoff.next_delay() for _ in range(8)]
    assert delays[:5] == [2, 4, 8, 16, 32]
    assert max(delays) == 60
    backoff.reset()
    assert backoff.next_delay() == 2


def test_backoff_jitter_spreads_clients():
    delays = {round(Backoff(initial=10, jitter=0.2).next_delay(), 3) for _ in range(50)}
    assert len(delays) > 10
    assert all(8 <= d <= 12 for d in delays)


def test_failure_messages_name_the_cause():
    assert "password" in describe_failure(401, "Unauthorized")
    assert "no answer" in describe_failure(408, "Request Timeout")
    assert "unreachable" in describe_failure(503, "Service Unavailable")
