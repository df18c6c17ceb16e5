"""Subprocess for the ringer test: rings on the default PortAudio device.

Prints ``playing`` once the stream runs (or ``failed: reason``), waits for a
line on stdin, stops the ringer and prints ``idle`` when its stream is closed.
"""

from __future__ import annotations

import sys
import time

from softphone.sip.audio.ringer import Ringer


def main() -> int:
    ringer = Ringer(sys.argv[1] if len(sys.argv) > 1 else None, volume=0.5, on_s=0.5,
                    off_s=0.5)
    started = time.monotonic()
    ringer.start()
    returned_after = time.monotonic() - started
    deadline = time.monotonic() + 10
    while not ringer.playing and ringer.ringing and time.monotonic() < deadline:
        time.sleep(0.01)
    if not ringer.playing:
        print(f"failed: {ringer.last_error}", flush=True)
        return 1
    print(f"playing start() returned in {returned_after * 1000:.1f} ms", flush=True)
    sys.stdin.readline()
    ringer.stop()
    print("idle" if ringer.wait_idle(5) else "stuck", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
