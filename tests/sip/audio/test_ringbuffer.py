"""RingBuffer: the only state shared between PJSIP's clock and the sound card's."""

from __future__ import annotations

import threading

import pytest

from softphone.sip.audio.ringbuffer import RingBuffer, peak_level


def frame(value: int, size: int = 8) -> bytes:
    return bytes([value]) * size


def test_underrun_gives_silence_and_waits_for_the_prefill() -> None:
    ring = RingBuffer(capacity=64, target=16, high_water=48)
    assert ring.read(8) == bytes(8)  # nothing buffered yet
    ring.write(frame(1))
    assert ring.read(8) == bytes(8)  # below target: still priming
    ring.write(frame(2))
    assert ring.read(8) == frame(1)
    assert ring.read(8) == frame(2)
    assert ring.underruns == 0
    ring.write(frame(3, 4))
    assert ring.read(8) == frame(3, 4) + bytes(4)  # partial data padded with silence
    assert ring.underruns == 1
    ring.write(frame(4))
    assert ring.read(8) == bytes(8)  # re-priming after the underrun


def test_overrun_drops_the_oldest() -> None:
    ring = RingBuffer(capacity=32, target=8, high_water=32)
    for value in range(1, 6):  # 40 bytes into 32
        ring.write(frame(value))
    assert ring.overruns == 1
    assert ring.level == 32
    assert [ring.read(8) for _ in range(4)] == [frame(2), frame(3), frame(4), frame(5)]


def test_a_write_larger_than_the_buffer_keeps_its_newest_part() -> None:
    ring = RingBuffer(capacity=16, target=8, high_water=16)
    ring.write(bytes(range(40)))
    assert ring.read(16) == bytes(range(24, 40))


def test_latency_stays_bounded_when_the_writer_is_faster() -> None:
    # Writer clock slightly faster than the reader: the level must not creep up
    # to the hard cap; it is cut back to the target above the high-water mark.
    ring = RingBuffer(capacity=6400, target=1280, high_water=3840)
    levels = []
    for tick in range(2000):
        ring.write(frame(tick % 250 + 1, 642))
        ring.read(640)
        levels.append(ring.level)
    assert max(levels) <= 3840
    assert ring.trims >= 1
    assert ring.overruns == 0


def test_a_standing_surplus_is_dropped_once_per_window() -> None:
    # Equal clocks after a late start: 100 bytes stand above the target for good.
    ring = RingBuffer(capacity=400, target=40, high_water=300, settle_window=200,
                      settle_slack=20)
    ring.write(frame(1, 140))
    troughs = []
    for _ in range(20):  # 20 reads of 20 bytes: two windows
        ring.write(frame(2, 20))
        ring.read(20)
        troughs.append(ring.level)
    assert troughs[0] == 140
    assert ring.settles == 1
    assert troughs[-1] == 40  # back to the cushion, and it stays there
    assert ring.underruns == 0 and ring.trims == 0


def test_a_cushion_that_dips_to_the_target_is_left_alone() -> None:
    # A bursty writer: the level swings from 80 down to the target and back.
    ring = RingBuffer(capacity=400, target=40, high_water=300, settle_window=200,
                      settle_slack=20)
    ring.write(frame(1, 40))
    for tick in range(40):
        if tick % 2 == 0:
            ring.write(frame(2, 40))
        ring.read(20)
    assert ring.settles == 0
    assert ring.underruns == 0


def test_settling_is_off_by_default() -> None:
    ring = RingBuffer(capacity=400, target=40, high_water=300)
    ring.write(frame(1, 200))
    for _ in range(100):
        ring.write(frame(2, 20))
        ring.read(20)
    assert ring.settles == 0
    assert ring.level == 200


def test_wraparound_keeps_byte_order() -> None:
    ring = RingBuffer(capacity=10, target=2, high_water=10)
    out = b""
    data = bytes(range(100))
    for i in range(0, 100, 4):
        ring.write(data[i:i + 4])
        out += ring.read(4)
    assert out == data


def test_alignment_never_splits_a_sample() -> None:
    ring = RingBuffer(capacity=15, target=3, high_water=11)
    assert (ring.capacity, ring.target, ring.high_water) == (14, 2, 10)
    ring.write(b"\x01\x02" * 6)  # 12 > high water: trimmed back to the target
    assert ring.level % 2 == 0
    assert ring.read(2) == b"\x01\x02"


def test_concurrent_writer_and_reader_do_not_corrupt_samples() -> None:
    ring = RingBuffer(capacity=6400, target=640, high_water=4800)
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            ring.write(b"\x34\x12" * 160)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(2000):
            chunk = ring.read(320)
            assert chunk.replace(b"\x34\x12", b"").replace(b"\x00\x00", b"") == b""
    finally:
        stop.set()
        thread.join()


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        RingBuffer(capacity=10, target=20, high_water=15)


def test_peak_level() -> None:
    assert peak_level(b"") == 0.0
    assert peak_level(bytes(640)) == 0.0
    assert peak_level((16384).to_bytes(2, "little", signed=True) * 4) == 0.5
    assert peak_level((-32768).to_bytes(2, "little", signed=True)) == 1.0
