"""Subprocess for the transport-port tests: start one SipEngine, print its port.

Run as ``python port_child.py PORT FALLBACK`` (FALLBACK is 0 or 1). Prints one
JSON line, ``{"port": N}`` or ``{"error": "..."}`` for a StartupError, then
shuts the engine down. One process per engine: pjsua2 allows one endpoint.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    from PySide6.QtCore import QCoreApplication

    from softphone.core.errors import StartupError
    from softphone.sip.config import AudioConfig, EngineConfig
    from softphone.sip.engine import SipEngine

    app = QCoreApplication([])
    engine = SipEngine(EngineConfig(bind_address="127.0.0.1", sip_port=int(sys.argv[1]),
                                    port_fallback=sys.argv[2] == "1",
                                    audio=AudioConfig(use_soundcard=False)))
    try:
        engine.start()
    except StartupError as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        engine.shutdown()
        return 0
    print(json.dumps({"port": engine.endpoint.sip_port}), flush=True)
    engine.shutdown()
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
