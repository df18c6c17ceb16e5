from __future__ import annotations

from softphone.core.ids import IdFactory


def test_ids_are_never_reused():
    ids = IdFactory()
    seen = [ids.new("call") for _ in range(1000)]
    assert len(set(seen)) == 1000
    assert ids.new("acc") == "acc-1"
