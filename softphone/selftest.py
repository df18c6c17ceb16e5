"""``softphone --self-test``: check that an installation works, without a sound card or a display.

Every installer test runs this from the installed location, so each check
exercises something a broken bundle would lose: the Qt platform plugins, the
data files, PJSIP's native library and a real SIP transport, the keyring
backends and PortAudio. One line per check (OK, WARN or FAIL); the exit status
is non-zero when any check FAILs. WARN is for what a working install may lack
on a particular machine (no keyring daemon, no PortAudio, no provisioning).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from softphone import APP_NAME, __version__

if TYPE_CHECKING:
    from PySide6.QtCore import QCoreApplication

Status = Literal["OK", "WARN", "FAIL"]


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.name:<12}  {self.detail}"


class SelfTest:
    """Runs the checks in order; later checks may use what earlier ones set up (the Qt app)."""

    def __init__(self) -> None:
        self.app: QCoreApplication | None = None
        self.results: list[CheckResult] = []

    def run(self, out: TextIO) -> int:
        checks: list[tuple[str, Callable[[], tuple[Status, str]]]] = [
            ("qt", self.check_qt),
            ("resources", self.check_resources),
            ("sip", self.check_sip),
            ("keyring", self.check_keyring),
            ("audio", self.check_audio),
            ("provisioning", self.check_provisioning),
        ]
        where = f"bundle {_bundle_dir()}" if _frozen() else f"python {sys.executable}"
        print(f"{APP_NAME} {__version__} self-test ({sys.platform}, {where})", file=out)
        for name, check in checks:
            try:
                status, detail = check()
            except Exception as exc:  # a check must never take the report down with it
                status, detail = "FAIL", f"{type(exc).__name__}: {exc}"
            result = CheckResult(name, status, detail)
            self.results.append(result)
            print(result.line(), file=out, flush=True)
        failed = sum(r.status == "FAIL" for r in self.results)
        warned = sum(r.status == "WARN" for r in self.results)
        verdict = "FAILED" if failed else "passed"
        print(f"self-test {verdict}: {len(self.results) - failed - warned} OK, "
              f"{warned} WARN, {failed} FAIL", file=out)
        return 1 if failed else 0

    # -- checks -------------------------------------------------------------------

    def check_qt(self) -> tuple[Status, str]:
        # The offscreen platform needs no display, so the check runs on servers
        # and CI; it still loads the platform-plugin machinery from the bundle.
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        import PySide6
        from PySide6.QtCore import qVersion
        from PySide6.QtWidgets import QApplication

        existing = QApplication.instance()
        if existing is None:
            # Qt aborts the whole process on a missing platform plugin; look first
            # so that a bundle without its plugins gets a FAIL line, not a crash.
            platform = os.environ["QT_QPA_PLATFORM"].split(":", 1)[0]
            if not _platform_plugin_found(platform):
                return "FAIL", f"Qt platform plugin '{platform}' not found"
        app = existing if existing is not None else QApplication([APP_NAME])
        self.app = app
        platform = app.platformName() if isinstance(app, QApplication) else "none"
        return "OK", f"PySide6 {PySide6.__version__}, Qt {qVersion()}, platform {platform}"

    def check_resources(self) -> tuple[Status, str]:
        from softphone.resources_path import icon_path, is_frozen, resources_dir

        base = resources_dir()
        if base is None:
            # A wheel carries no data files; a bundle must.
            status: Status = "FAIL" if is_frozen() else "WARN"
            return status, "resources directory not found (icons missing)"
        icon = icon_path(256)
        if icon is None:
            return "FAIL", f"{base}: icons/softphone-256.png missing"
        if self.app is not None:
            from PySide6.QtGui import QImage

            if QImage(str(icon)).isNull():
                return "FAIL", f"{icon}: Qt cannot decode the icon"
        return "OK", f"icon {icon}"

    def check_sip(self) -> tuple[Status, str]:
        from softphone.sip.config import AudioConfig, EngineConfig
        from softphone.sip.endpoint import pjsip_version
        from softphone.sip.engine import SipEngine

        if self.app is None:
            from PySide6.QtCore import QCoreApplication

            self.app = QCoreApplication.instance() or QCoreApplication([APP_NAME])
        began = time.monotonic()
        engine = SipEngine(EngineConfig(bind_address="127.0.0.1", sip_port=0,
                                        audio=AudioConfig(use_soundcard=False)))
        with _stdout_to_stderr():
            # PJSIP prints its first lines with printf before its log goes
            # through Python logging; keep them out of the report on stdout.
            engine.start()
        try:
            port = engine.endpoint.sip_port
            uri = engine.local_uri
            mode = engine.audio_mode
        finally:
            engine.shutdown()
        if not port:
            return "FAIL", "no SIP transport port"
        elapsed = (time.monotonic() - began) * 1000
        return "OK", (f"PJSIP {pjsip_version()}, transport 127.0.0.1:{port}, {uri}, "
                      f"audio {mode}, start+stop {elapsed:.0f} ms")

    def check_keyring(self) -> tuple[Status, str]:
        import keyring
        from keyring.backends import fail

        backend: Any = keyring.get_keyring()
        name = _backend_name(backend)
        chained = getattr(backend, "backends", None)
        if chained:
            name += " [" + ", ".join(_backend_name(b) for b in chained) + "]"
        if isinstance(backend, fail.Keyring) or (chained is not None and not chained):
            return "WARN", (f"no keyring backend ({name}): passwords are kept for the "
                            "session only")
        # The same rule the app applies to passwords: a plaintext-file or null
        # backend is refused, so passwords would be session-only.
        from softphone.config.passwords import PasswordStore

        if not PasswordStore().keyring_usable:
            return "WARN", (f"{name} is not a secure keyring: passwords are kept for the "
                            "session only")
        return "OK", name

    def check_audio(self) -> tuple[Status, str]:
        try:
            sounddevice = _import_sounddevice()
        except OSError as exc:  # sounddevice raises OSError when libportaudio is missing
            # An installed app ships PortAudio (the wheels bundle it; the .deb depends
            # on libportaudio2): missing there, the install is broken, not the machine.
            status: Status = "FAIL" if _frozen() else "WARN"
            return status, f"PortAudio not loaded ({exc}): calls use the null audio device"
        devices = sounddevice.query_devices()
        inputs = sum(1 for d in devices if d["max_input_channels"] > 0)
        outputs = sum(1 for d in devices if d["max_output_channels"] > 0)
        version = sounddevice.get_portaudio_version()[1]
        return "OK", f"{version}; {len(devices)} devices ({inputs} in, {outputs} out)"

    def check_provisioning(self) -> tuple[Status, str]:
        # Reported exactly as `softphone provisioning check` would see it; an
        # invalid or missing file is IT's configuration, not a broken install.
        from softphone.config.errors import ConfigError, ConfigUnreadableError
        from softphone.config.loader import load_provisioning
        from softphone.config.paths import is_url, resolve_provisioning, system_config_dir

        source, problem = resolve_provisioning(None)
        if problem:
            return "WARN", problem
        if source is None:
            return "OK", f"none (no provisioning in {system_config_dir()}); built-in defaults"
        if is_url(source):
            # Not fetched: the self-test must not depend on the network.
            return "OK", f"URL {source} (fetched by the app at start)"
        try:
            load_provisioning(source)
        except ConfigUnreadableError as exc:
            return "WARN", f"{exc}"
        except ConfigError as exc:
            first = exc.issues[0] if exc.issues else "invalid"
            return "WARN", f"{source}: INVALID ({len(exc.issues)} problems; first: {first})"
        return "OK", f"{source}: valid"


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no usable fd 1 (a GUI-subsystem process on Windows)
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _platform_plugin_found(platform: str) -> bool:
    from PySide6.QtCore import QLibraryInfo

    dirs = [os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", "")]
    dirs += [str(Path(p) / "platforms")
             for p in os.environ.get("QT_PLUGIN_PATH", "").split(os.pathsep) if p]
    dirs.append(str(Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"))
    return any(any(Path(d).glob(f"*q{platform}.*")) for d in dirs if d)


def _import_sounddevice() -> Any:
    import sounddevice

    return sounddevice


def _frozen() -> bool:
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def _bundle_dir() -> str:
    return str(getattr(sys, "_MEIPASS", ""))


def _backend_name(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def run_self_test(out: TextIO | None = None) -> int:
    """Run every check, print the report; returns 0 when nothing FAILed."""
    if not logging.getLogger().handlers:
        # PJSIP and the engine log through Python logging; keep the report
        # readable and send only real problems to stderr.
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                            format="%(levelname)s %(name)s: %(message)s")
    return SelfTest().run(out or sys.stdout)
