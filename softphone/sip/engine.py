"""The SIP engine facade: one object the UI, headless mode and the API drive.

Life cycle: :meth:`SipEngine.start` creates the PJSIP endpoint on the calling
(Qt main) thread; :meth:`SipEngine.shutdown` takes it down in the one safe
order: hang up, pump until every call is DISCONNECTED, drop every call and
account reference, collect, remove custom media ports, ``libDestroy``.
"""

from __future__ import annotations

import gc
import logging
import time
from pathlib import Path

import pjsua2 as pj
from PySide6.QtCore import QObject, QTimer, Signal

from softphone.core.calls import CallDirection, CallState
from softphone.core.directory import Directory
from softphone.core.errors import InvalidParamsError, SipError, StartupError
from softphone.core.ids import IdFactory
from softphone.sip.accounts import AccountManager
from softphone.sip.agent import AgentService
from softphone.sip.audio.ringer import Ringer
from softphone.sip.audio.soundcard import SoundCardBridge, SoundCardUnavailable
from softphone.sip.calls import CallManager
from softphone.sip.conference import ConferenceManager
from softphone.sip.config import EngineConfig
from softphone.sip.endpoint import Endpoint, pjsip_version
from softphone.sip.media import AudioRouter
from softphone.sip.presence import PresenceService
from softphone.sip.pump import EventPump
from softphone.sip.transfers import TransferManager, TransferPolicy

log = logging.getLogger("softphone.sip")

SHUTDOWN_PUMP_S = 3.0
# How often a lost headset is noticed and the default device retried.
SOUNDCARD_CHECK_MS = 2000


