"""Without a sound device a headless instance runs on the null device and says
so exactly once in its log, however many calls it then makes or takes."""

from __future__ import annotations

import re

import pytest

from tests.conftest import InstanceFactory
from tests.e2e.conftest import api, connect
from tests.helpers.instance import HeadlessInstance

pytestmark = pytest.mark.multiprocess

NO_DEVICE = re.compile(r"no sound device \(.+\): running on the null audio device")
DISABLED = "sound devices disabled: running on the null audio device"
# PulseAudio unreachable: ALSA's pulse plugin (the default device on a desktop
# or the test lab) opens nothing, so only real sound cards could be found.
NO_PULSE = {"PULSE_SERVER": "unix:/nonexistent/pulse-socket"}


def file_logs(inst: HeadlessInstance) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted((inst.profile / "logs").glob("*"))
                   if p.is_file())


def call_twice(inst: HeadlessInstance, peer: HeadlessInstance) -> None:
    for caller, callee in ((inst, peer), (peer, inst)):
        out, _ = connect(caller, callee)
        api(caller).call("call.hangup", call_id=out)
        api(caller).wait_call_state(out, "disconnected")


def test_no_sound_device_is_said_once(softphones: InstanceFactory):
    alice = softphones("alice", null_audio=False, env=NO_PULSE)
    if api(alice).call("status")["audio_mode"] != "null":
        pytest.skip("this machine has a sound device")
    call_twice(alice, softphones("bob"))
    assert alice.stop() == 0
    stdout_lines = [line for line in alice.log_text().splitlines() if NO_DEVICE.search(line)]
    assert len(stdout_lines) == 1, alice.log_text()[-3000:]
    assert len(NO_DEVICE.findall(file_logs(alice))) == 1
    assert DISABLED not in alice.log_text()


def test_null_audio_option_is_said_once(softphones: InstanceFactory):
    alice = softphones("alice", null_audio=True)
    assert api(alice).call("status")["audio_mode"] == "null"
    call_twice(alice, softphones("bob"))
    assert alice.stop() == 0
    assert alice.log_text().count(DISABLED) == 1, alice.log_text()[-3000:]
    assert file_logs(alice).count(DISABLED) == 1
    assert not NO_DEVICE.search(alice.log_text())
