"""Fixtures for end-to-end tests: pairs of headless softphones with tones."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import InstanceFactory
from tests.helpers import tones
from tests.helpers.api_client import ApiClient
from tests.helpers.instance import HeadlessInstance

# Distinct, non-harmonic frequencies, all inside G.711's 300-3400 Hz band.
TONE_A, TONE_B, TONE_C = 600.0, 1000.0, 1450.0
ALL_TONES = [TONE_A, TONE_B, TONE_C]
RECORD_SECONDS = 1.2


@pytest.fixture(scope="session")
def tone_files(tmp_path_factory: pytest.TempPathFactory) -> dict[float, Path]:
    base = tmp_path_factory.mktemp("tones")
    return {f: tones.write_tone(base / f"tone{int(f)}.wav", f) for f in ALL_TONES}


def start_pair(softphones: InstanceFactory, tone_files: dict[float, Path]
               ) -> tuple[HeadlessInstance, HeadlessInstance]:
    a = softphones("alice", audio_in=tone_files[TONE_A], audio_out=softphones.base / "a.wav")
    b = softphones("bob", audio_in=tone_files[TONE_B], audio_out=softphones.base / "b.wav")
    return a, b


def api(inst: HeadlessInstance) -> ApiClient:
    assert inst.api is not None
    return inst.api


def connect(caller: HeadlessInstance, callee: HeadlessInstance) -> tuple[str, str]:
    """caller calls callee, callee answers; returns (caller call id, callee call id)."""
    mark = api(callee).mark()
    out = api(caller).call("call.make", uri=callee.sip_uri)["call_id"]
    incoming = api(callee).wait_call_state(None, "incoming", since=mark)
    api(callee).call("call.answer", call_id=incoming["call_id"])
    api(caller).wait_call_state(out, "confirmed")
    api(callee).wait_call_state(incoming["call_id"], "confirmed")
    return out, incoming["call_id"]


def record(insts: list[HeadlessInstance], tag: str, seconds: float = RECORD_SECONDS,
           freqs: list[float] | None = None) -> dict[str, dict[float, float]]:
    """Record what each instance hears for ``seconds``; return tone levels per instance."""
    paths = {}
    for inst in insts:
        paths[inst.name] = inst.base / f"{inst.name}-{tag}.wav"
        api(inst).call("recording.start", path=str(paths[inst.name]))
    # The recording length is the measurement itself, not a wait for an event.
    time.sleep(seconds)
    for inst in insts:
        assert api(inst).call("recording.stop")["stopped"] is True
    return {name: tones.analyse(path, freqs or ALL_TONES) for name, path in paths.items()}