class SipEngine(QObject):
    """Everything SIP: endpoint, transports, accounts, calls and audio.

    Signals:
        started(): the endpoint is up and the local account exists.
        stopped(): shutdown finished; no pjsua2 object is left.

    Attributes:
        accounts: the :class:`AccountManager` (registration signals live there).
        calls: the :class:`CallManager` (call signals live there).
        audio_mode: ``soundcard``, ``file`` or ``null`` (where the microphone comes from).
    """

    started = Signal()
    stopped = Signal()

    def __init__(self, config: EngineConfig, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.ids = IdFactory()
        self.endpoint = Endpoint(config)
        self.router = AudioRouter()
        self.accounts = AccountManager(self.endpoint, self.ids, self)
        self.calls = CallManager(self.accounts, self.router, self.ids, config.auto_hold, self)
        agent_cfg = config.agent
        self.calls.header_prefix = agent_cfg.header_prefix
        self.directory = Directory()
        self.agent = AgentService(
            self.calls, self.accounts, wrap_up_seconds=agent_cfg.wrap_up_seconds,
            wrap_up_returns_to=agent_cfg.wrap_up_returns_to,
            reasons=agent_cfg.not_ready_reasons, max_queue_seconds=agent_cfg.max_queue_seconds,
            parent=self)
        self.presence = PresenceService(self.accounts, self.directory, self)
        self.transfers = TransferManager(
            self.calls, self.accounts, self.agent, self.directory, self.ids,
            TransferPolicy(enabled=agent_cfg.session_transfer,
                           external_allowed=agent_cfg.external_transfer_allowed,
                           allowed_domains=list(agent_cfg.allowed_transfer_domains),
                           consult_timeout_s=agent_cfg.consult_timeout_s),
            self)
        self.presence.agent_changed.connect(self.transfers.agent_presence_changed)
        self.conference = ConferenceManager(self.calls, self.transfers, self.agent, self.ids,
                                            agent_cfg.four_way_conference, self)
        self.pump = EventPump(self.endpoint.handle_events, self._busy, self)
        self.endpoint.ep.on_transport_lost = self.accounts.transport_lost
        self.audio_mode = "null"
        self._player: pj.AudioMediaPlayer | None = None
        self._recorder: pj.AudioMediaRecorder | None = None
        self._session_recorder: pj.AudioMediaRecorder | None = None
        self._session_path = Path()
        self._soundcard: SoundCardBridge | None = None
        self._ringer: Ringer | None = None
        self._soundcard_timer = QTimer(self)
        self._soundcard_timer.timeout.connect(self._check_soundcard)
        self._running = False
        for signal in (self.calls.call_changed, self.accounts.registration_changed):
            signal.connect(lambda *_: self.pump.kick())
        # Every presented call also emits call_changed: one hook covers ringing.
        self.calls.call_changed.connect(lambda _snap: self._update_ringer())

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> None:
        """Start PJSIP; raises :class:`StartupError` with a clear message."""
        try:
            self.endpoint.start()
            self._setup_audio()
            self.accounts.add_local(self.config.local_user)
        except pj.Error as exc:
            self.endpoint.destroy(network=False)
            raise StartupError(f"SIP engine failed to start: {exc.reason}") from exc
        except StartupError:
            self._teardown_audio()
            self.endpoint.destroy(network=False)
            raise
        self._running = True
        self.agent.publish()
        self.pump.start()
        log.info("SIP engine started on %s:%s (audio: %s)", self.config.bind_address,
                 self.endpoint.sip_port, self.audio_mode)
        self.started.emit()

    @property
    def running(self) -> bool:
        return self._running

    @property
    def local_uri(self) -> str:
        return next(i.uri for i in self.accounts.infos() if i.is_local)

    def shutdown(self) -> None:
        """Hang up, wait for disconnection, release everything, destroy PJSIP."""
        if not self._running:
            return
        self._running = False
        self.pump.stop()
        self._soundcard_timer.stop()
        if self._ringer is not None:
            self._ringer.stop()
        self.calls.hangup_all()
        deadline = time.monotonic() + SHUTDOWN_PUMP_S
        while not self.calls.all_disconnected() and time.monotonic() < deadline:
            self.endpoint.handle_events()
            time.sleep(0.005)
        if not self.calls.all_disconnected():
            log.warning("some calls did not confirm their hangup in %.0f s", SHUTDOWN_PUMP_S)
        self.calls.drop_all()
        self.presence.clear()
        # Un-REGISTER and wait (bounded) for the answers before tearing down.
        if self.accounts.unregister_all():
            deadline = time.monotonic() + 1.0
            while self.accounts.has_registered() and time.monotonic() < deadline:
                if self.endpoint.handle_events() == 0:
                    time.sleep(0.005)
        self.accounts.shutdown()
        self._teardown_audio()
        gc.collect()
        self.endpoint.destroy(network=False)
        log.info("SIP engine stopped")
        self.stopped.emit()

    def _busy(self) -> bool:
        return self.calls.count() > 0

    # -- audio --------------------------------------------------------------------

    def _setup_audio(self) -> None:
        audio = self.config.audio
        if audio.input_file is not None:
            self._player = pj.AudioMediaPlayer()
            try:
                self._player.createPlayer(str(audio.input_file), 0)
            except pj.Error as exc:
                self._player = None
                raise StartupError(
                    f"cannot play {audio.input_file} as microphone: {exc.reason}"
                ) from exc
            self.router.source = self._player
        if audio.output_file is not None:
            self._recorder = self._create_recorder(audio.output_file)
            self.router.sinks.append(self._recorder)
        needs_device = audio.input_file is None or audio.output_file is None
        if audio.use_soundcard and needs_device:
            bridge = SoundCardBridge(audio.capture_device, audio.playback_device)
            try:
                bridge.open()
            except SoundCardUnavailable as exc:
                log.info("no sound device (%s): running on the null audio device", exc)
            else:
                self._soundcard = bridge
                self._soundcard_timer.start(SOUNDCARD_CHECK_MS)
                self._ringer = Ringer(audio.ringer_device or audio.playback_device)
                if self.router.source is None:
                    self.router.source = bridge.media
                if audio.output_file is None:
                    self.router.sinks.append(bridge.media)
        if self._soundcard is not None:
            self.audio_mode = "soundcard"
        elif self._player is not None or self._recorder is not None:
            self.audio_mode = "file"
        else:
            self.audio_mode = "null"
            if audio.use_soundcard is False:
                log.info("sound devices disabled: running on the null audio device")
            # Calls are linked to the null device as they would be to a
            # headset: a connection is what keeps the bridge's clock running
            # during a call (pjsua stops it when nothing is connected), and
            # without the clock a call sends no RTP and no RFC 4733 DTMF.
            manager = self.endpoint.ep.audDevManager()
            self.router.source = manager.getCaptureDevMedia()
            self.router.sinks.append(manager.getPlaybackDevMedia())

    def _check_soundcard(self) -> None:
        # Runs on the Qt thread: reopening the device touches PortAudio and
        # PJSIP, never from the audio callbacks.
        if self._soundcard is not None:
            try:
                self._soundcard.check()
            except Exception:
                log.exception("sound card check failed")

    def _update_ringer(self) -> None:
        if self._ringer is None:
            return
        ringing = any(
            r.direction == CallDirection.INBOUND and not r.queued and r.live
            and r.state in (CallState.INCOMING, CallState.EARLY)
            for r in self.calls.records()
        )
        if ringing:
            self._ringer.start()
        else:
            self._ringer.stop()

    def _create_recorder(self, path: Path) -> pj.AudioMediaRecorder:
        if path.suffix.lower() != ".wav":
            raise StartupError(f"recordings are WAV files; {path} does not end in .wav")
        recorder = pj.AudioMediaRecorder()
        try:
            recorder.createRecorder(str(path))
        except pj.Error as exc:
            raise StartupError(f"cannot record to {path}: {exc.reason}") from exc
        # The bridge only writes to a port that something transmits to: feed the
        # null device's silence too, so a recording covers real time even while
        # the agent hears nothing (on hold, between calls).
        silence = self.endpoint.ep.audDevManager().getCaptureDevMedia()
        silence.startTransmit(recorder)
        return recorder

    def start_recording(self, path: Path) -> None:
        """Record what the agent hears into ``path`` (closing an earlier one)."""
        self.stop_recording()
        try:
            recorder = self._create_recorder(path)
        except StartupError as exc:
            raise InvalidParamsError(str(exc)) from exc
        self._session_recorder = recorder
        self._session_path = path
        self.router.sinks.append(recorder)
        self.calls.rebuild_audio()

    def stop_recording(self) -> bool:
        recorder = self._session_recorder
        if recorder is None:
            return False
        self.router.detach_sink(recorder, self.calls.records())
        self._session_recorder = None
        del recorder
        gc.collect()
        _wait_wav_finalised(self._session_path)
        return True

    def _teardown_audio(self) -> None:
        self.stop_recording()
        self.router.source = None
        self.router.sinks.clear()
        self._player = None
        self._recorder = None
        self._ringer = None
        if self._soundcard is not None:
            try:
                self._soundcard.close()
            except Exception:
                log.exception("closing the sound card failed")
            self._soundcard = None
        gc.collect()

    # -- conveniences for the API and UI -----------------------------------------

    def status(self) -> dict[str, object]:
        return {
            "running": self._running,
            "sip_port": self.endpoint.sip_port,
            "bind_address": self.config.bind_address,
            "local_uri": self.local_uri if self._running else None,
            "audio_mode": self.audio_mode,
            "accounts": [i.to_json() for i in self.accounts.infos()],
            "calls": [c.to_json() for c in self.calls.snapshots()],
            "pjsip_version": pjsip_version(),
        }

    def set_directory(self, directory: Directory) -> None:
        """Use ``directory`` for transfers and watch its agents' presence."""
        self.directory = directory
        self.transfers.directory = directory
        self.presence.watch(directory)
        self.pump.kick()

    def require_running(self) -> None:
        if not self._running:
            raise SipError("the SIP engine is not running")


def _wait_wav_finalised(path: Path, timeout: float = 1.0) -> None:
    """Wait until PJSIP has written the final WAV header.

    Since PJSIP 2.13 the bridge removes ports on its clock thread, so the
    recorder is destroyed (and its header patched) up to a tick after we drop
    it; a caller told "stopped" must be able to read a complete file.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with path.open("rb") as fh:
                header = fh.read(8)
                size = path.stat().st_size
        except OSError:
            return
        if len(header) == 8 and int.from_bytes(header[4:8], "little") == size - 8:
            return
        time.sleep(0.005)
    log.warning("recording %s was not finalised in %.1f s", path, timeout)
